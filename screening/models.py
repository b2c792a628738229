"""The pathway as data (see DESIGN: one patient through the system).

Patient-identifiable fields (name, NHS number, date of birth, mobile, postcode) live on
`Patient` and nowhere else: episodes, responses, flags and tasks carry keys, timestamps
and coded facts only, so a retention purge can blank a patient and keep every count.
Every other table refers to a patient only through `patient_id`.
"""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import clock
from . import constants as c
from .db import Base, UTCDateTime


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


# The timestamps that mark the funnel's stages (SPEC §7), in the order of FUNNEL_STAGES.
FUNNEL_STAGE_COLUMNS = (
    "invited_at",
    "delivered_at",
    "opened_at",
    "completed_at",
    "flagged_at",
    "wants_help_at",
    "contacted_at",
    "referred_at",
)
assert len(FUNNEL_STAGE_COLUMNS) == len(c.FUNNEL_STAGES)

# The funnel's breakdowns of the cohort: clinic, questionnaire and completion mode
# together (the totals fold from them), then each patient group of the episode's snapshot.
FUNNEL_BREAKDOWNS = {
    "cohort": ("clinic_code", "questionnaire_id", "mode"),
    "age_band": ("age_band",),
    "sex": ("sex",),
    "ethnicity": ("ethnicity",),
    "language": ("language",),
    "imd_decile": ("imd_decile",),
}

# Screening episodes: follow-up questionnaires (SPEC §11) are not in the funnel.
SCREENING_EPISODE = "follow_up_task_id IS NULL"


def _stages_reached() -> str:
    """Bit i is set when the episode has reached FUNNEL_STAGES[i].

    One small integer that an index can carry beside a breakdown's columns, so the funnel
    reads each breakdown from an index alone, already in its GROUP BY order: without it
    SQLite sorts a million wide rows per breakdown.
    """
    return " + ".join(
        f"(CASE WHEN {name} IS NOT NULL THEN {1 << bit} ELSE 0 END)"
        for bit, name in enumerate(FUNNEL_STAGE_COLUMNS)
    )


def sqlite_day_key(column: str) -> str:
    """SQLite's key of the London day of a stored UTC time (see reports.queries._day_key):
    the UTC date, marked `+` in the 23:00 UTC hour. The same text in an index and a query
    is how SQLite knows the index serves the query."""
    return (
        f"substr({column}, 1, 10) || CASE WHEN substr({column}, 12, 2) = '23' THEN '+' ELSE '' END"
    )


# The report's clinic and questionnaire filters, at the end of each of its indexes: a report
# of one clinic reads the same index, only fewer of its entries count. Not the appointment's
# time: the import writes episodes in the list's order, and a time inside each key would
# scatter every new entry across the index (SQLite imported 1,934 rows/s with it, against
# 4,575 without, the same day); within equal keys the entries run in the order written.
FUNNEL_FILTERS = ("clinic_code", "questionnaire_id")


def _funnel_index(
    name: str, *keys: Any, where: str = SCREENING_EPISODE, counts: tuple[str, ...] = ()
) -> Index:
    """A covering index of screening episodes for one of the funnel's grouped passes: its
    group keys, then what it counts (the stages reached, unless given), then the filters."""
    named = {key for key in keys if isinstance(key, str)}
    trailing = [f for f in FUNNEL_FILTERS if f not in named]
    return Index(
        f"ix_episodes_funnel_{name}",
        *keys,
        *(counts or ("stages_reached",)),
        *trailing,
        sqlite_where=sql_text(where),
        postgresql_where=sql_text(where),
    )


