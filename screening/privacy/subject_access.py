"""`screening subject-access NHS_NUMBER`: everything held about one patient, as JSON.

For a subject-access request (UK GDPR Article 15): the patient's details, their
appointments, each episode with the texts sent (kind, times and delivery; the wording is
never stored), their answers with the question asked, the flags raised, the task with
every contact attempt, session, referral and note, the opt-outs of their numbers, and the
audit events about them. A referral comes with the service's answer and its history
(each change, with the note given); a letter to the GP practice is listed as made, when and
for which practice, and where it was mailed, not as its PDF: the letter holds nothing that
is not in the record already. The request itself is audited before anything is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..core import constants as c
from ..core.clock import LONDON
from ..models import (
    Answer,
    Appointment,
    AuditEvent,
    ContactAttempt,
    Episode,
    GpLetter,
    Mail,
    OptOut,
    OutboundMessage,
    Patient,
    Referral,
    Response,
    StaffUser,
    SupportSession,
    TaskNote,
    TriageTask,
)
from ..questionnaire import frozen
from ..questionnaire.model import Questionnaire
from ..staff import audit

STAGES = (
    "invited_at", "delivered_at", "opened_at", "started_at", "completed_at", "flagged_at",
    "wants_help_at", "contacted_at", "referred_at", "opted_out_at", "cancelled_at",
)  # fmt: skip


class UnknownPatient(LookupError):
    pass


def subject_access(
    session: Session, questionnaires: Mapping[str, Questionnaire], nhs_number: str
) -> dict[str, Any]:
    """The patient's record as JSON-ready data; audits the request (the caller commits)."""
    patient = session.scalar(select(Patient).where(Patient.nhs_number == nhs_number))
    if patient is None:
        raise UnknownPatient(nhs_number)
    audit.record(
        session,
        c.AUDIT_SUBJECT_ACCESS,
        subject_type="patient",
        subject_id=patient.id,
        patient_id=patient.id,
        detail={"operator": audit.operator()},
    )
    session.flush()
    emails = dict(session.execute(select(StaffUser.id, StaffUser.email)).all())
    return {
        "nhs_number": patient.nhs_number,
        "patient": _patient(patient),
        "appointments": [
            {
                "appointment_id": a.external_id,
                "clinic_code": a.clinic_code,
                "appointment_at": _iso(a.appointment_at),
                "status": a.status,
                "received_at": _iso(a.created_at),
            }
            for a in session.scalars(
                select(Appointment)
                .where(Appointment.patient_id == patient.id)
                .order_by(Appointment.appointment_at)
            )
        ],
        "episodes": [
            _episode(session, questionnaires, episode, emails)
            for episode in session.scalars(
                select(Episode).where(Episode.patient_id == patient.id).order_by(Episode.id)
            )
        ],
        "opt_outs": [
            {
                "phone": o.phone,
                "opted_out_at": _iso(o.opted_out_at),
                "source": o.source,
                "lifted_at": _iso(o.lifted_at),
            }
            for o in session.scalars(
                select(OptOut).where(
                    OptOut.phone.in_([n for n in (patient.mobile, patient.phone) if n])
                )
            )
        ],
        "audit_events": [
            {
                "at": _iso(e.at),
                "action": e.action,
                "by": emails.get(e.actor_user_id) if e.actor_user_id else None,
                "subject_type": e.subject_type,
                "subject_id": e.subject_id,
                "detail": e.detail,
            }
            for e in session.scalars(_events_about(session, patient))
        ],
    }


def _patient(patient: Patient) -> dict[str, Any]:
    return {
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": _iso(patient.date_of_birth),
        "mobile": patient.mobile,
        "phone": patient.phone,
        "postcode": patient.postcode,
        "sex": patient.sex,
        "ethnicity": patient.ethnicity,
        "language": patient.language,
        "imd_decile": patient.imd_decile,
        "gp_practice": patient.gp_practice,
        "first_received_at": _iso(patient.created_at),
        "updated_at": _iso(patient.updated_at),
    }


def _episode(
    session: Session,
    questionnaires: Mapping[str, Questionnaire],
    episode: Episode,
    emails: Mapping[int, str],
) -> dict[str, Any]:
    response = session.scalar(select(Response).where(Response.episode_id == episode.id))
    version = response.questionnaire_version if response else episode.questionnaire_version
    questionnaire = frozen.answered_version(
        session, questionnaires, episode.questionnaire_id, version
    )
    task = session.scalar(select(TriageTask).where(TriageTask.episode_id == episode.id))
    return {
        "questionnaire_id": episode.questionnaire_id,
        "questionnaire_version": episode.questionnaire_version,
        "clinic_code": episode.clinic_code,
        "appointment_at": _iso(episode.appointment_at),
        "status": episode.status,
        "mode": episode.mode,
        "language": episode.language,
        "needs_call_reason": episode.needs_call_reason,
        "date_of_birth_failures": episode.dob_failures,
        "locked_until": _iso(episode.locked_until),
        # The coded snapshot kept for the equity report.
        "age_band": episode.age_band,
        "sex": episode.sex,
        "ethnicity": episode.ethnicity,
        "imd_decile": episode.imd_decile,
        **{stage: _iso(getattr(episode, stage)) for stage in STAGES},
        "messages": [
            {
                "kind": m.kind,
                "status": m.status,
                "due_at": _iso(m.due_at),
                "sent_at": _iso(m.sent_at),
                "delivery": m.provider_status,
                "error_code": m.error_code,
            }
            for m in session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.episode_id == episode.id)
                .order_by(OutboundMessage.id)
            )
        ],
        "answers": [
            {
                "item_id": a.item_id,
                "question": _question(questionnaire, a.item_id),
                "value": a.value,
                "answered_at": _iso(a.answered_at),
                "entered_by": emails.get(a.entered_by_user_id) if a.entered_by_user_id else None,
            }
            for a in session.scalars(
                select(Answer).where(Answer.episode_id == episode.id).order_by(Answer.id)
            )
        ],
        "submitted_at": _iso(response.submitted_at) if response else None,
        "submitted_by": emails.get(response.submitted_by_user_id)
        if response and response.submitted_by_user_id
        else None,
        "submission_mode": response.mode if response else None,
        # Calls and visits, from the task and from the list of patients to phone alike.
        "contact_attempts": [
            {
                "at": _iso(a.attempted_at),
                "by": emails.get(a.by_user_id) if a.by_user_id else None,
                "method": a.method,
                "outcome": a.outcome,
                "note": a.note,
            }
            for a in session.scalars(
                select(ContactAttempt)
                .where(ContactAttempt.episode_id == episode.id)
                .order_by(ContactAttempt.id)
            )
        ],
        "flags": [
            {"item_id": f.item_id, "domain": f.domain, "priority": f.priority}
            for f in (response.flags if response else [])
        ],
        "task": _task(session, task, emails) if task else None,
    }


