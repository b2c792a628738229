"""One vocabulary for statuses, roles and stages, shared by models, services and templates."""

from __future__ import annotations

from typing import Final

# --- staff -----------------------------------------------------------------------------
ROLE_ADMIN: Final = "admin"
ROLE_PRESCRIBER: Final = "prescriber"
ROLE_CLINICIAN: Final = "clinician"
# Someone at an onward service: only the referrals to their own services (SPEC §13).
ROLE_PARTNER: Final = "partner"
ROLES: Final = (ROLE_ADMIN, ROLE_PRESCRIBER, ROLE_CLINICIAN, ROLE_PARTNER)
# The trust's single sign-on grants its own staff's roles; a partner works elsewhere, and
# their account comes with their services (`create-user --role partner --service`).
SSO_ROLES: Final = (ROLE_ADMIN, ROLE_PRESCRIBER, ROLE_CLINICIAN)

# --- appointments (SPEC §4) ----------------------------------------------------------
APPOINTMENT_BOOKED: Final = "booked"
APPOINTMENT_CANCELLED: Final = "cancelled"
APPOINTMENT_ATTENDED: Final = "attended"
APPOINTMENT_DNA: Final = "dna"
APPOINTMENT_DECEASED: Final = "deceased"
APPOINTMENT_STATUSES: Final = (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_ATTENDED,
    APPOINTMENT_DNA,
    APPOINTMENT_DECEASED,
)

# --- screening episodes (DESIGN: states) ---------------------------------------------
EPISODE_SCHEDULED: Final = "scheduled"
EPISODE_INVITED: Final = "invited"
EPISODE_OPENED: Final = "opened"
EPISODE_STARTED: Final = "started"
EPISODE_COMPLETED: Final = "completed"
EPISODE_NEEDS_CALL: Final = "needs_call"
EPISODE_OPTED_OUT: Final = "opted_out"
EPISODE_CANCELLED: Final = "cancelled"
EPISODE_SEND_FAILED: Final = "send_failed"
EPISODE_EXPIRED: Final = "expired"
EPISODE_STATUSES: Final = (
    EPISODE_SCHEDULED,
    EPISODE_INVITED,
    EPISODE_OPENED,
    EPISODE_STARTED,
    EPISODE_COMPLETED,
    EPISODE_NEEDS_CALL,
    EPISODE_OPTED_OUT,
    EPISODE_CANCELLED,
    EPISODE_SEND_FAILED,
    EPISODE_EXPIRED,
)

# Why an episode is on the phone-call list.
NEEDS_CALL_NO_MOBILE: Final = "no_mobile"
NEEDS_CALL_UNDER_AGE: Final = "under_sms_age"
NEEDS_CALL_DOB_LOCKED: Final = "dob_locked"
NEEDS_CALL_CHOSEN: Final = "chosen"
NEEDS_CALL_SEND_FAILED: Final = "send_failed"

# Completion modes (SPEC §7).
MODE_SMS: Final = "sms"
MODE_ASSISTED_IN_PERSON: Final = "assisted_in_person"
MODE_ASSISTED_PHONE: Final = "assisted_phone"
MODES: Final = (MODE_SMS, MODE_ASSISTED_IN_PERSON, MODE_ASSISTED_PHONE)

# --- flags and triage tasks (SPEC §3, §5) --------------------------------------------
PRIORITY_URGENT: Final = "urgent"
PRIORITY_HIGH: Final = "high"
PRIORITY_ROUTINE: Final = "routine"
PRIORITIES: Final = (PRIORITY_URGENT, PRIORITY_HIGH, PRIORITY_ROUTINE)
# Higher is more pressing; the task takes the highest of its flags.
PRIORITY_RANK: Final = {PRIORITY_ROUTINE: 0, PRIORITY_HIGH: 1, PRIORITY_URGENT: 2}

TASK_OPEN: Final = "open"
TASK_ASSIGNED: Final = "assigned"
TASK_DECLINED: Final = "declined"
TASK_CLOSED: Final = "closed"
TASK_STATUSES: Final = (TASK_OPEN, TASK_ASSIGNED, TASK_DECLINED, TASK_CLOSED)
ACTIVE_TASK_STATUSES: Final = frozenset({TASK_OPEN, TASK_ASSIGNED})
# A prescriber may still claim a declined task (SPEC §10); a closed one is reopened instead.
CLAIMABLE_TASK_STATUSES: Final = frozenset({TASK_OPEN, TASK_ASSIGNED, TASK_DECLINED})