def _funnel_indexes() -> tuple[Index, ...]:
    invited = f"{SCREENING_EPISODE} AND invited_at IS NOT NULL"
    contacted = f"{SCREENING_EPISODE} AND contacted_at IS NOT NULL"
    return (
        _funnel_index("totals"),
        *(_funnel_index(name, *keys) for name, keys in FUNNEL_BREAKDOWNS.items()),
        # The wait from completion to first contact, of those contacted.
        _funnel_index("contacted", where=contacted, counts=("completed_at", "contacted_at")),
        # The weekly trend groups by the day of invitation: SQLite by an expression it can
        # index, PostgreSQL (whose London day needs a time zone, which an index cannot
        # hold) hashing the days of an index of the times.
        _funnel_index("invited_day", sql_text(sqlite_day_key("invited_at")), where=invited).ddl_if(
            dialect="sqlite"
        ),
        _funnel_index("invited", "invited_at", where=invited).ddl_if(dialect="postgresql"),
    )


def _public_id() -> str:
    """30 characters: the creation second in 8 hex digits, then 128 random bits (base64url).

    The random part keeps it unguessable, so the link token made from it carries the 128
    bits SPEC §8 asks for; the leading time makes new ids sort last, so their unique index
    grows at one edge. Wholly random ids landed on pages all over the index, each a page
    to write: importing 300,000 appointments took a fifth longer.
    """
    return f"{int(time.time()):08x}{secrets.token_urlsafe(16)}"


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


# --- who ---------------------------------------------------------------------------------