def _task(session: Session, task: TriageTask, emails: Mapping[int, str]) -> dict[str, Any]:
    return {
        "id": task.id,
        "status": task.status,
        "priority": task.priority,
        "created_at": _iso(task.created_at),
        "assigned_to": _by(emails, task.assigned_to_user_id),
        "closed_at": _iso(task.closed_at),
        "outcome": task.outcome,
        "sessions": [
            {
                "at": _iso(s.held_at),
                "by": _by(emails, s.by_user_id),
                "minutes": s.minutes,
                "note": s.note,
            }
            for s in session.scalars(
                select(SupportSession)
                .where(SupportSession.task_id == task.id)
                .order_by(SupportSession.id)
            )
        ],
        "referrals": [
            _referral(r, emails)
            for r in session.scalars(
                select(Referral).where(Referral.task_id == task.id).order_by(Referral.id)
            )
        ],
        "notes": [
            {"at": _iso(n.written_at), "by": _by(emails, n.by_user_id), "text": n.text}
            for n in session.scalars(
                select(TaskNote).where(TaskNote.task_id == task.id).order_by(TaskNote.id)
            )
        ],
        "gp_letters": [
            _letter(session, letter)
            for letter in session.scalars(
                select(GpLetter).where(GpLetter.task_id == task.id).order_by(GpLetter.id)
            )
        ],
    }


def _referral(referral: Referral, emails: Mapping[int, str]) -> dict[str, Any]:
    """The referral, the service's answer, and every change with who made it and why."""
    return {
        "service": referral.service_id,
        "service_name": referral.service_name,
        "domain": referral.domain,
        "status": referral.status,
        "referred_at": _iso(referral.referred_at),
        "by": _by(emails, referral.by_user_id),
        "note": referral.note,
        "reason": referral.reason,
        "outcome": referral.outcome,
        "accepted_at": _iso(referral.accepted_at),
        "declined_at": _iso(referral.declined_at),
        "completed_at": _iso(referral.completed_at),
        "updates": [
            {
                "at": _iso(u.at),
                "by": _by(emails, u.by_user_id),
                "status": u.status,
                "reason": u.reason,
                "outcome": u.outcome,
                "note": u.note,
            }
            for u in referral.updates
        ],
    }


def _letter(session: Session, letter: GpLetter) -> dict[str, Any]:
    """That a letter was made, when, for which practice and where it was mailed; not its
    PDF, which repeats what the record says."""
    made = letter.made_at.astimezone(LONDON)
    return {
        "letter": f"letter made on {made.day} {made:%B %Y at %H:%M} for GP practice "
        f"{letter.practice_code or '(not known)'}",
        "made_at": _iso(letter.made_at),
        "practice_code": letter.practice_code,
        "mailed": [
            {"to": m.to_address, "status": m.status, "sent_at": _iso(m.sent_at)}
            for m in session.scalars(
                select(Mail).where(Mail.letter_id == letter.id).order_by(Mail.id)
            )
        ],
    }


def _events_about(session: Session, patient: Patient):  # type: ignore[no-untyped-def]
    """Events naming the patient, and the actions on their tasks and episodes."""
    episodes = select(Episode.id).where(Episode.patient_id == patient.id)
    tasks = select(TriageTask.id).where(TriageTask.episode_id.in_(episodes))
    as_text = [str(i) for i in session.scalars(episodes)], [str(i) for i in session.scalars(tasks)]
    return (
        select(AuditEvent)
        .where(
            or_(
                AuditEvent.patient_id == patient.id,
                (AuditEvent.subject_type == c.SUBJECT_EPISODE)
                & AuditEvent.subject_id.in_(as_text[0]),
                (AuditEvent.subject_type == c.SUBJECT_TASK) & AuditEvent.subject_id.in_(as_text[1]),
            )
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    )


def _by(emails: Mapping[int, str], user_id: int | None) -> str | None:
    return emails.get(user_id) if user_id else None


def _question(questionnaire: Questionnaire | None, item_id: str) -> str | None:
    if questionnaire is None:
        return None
    for item in questionnaire.items:
        if item.id == item_id:
            return item.text[questionnaire.default_language]
    return None


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