CONTACT_REACHED: Final = "reached"
CONTACT_NO_ANSWER: Final = "no_answer"
CONTACT_VOICEMAIL: Final = "voicemail"
CONTACT_WRONG_NUMBER: Final = "wrong_number"
CONTACT_DECLINED: Final = "declined_help"
CONTACT_OUTCOMES: Final = (
    CONTACT_REACHED,
    CONTACT_NO_ANSWER,
    CONTACT_VOICEMAIL,
    CONTACT_WRONG_NUMBER,
    CONTACT_DECLINED,
)
# The patient was reached: the funnel's `contacted` (SPEC §7).
REACHED_OUTCOMES: Final = frozenset({CONTACT_REACHED, CONTACT_DECLINED})

CONTACT_METHODS: Final = ("phone", "in_person", "sms", "letter", "video")

REFERRAL_MADE: Final = "made"
REFERRAL_ACCEPTED: Final = "accepted"
REFERRAL_DECLINED: Final = "declined"
REFERRAL_COMPLETED: Final = "completed"
REFERRAL_STATUSES: Final = (
    REFERRAL_MADE,
    REFERRAL_ACCEPTED,
    REFERRAL_DECLINED,
    REFERRAL_COMPLETED,
)
# made → accepted | declined; accepted → completed. Declined and completed are final.
REFERRAL_NEXT: Final = {
    REFERRAL_MADE: frozenset({REFERRAL_ACCEPTED, REFERRAL_DECLINED}),
    REFERRAL_ACCEPTED: frozenset({REFERRAL_COMPLETED, REFERRAL_DECLINED}),
    REFERRAL_DECLINED: frozenset(),
    REFERRAL_COMPLETED: frozenset(),
}
# Why a service declined, and what came of a completed referral (SPEC §13).
DECLINE_REASONS: Final = (
    "no_capacity",
    "not_eligible",
    "patient_declined",
    "unable_to_contact",
    "other",
)
REFERRAL_HELPED: Final = "helped"
REFERRAL_PARTLY_HELPED: Final = "partly_helped"
REFERRAL_NOT_HELPED: Final = "not_helped"
REFERRAL_OUTCOMES: Final = (REFERRAL_HELPED, REFERRAL_PARTLY_HELPED, REFERRAL_NOT_HELPED)
# The service says the patient got help: the funnel's `helped` (SPEC §7).
HELPED_OUTCOMES: Final = frozenset({REFERRAL_HELPED, REFERRAL_PARTLY_HELPED})
# A partner still sees a referral this long after it was completed or declined.
PARTNER_SEES_ENDED_DAYS: Final = 90
SERVICE_OTHER: Final = "other"
SERVICE_KIND_PCN: Final = "pcn"

OUTCOME_SUPPORT_ARRANGED: Final = "support_arranged"
OUTCOME_REFERRED: Final = "referred"
OUTCOME_DECLINED: Final = "declined"
OUTCOME_UNABLE_TO_CONTACT: Final = "unable_to_contact"
OUTCOME_NOT_NEEDED: Final = "not_needed"
TASK_OUTCOMES: Final = (
    OUTCOME_SUPPORT_ARRANGED,
    OUTCOME_REFERRED,
    OUTCOME_DECLINED,
    OUTCOME_UNABLE_TO_CONTACT,
    OUTCOME_NOT_NEEDED,
)

# --- outbox (DESIGN: Message states) -------------------------------------------------
MESSAGE_INVITE: Final = "invite"
MESSAGE_REMINDER: Final = "reminder"
# After a task closes as unable to contact, when `unable_to_contact_sms` is set (SPEC §10).
MESSAGE_UNABLE_TO_CONTACT: Final = "unable_to_contact"
MESSAGE_KINDS: Final = (MESSAGE_INVITE, MESSAGE_REMINDER, MESSAGE_UNABLE_TO_CONTACT)
# Messages that are not about an appointment are valid at the provider for a day (SPEC §11).
DAY_VALIDITY_SECONDS: Final = 24 * 60 * 60

MESSAGE_PENDING: Final = "pending"
MESSAGE_CLAIMED: Final = "claimed"
MESSAGE_SENT: Final = "sent"
MESSAGE_DELIVERED: Final = "delivered"
MESSAGE_UNDELIVERED: Final = "undelivered"
MESSAGE_FAILED: Final = "failed"
MESSAGE_CANCELLED: Final = "cancelled"
MESSAGE_PERMANENT_FAILURE: Final = "permanent_failure"
MESSAGE_STATUSES: Final = (
    MESSAGE_PENDING,
    MESSAGE_CLAIMED,
    MESSAGE_SENT,
    MESSAGE_DELIVERED,
    MESSAGE_UNDELIVERED,
    MESSAGE_FAILED,
    MESSAGE_CANCELLED,
    MESSAGE_PERMANENT_FAILURE,
)
# Still to go to the provider: a patient about to be texted is a patient still in contact.
UNSENT_MESSAGE_STATUSES: Final = frozenset({MESSAGE_PENDING, MESSAGE_CLAIMED})
# A final status never moves back: the first one recorded wins.
FINAL_MESSAGE_STATUSES: Final = frozenset(
    {
        MESSAGE_DELIVERED,
        MESSAGE_UNDELIVERED,
        MESSAGE_FAILED,
        MESSAGE_CANCELLED,
        MESSAGE_PERMANENT_FAILURE,
    }
)