class Patient(Timestamped, Base):
    """The only table with identifiable data; the latest appointment row updates it."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    nhs_number: Mapped[str | None] = mapped_column(String(10), unique=True)
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    mobile: Mapped[str | None] = mapped_column(String(20))  # E.164
    # Another number to call (E.164): the list's `phone`, or a landline given as `mobile`.
    phone: Mapped[str | None] = mapped_column(String(20))
    postcode: Mapped[str | None] = mapped_column(String(10))
    sex: Mapped[str | None] = mapped_column(String(40))
    ethnicity: Mapped[str | None] = mapped_column(String(80))
    language: Mapped[str | None] = mapped_column(String(12))
    imd_decile: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Set when a retention purge blanked the identifiable fields above.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    appointments: Mapped[list[Appointment]] = relationship(back_populates="patient")
    episodes: Mapped[list[Episode]] = relationship(back_populates="patient")

    __table_args__ = (CheckConstraint("imd_decile BETWEEN 1 AND 10", name="imd_decile_range"),)


class StaffUser(Timestamped, Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Per-account throttling (SPEC §9): consecutive failures and a short lock.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session's identity: bumped when the account is disabled or its password
    # reset, which ends every session signed in before.
    session_generation: Mapped[int] = mapped_column(Integer, default=1)
    # "{issuer}|{sub}": who this account is at the trust's identity provider, once it has
    # signed in through it (single sign-on). The email may change there; this does not.
    sso_subject: Mapped[str | None] = mapped_column(String(400), unique=True)

    __table_args__ = (CheckConstraint(_in("role", c.ROLES), name="role_known"),)


# --- where and when ------------------------------------------------------------------------


class Clinic(Base):
    """A copy of `config/clinics.yaml`, kept so reports still name retired clinics."""

    __tablename__ = "clinics"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hospital: Mapped[str] = mapped_column(String(200))
    questionnaire_id: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Appointment(Timestamped, Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The CSV's `appointment_id`: re-imports are idempotent on it.
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    clinic_code: Mapped[str] = mapped_column(ForeignKey("clinics.code"))
    appointment_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=c.APPOINTMENT_BOOKED)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # The episode this appointment belongs to: the one it created, or the one it attached
    # to inside the re-screen window. (use_alter: episodes also point back at appointments.)
    episode_id: Mapped[int | None] = mapped_column(
        ForeignKey("episodes.id", use_alter=True), index=True
    )

    patient: Mapped[Patient] = relationship(back_populates="appointments")
    episode: Mapped[Episode | None] = relationship(foreign_keys=[episode_id], post_update=True)

    __table_args__ = (
        CheckConstraint(_in("status", c.APPOINTMENT_STATUSES), name="status_known"),
        Index("ix_appointments_clinic_at", "clinic_code", "appointment_at"),
        # The to-call list and the clinic day read appointments by time across clinics.
        Index("ix_appointments_at", "appointment_at"),
    )


# --- the screening episode -----------------------------------------------------------------


class Episode(Timestamped, Base):
    """One patient × questionnaire × re-screen window (SPEC §6).

    One timestamp per funnel stage, so the funnel is a single pass of conditional counts.
    The patient-group columns are a snapshot taken at creation (coded, not identifying) so
    the equity breakdowns survive a purge of the patient row.
    """

    __tablename__ = "episodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random and never shown: the link token is derived from it (HMAC with the secret key).
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    # Indexed by ix_episodes_patient_questionnaire, which leads with it: an index of its own
    # would serve no query that one does not, and cost every new episode another insert.
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    clinic_code: Mapped[str | None] = mapped_column(ForeignKey("clinics.code"))
    # The owning appointment's time, copied (and kept) so the funnel filters its dates from
    # the episode's own index instead of joining a million appointments.
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    questionnaire_id: Mapped[str] = mapped_column(String(100))
    # Fixed when the patient starts, so a new version never changes a half-done form.
    questionnaire_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=c.EPISODE_SCHEDULED)
    mode: Mapped[str] = mapped_column(String(24), default=c.MODE_SMS)
    needs_call_reason: Mapped[str | None] = mapped_column(String(24))
    window_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The link: only a SHA-256 of the token is stored (SPEC §8).
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dob_failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str | None] = mapped_column(String(12))
    entered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    # A follow-up questionnaire (SPEC §11) scheduled from this task: no appointment, no
    # re-screen window, and not a screening episode (the funnel leaves it out).
    # Indexed for follow-ups only (ix_episodes_follow_ups): an index of every episode here
    # would tempt SQLite to read the screening episodes through it, row by row.
    follow_up_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("triage_tasks.id", use_alter=True)
    )

    # Funnel stages (SPEC §7).
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wants_help_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    referred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Side exits.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Patient group at creation, for the equity breakdowns.
    age_band: Mapped[str | None] = mapped_column(String(10))
    sex: Mapped[str | None] = mapped_column(String(40))
    ethnicity: Mapped[str | None] = mapped_column(String(80))
    imd_decile: Mapped[int | None] = mapped_column(Integer)
    # Computed by the database from the stage timestamps: never written.
    stages_reached: Mapped[int] = mapped_column(Integer, Computed(_stages_reached()))

    patient: Mapped[Patient] = relationship(back_populates="episodes")
    appointment: Mapped[Appointment | None] = relationship(foreign_keys=[appointment_id])
    answers: Mapped[list[Answer]] = relationship(back_populates="episode")
    response: Mapped[Response | None] = relationship(back_populates="episode")

    __table_args__ = (
        CheckConstraint(_in("status", c.EPISODE_STATUSES), name="status_known"),
        CheckConstraint(_in("mode", c.MODES), name="mode_known"),
        Index("ix_episodes_patient_questionnaire", "patient_id", "questionnaire_id"),
        Index(
            "ix_episodes_follow_ups",
            "follow_up_task_id",
            sqlite_where=sql_text("follow_up_task_id IS NOT NULL"),
            postgresql_where=sql_text("follow_up_task_id IS NOT NULL"),
        ),
        *_funnel_indexes(),
    )


class Answer(Base):
    """An answer as the patient gives it, saved page by page before submission."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(100))
    # A string, or a list of strings for `multi` items.
    value: Mapped[Any] = mapped_column(JSON)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    entered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    episode: Mapped[Episode] = relationship(back_populates="answers")

    __table_args__ = (
        UniqueConstraint("episode_id", "item_id"),
        # The funnel's answers pass reads episode, item and value from this alone. SQLite
        # only: PostgreSQL's json has no ordering to index, and hashes the join instead.
        Index("ix_answers_episode_value", "episode_id", "item_id", "value").ddl_if(
            dialect="sqlite"
        ),
    )