# The mail outbox (SPEC §10, §13): pending → sending → sent, back to pending to retry.
MAIL_URGENT_ALERT: Final = "urgent_alert"
MAIL_REFERRAL_NOTICE: Final = "referral_notice"
MAIL_REFERRAL_REMINDER: Final = "referral_reminder"
MAIL_GP_LETTER: Final = "gp_letter"
MAIL_KINDS: Final = (
    MAIL_URGENT_ALERT,
    MAIL_REFERRAL_NOTICE,
    MAIL_REFERRAL_REMINDER,
    MAIL_GP_LETTER,
)
MAIL_PENDING: Final = "pending"
MAIL_SENDING: Final = "sending"
MAIL_SENT: Final = "sent"
MAIL_STATUSES: Final = (MAIL_PENDING, MAIL_SENDING, MAIL_SENT)
# Not sent yet: a condition an index of statuses serves, as "not sent" would not.
UNSENT_MAIL_STATUSES: Final = (MAIL_PENDING, MAIL_SENDING)

OPT_OUT_REPLY: Final = "reply"
OPT_OUT_PROVIDER: Final = "provider"
OPT_OUT_WEB: Final = "web"
OPT_OUT_STAFF: Final = "staff"

# --- funnel (SPEC §7), in order ------------------------------------------------------
FUNNEL_STAGES: Final = (
    "invited",
    "delivered",
    "engaged",
    "completed",
    "flagged",
    "wants_help",
    "contacted",
    "referred",
    "helped",
)
# Where patients stop (SPEC §7 `dropoff`): before the first question, and at "check your
# answers"; between them, a question's item id.
PAGE_START: Final = "start"
PAGE_CHECK: Final = "check"

# --- audit ---------------------------------------------------------------------------
AUDIT_LOGIN: Final = "login"
AUDIT_LOGIN_FAILED: Final = "login_failed"
AUDIT_LOGIN_LOCKED: Final = "login_locked"
AUDIT_LOGOUT: Final = "logout"
AUDIT_SESSION_TIMEOUT: Final = "session_timeout"
AUDIT_USER_CREATED: Final = "user_created"
AUDIT_USER_ROLE_CHANGED: Final = "user_role_changed"
AUDIT_USER_DISABLED: Final = "user_disabled"
AUDIT_USER_ENABLED: Final = "user_enabled"
AUDIT_USER_PASSWORD_RESET: Final = "user_password_reset"
AUDIT_USER_SSO_LINKED: Final = "user_sso_linked"
AUDIT_USER_RENAMED: Final = "user_renamed"
AUDIT_VIEW_AUDIT: Final = "view_audit"
AUDIT_VIEW_PATIENT: Final = "view_patient"
# Task actions (SPEC §8): each is an audit event on the task, and the task's timeline.
AUDIT_TASK_CLAIMED: Final = "task_claimed"
AUDIT_TASK_ASSIGNED: Final = "task_assigned"
AUDIT_TASK_CONTACT: Final = "task_contact"
AUDIT_TASK_SESSION: Final = "task_session"
AUDIT_TASK_REFERRAL: Final = "task_referral"
AUDIT_TASK_REFERRAL_UPDATED: Final = "task_referral_updated"
AUDIT_TASK_NOTE: Final = "task_note"
AUDIT_TASK_CLOSED: Final = "task_closed"
AUDIT_TASK_REOPENED: Final = "task_reopened"
AUDIT_TASK_FOLLOW_UP: Final = "task_follow_up"
AUDIT_TASK_LETTER: Final = "task_letter"
# A partner opening a referral (SPEC §13): a view of the patient's details.
AUDIT_VIEW_REFERRAL: Final = "view_referral"
AUDIT_EPISODE_CALL: Final = "episode_call"
AUDIT_ASSISTED_START: Final = "assisted_start"
# The funnel report: counts only, but who looked at or downloaded which figures is kept.
AUDIT_VIEW_REPORT: Final = "view_report"
AUDIT_EXPORT_REPORT: Final = "export_report"
# Data protection (SPEC §5): a retention purge and a subject-access request, each by command.
AUDIT_PURGE: Final = "purge"
AUDIT_SUBJECT_ACCESS: Final = "subject_access"
AUDIT_EXPORT_FHIR: Final = "export_fhir"
SUBJECT_TASK: Final = "task"
SUBJECT_EPISODE: Final = "episode"
SUBJECT_REFERRAL: Final = "referral"