class Response(Base):
    """A submitted questionnaire. Unique per episode: resubmission is a no-op."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), unique=True)
    questionnaire_id: Mapped[str] = mapped_column(String(100))
    questionnaire_version: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(24))
    language: Mapped[str] = mapped_column(String(12))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    episode: Mapped[Episode] = relationship(back_populates="response")
    flags: Mapped[list[Flag]] = relationship(back_populates="response")

    __table_args__ = (
        Index("ix_responses_questionnaire", "questionnaire_id", "questionnaire_version"),
    )


class Flag(Base):
    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"), index=True)
    item_id: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(10))
    always_triage: Mapped[bool] = mapped_column(Boolean, default=False)

    response: Mapped[Response] = relationship(back_populates="flags")

    __table_args__ = (CheckConstraint(_in("priority", c.PRIORITIES), name="priority_known"),)


class QuestionnaireVersion(Base):
    """A frozen questionnaire version: its normalised content, as first submitted against.

    Kept so old responses stay readable and a silent edit under the same version is caught.
    """

    __tablename__ = "questionnaire_versions"

    questionnaire_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[str] = mapped_column(Text)  # canonical JSON
    content_sha256: Mapped[str] = mapped_column(String(64))
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


# --- triage --------------------------------------------------------------------------------


class TriageTask(Timestamped, Base):
    __tablename__ = "triage_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), unique=True)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id"))
    status: Mapped[str] = mapped_column(String(12), default=c.TASK_OPEN)
    priority: Mapped[str] = mapped_column(String(10), default=c.PRIORITY_ROUTINE)
    # The episode's clinic, copied when the task is made: the queue filters and counts by
    # clinic from the task's own index, without reading an episode per task.
    clinic_code: Mapped[str | None] = mapped_column(String(40))
    # Its flags' domains between spaces, in the order raised (" financial food "), copied
    # likewise: the domain filter and its counts read them from the same index.
    domains: Mapped[str | None] = mapped_column(String(400))
    assigned_to_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    outcome: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Bumped by every change of status or holder. A form carries the version it was drawn
    # from, so an action on a task a colleague has changed since is refused, not applied
    # over their change; a claim is one conditional UPDATE on it.
    version: Mapped[int] = mapped_column(Integer, default=1)

    episode: Mapped[Episode] = relationship(foreign_keys=[episode_id])
    response: Mapped[Response | None] = relationship()
    assigned_to: Mapped[StaffUser | None] = relationship(foreign_keys=[assigned_to_user_id])
    contact_attempts: Mapped[list[ContactAttempt]] = relationship(
        back_populates="task", order_by="ContactAttempt.id"
    )
    referrals: Mapped[list[Referral]] = relationship(back_populates="task", order_by="Referral.id")

    __table_args__ = (
        CheckConstraint(_in("status", c.TASK_STATUSES), name="status_known"),
        CheckConstraint(_in("priority", c.PRIORITIES), name="priority_known"),
        CheckConstraint(
            f"outcome IS NULL OR {_in('outcome', c.TASK_OUTCOMES)}", name="outcome_known"
        ),
        # Covers the queue: its order, and every filter and count but the appointment date.
        Index(
            "ix_triage_tasks_queue",
            "status",
            "priority",
            "created_at",
            "id",
            "clinic_code",
            "assigned_to_user_id",
            "domains",
        ),
        Index("ix_triage_tasks_holder", "assigned_to_user_id", "status"),
        # The funnel's tasks by outcome, in GROUP BY order.
        Index("ix_triage_tasks_outcome", "status", "outcome", "episode_id"),
    )


class ContactAttempt(Base):
    """A call, visit, text or letter to a patient: about a task, or from the to-call list
    (an episode with no task yet), so both lists share one history per episode."""

    __tablename__ = "contact_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    method: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)

    task: Mapped[TriageTask | None] = relationship(back_populates="contact_attempts")

    __table_args__ = (
        CheckConstraint(_in("outcome", c.CONTACT_OUTCOMES), name="outcome_known"),
        CheckConstraint(_in("method", c.CONTACT_METHODS), name="method_known"),
    )


class SupportSession(Base):
    """A session with the social prescriber (an outcome the Barts plan counts)."""

    __tablename__ = "support_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    minutes: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class Referral(Base):
    """An onward referral to a service in `config/services.yaml` (or `other`, named)."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    service_id: Mapped[str] = mapped_column(String(100))
    # For `other`; for a directory service, its name when referred (directories change).
    service_name: Mapped[str | None] = mapped_column(String(200))
    # A referral back to the patient's GP practice (PCN) social prescriber (SPEC §6).
    to_pcn: Mapped[bool] = mapped_column(Boolean, default=False)
    domain: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default=c.REFERRAL_MADE)
    referred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    note: Mapped[str | None] = mapped_column(Text)

    task: Mapped[TriageTask] = relationship(back_populates="referrals")

    __table_args__ = (CheckConstraint(_in("status", c.REFERRAL_STATUSES), name="status_known"),)


class TaskNote(Base):
    __tablename__ = "task_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    text: Mapped[str] = mapped_column(Text)


class AlertMail(Timestamped, Base):
    """A mail to the shared mailbox that an urgent task is waiting (SPEC §10).

    Queued in the patient's submission, sent by the worker: a mail server that is down
    never fails or slows a submission, and the alert is retried until it goes. It carries
    no patient detail, only the task's link.
    """

    __tablename__ = "alert_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=c.MAIL_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The kind of failure (an exception's class, an SMTP code): never the message text.
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(_in("status", c.MAIL_STATUSES), name="status_known"),
        Index("ix_alert_mails_status", "status", "next_attempt_at"),
    )


# --- messages ------------------------------------------------------------------------------


class OutboundMessage(Timestamped, Base):
    """The outbox: persisted first, sent from a claimed row (STYLE: Outbox like Notify's).

    The body is rendered at send time (the token is derived, never stored), and the
    recipient is read from the patient then, so a corrected mobile applies to unsent mail.
    """

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=c.MESSAGE_PENDING)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_class: Mapped[str | None] = mapped_column(String(20))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    episode: Mapped[Episode] = relationship()

    @classmethod
    def for_the_day(cls, episode_id: int, kind: str, due_at: datetime) -> OutboundMessage:
        """A text not about an appointment (a follow-up's invitation, the unable-to-contact
        text): valid at the provider for the day from when it is due (SPEC §11)."""
        return cls(
            episode_id=episode_id,
            kind=kind,
            status=c.MESSAGE_PENDING,
            due_at=due_at,
            valid_until=due_at + timedelta(seconds=c.DAY_VALIDITY_SECONDS),
        )

    __table_args__ = (
        # One invitation and one reminder per episode, whatever runs twice.
        UniqueConstraint("episode_id", "kind"),
        CheckConstraint(_in("kind", c.MESSAGE_KINDS), name="kind_known"),
        CheckConstraint(_in("status", c.MESSAGE_STATUSES), name="status_known"),
        # A claim walks the pending rows in id order and stops at its batch size. Indexed by
        # (status, next_attempt_at), every pending row was read and sorted for each claim:
        # 56 ms a claim on SQLite with 200,000 messages waiting.
        Index("ix_outbound_messages_ready", "status", "id"),
    )


class OptOut(Base):
    """Opt-outs belong to the phone number, not the patient (SPEC §6)."""

    __tablename__ = "opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    source: Mapped[str] = mapped_column(String(20))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- operations ----------------------------------------------------------------------------


class WorkerHeartbeat(Base):
    """When the worker on each host last finished a run: `/healthz` reports the newest, so
    a monitor sees texts stop going out although the web pages still answer."""

    __tablename__ = "worker_heartbeats"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SmsPace(Base):
    """When the next SMS may leave, for every worker of this database (the shared cap on
    sending, `sms_rate_per_second`; see `screening.sms.pacing`)."""

    __tablename__ = "sms_pace"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Seconds since the epoch by the database's own clock: the one clock all workers share.
    next_slot: Mapped[float] = mapped_column(Float)


# --- accountability ------------------------------------------------------------------------


class AuditEvent(Base):
    """Who did what to which record. `detail` carries codes and ids, never patient data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    action: Mapped[str] = mapped_column(String(40))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(100))
    # The patient the event concerns, if any, so the audit trail filters by patient.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # A task's timeline reads its events by subject.
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)
