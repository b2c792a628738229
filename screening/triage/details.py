"""What the task page shows (SPEC §8): the patient, the answers, the timeline.

The answers are read against the questionnaire version the patient answered (its frozen
copy), so an edited file never changes what a past patient is shown to have said.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..core.names import CLOSE_NAMES, referral_answer
from ..models import (
    AuditEvent,
    ContactAttempt,
    Patient,
    Referral,
    ReferralUpdate,
    StaffUser,
    SupportSession,
    TaskNote,
    TriageTask,
)
from ..questionnaire import Questionnaire, frozen
from ..questionnaire.answers import stored_answers
from ..questionnaire.engine import visible_items
from ..questionnaire.model import Item
from .service_levels import due_on

METHOD_NAMES = {
    "phone": "Phone",
    "in_person": "In person",
    "sms": "Text message",
    "letter": "Letter",
    "video": "Video call",
}
OUTCOME_NAMES = {
    "reached": "Reached the patient",
    "no_answer": "No answer",
    "voicemail": "Left a voicemail",
    "wrong_number": "Wrong number",
    "declined_help": "Reached: declined help",
}
WANTS_HELP_NAMES = {
    "yes": "Yes",
    "no": "No, or did not say",
    "not_asked": "Not asked",
}


@dataclass(frozen=True)
class AnswerLine:
    question: str
    answer: str
    flagged: bool
    domain: str | None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    who: str | None
    what: str
    note: str | None = None
    recorded: int = 0  # the audit event's id: orders what happened in the same instant


@dataclass(frozen=True)
class LastContact:
    at: datetime
    who: str | None
    method: str
    outcome: str


@dataclass(frozen=True)
class TaskView:
    task: TriageTask
    patient: Patient
    holder: str | None  # by name, or email where no name is known
    clinic_name: str | None
    hospital: str | None
    appointment_at: datetime | None
    appointment_status: str | None
    questionnaire: Questionnaire | None
    answers: list[AnswerLine]
    domains: list[tuple[str, str]]  # (id, label) of the flagged domains
    all_domains: list[tuple[str, str]]
    timeline: list[TimelineEntry]
    referrals: list[Referral]
    attempts: list[ContactAttempt]
    due: Any
    wants_help: str  # "yes", "no" (asked, said no or declined to say) or "not_asked"
    last_contact: LastContact | None


def task_view(
    session: Session,
    task: TriageTask,
    config: Config,
    questionnaires: Mapping[str, Questionnaire],
) -> TaskView:
    episode = task.episode
    patient = episode.patient
    version = task.response.questionnaire_version if task.response else None
    questionnaire = frozen.answered_version(
        session, questionnaires, episode.questionnaire_id, version
    )
    answers = stored_answers(session, episode)
    flags = {flag.item_id: flag.domain for flag in (task.response.flags if task.response else [])}
    lines = _answer_lines(questionnaire, answers, flags) if questionnaire else []
    labels = _domain_labels(questionnaire)
    flagged_domains = list(dict.fromkeys(flags.values()))
    appointment = episode.appointment
    clinic = config.clinics.get(episode.clinic_code or "")
    users = _names(session)
    consent = questionnaire.triage.consent_item if questionnaire else None
    return TaskView(
        task=task,
        patient=patient,
        holder=users.get(task.assigned_to_user_id or 0),
        clinic_name=clinic.name if clinic else episode.clinic_code,
        hospital=clinic.hospital if clinic else None,
        appointment_at=appointment.appointment_at if appointment else None,
        appointment_status=appointment.status if appointment else None,
        questionnaire=questionnaire,
        answers=lines,
        domains=[(domain, labels.get(domain, domain)) for domain in flagged_domains],
        all_domains=sorted(labels.items(), key=lambda pair: pair[1]),
        timeline=_timeline(session, task, users),
        referrals=list(task.referrals),
        attempts=list(task.contact_attempts),
        due=due_on(task.created_at, task.priority, config.settings.triage_sla_working_days),
        wants_help=_wants_help(episode.wants_help_at, consent, answers),
        last_contact=_last_contact(task.contact_attempts, users),
    )


def _wants_help(
    wants_help_at: datetime | None, consent: str | None, answers: dict[str, Any]
) -> str:
    if wants_help_at is not None:
        return "yes"
    return "no" if consent and answers.get(consent) not in (None, "", []) else "not_asked"


def _last_contact(attempts: list[ContactAttempt], users: dict[int, str]) -> LastContact | None:
    if not attempts:
        return None
    last = max(attempts, key=lambda attempt: (attempt.attempted_at, attempt.id))
    return LastContact(
        at=last.attempted_at,
        who=users.get(last.by_user_id or 0),
        method=METHOD_NAMES[last.method],
        outcome=OUTCOME_NAMES[last.outcome],
    )


def _answer_lines(
    questionnaire: Questionnaire, answers: dict[str, Any], flags: dict[str, str]
) -> list[AnswerLine]:
    language = questionnaire.default_language
    lines = []
    for item in visible_items(questionnaire, answers):
        if not item.asks:
            continue
        lines.append(
            AnswerLine(
                question=item.text[language],
                answer=_answer_text(item, answers.get(item.id), language),
                flagged=item.id in flags,
                domain=flags.get(item.id),
            )
        )
    return lines


def _answer_text(item: Item, value: Any, language: str) -> str:
    if value is None or value == "" or value == []:
        return "Not answered"
    labels = {answer.value: answer.label[language] for answer in item.answers}
    if isinstance(value, list):
        return ", ".join(labels.get(v, v) for v in value)
    return labels.get(value, str(value))


def _domain_labels(questionnaire: Questionnaire | None) -> dict[str, str]:
    if questionnaire is None:
        return {}
    language = questionnaire.default_language
    return {domain: label[language] for domain, label in questionnaire.domains.items()}


def _names(session: Session) -> dict[int, str]:
    """Every staff user's name as colleagues see it, by id: a small table, read once."""
    rows = session.execute(select(StaffUser.id, StaffUser.shown_name))
    return {user_id: name for user_id, name in rows}


# Which id in an audit event's detail names the row it recorded.
_RECORDED_ROW = {
    c.AUDIT_TASK_CONTACT: "attempt_id",
    c.AUDIT_TASK_SESSION: "session_id",
    c.AUDIT_TASK_REFERRAL: "referral_id",
    c.AUDIT_TASK_NOTE: "note_id",
}
_STATUS_CHANGES = (
    c.AUDIT_TASK_CLAIMED,
    c.AUDIT_TASK_ASSIGNED,
    c.AUDIT_TASK_CLOSED,
    c.AUDIT_TASK_REOPENED,
    c.AUDIT_TASK_REFERRAL_UPDATED,
    c.AUDIT_TASK_FOLLOW_UP,
)


def _timeline(session: Session, task: TriageTask, users: dict[int, str]) -> list[TimelineEntry]:
    """Oldest first. Things done in the same instant (a referral made as the task is
    claimed, or a clock that reads to the minute) keep the order they were recorded in,
    which the audit trail's ids give."""
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.subject_type == c.SUBJECT_TASK,
            AuditEvent.subject_id == str(task.id),
            AuditEvent.action.in_([*_RECORDED_ROW, *_STATUS_CHANGES]),
        )
        .order_by(AuditEvent.id)
    ).all()
    recorded = {
        (event.action, (event.detail or {}).get(_RECORDED_ROW[event.action])): event.id
        for event in events
        if event.action in _RECORDED_ROW
    }
    entries = [TimelineEntry(task.created_at, None, f"Task created ({task.priority})")]
    for attempt in task.contact_attempts:
        entries.append(
            TimelineEntry(
                attempt.attempted_at,
                users.get(attempt.by_user_id or 0),
                f"{METHOD_NAMES[attempt.method]}: {OUTCOME_NAMES[attempt.outcome]}",
                attempt.note,
                recorded.get((c.AUDIT_TASK_CONTACT, attempt.id), 0),
            )
        )
    sessions = session.scalars(
        select(SupportSession).where(SupportSession.task_id == task.id)
    ).all()
    for held in sessions:
        entries.append(
            TimelineEntry(
                held.held_at,
                users.get(held.by_user_id or 0),
                f"Session with the patient, {held.minutes} minutes",
                held.note,
                recorded.get((c.AUDIT_TASK_SESSION, held.id), 0),
            )
        )
    for referral in task.referrals:
        entries.append(
            TimelineEntry(
                referral.referred_at,
                users.get(referral.by_user_id or 0),
                f"Referred to {referral.service_name or referral.service_id}",
                referral.note,
                recorded.get((c.AUDIT_TASK_REFERRAL, referral.id), 0),
            )
        )
    notes = session.scalars(select(TaskNote).where(TaskNote.task_id == task.id)).all()
    for note in notes:
        entries.append(
            TimelineEntry(
                note.written_at,
                users.get(note.by_user_id or 0),
                "Note",
                note.text,
                recorded.get((c.AUDIT_TASK_NOTE, note.id), 0),
            )
        )
    names = {r.id: r.service_name or r.service_id for r in task.referrals}
    changes = [event for event in events if event.action in _STATUS_CHANGES]
    # A service's answer carries the note given with it (SPEC §13).
    answer_notes = dict(
        session.execute(
            select(ReferralUpdate.id, ReferralUpdate.note)
            .join(Referral, Referral.id == ReferralUpdate.referral_id)
            .where(Referral.task_id == task.id, ReferralUpdate.note.is_not(None))
        ).all()
    )
    entries.extend(_status_changes(changes, users, names, answer_notes))
    return sorted(entries, key=lambda entry: (entry.at, entry.recorded))


def _status_changes(
    events: list[AuditEvent],
    users: dict[int, str],
    referral_names: dict[int, str],
    answer_notes: dict[int, str | None],
) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            event.at,
            users.get(event.actor_user_id or 0),
            _describe(event, users, referral_names),
            answer_notes.get((event.detail or {}).get("update_id", 0)),
            recorded=event.id,
        )
        for event in events
    ]


def _day(detail: Mapping[str, Any]) -> str:
    """An audit detail's ISO `due` date as the page writes dates: "4 December 2026"."""
    try:
        due = date.fromisoformat(str(detail.get("due")))
    except ValueError:
        return str(detail.get("due"))
    return f"{due.day} {due:%B %Y}"


def _describe(event: AuditEvent, users: dict[int, str], referral_names: dict[int, str]) -> str:
    detail = event.detail or {}
    if event.action == c.AUDIT_TASK_CLAIMED:
        return "Took the task over" if detail.get("taken_from") else "Claimed the task"
    if event.action == c.AUDIT_TASK_ASSIGNED:
        return f"Assigned the task to {users.get(detail.get('to_user_id', 0), 'a colleague')}"
    if event.action == c.AUDIT_TASK_CLOSED:
        outcome = CLOSE_NAMES.get(detail.get("outcome", ""), "closed")
        if detail.get("cause") == "deceased_in_list":
            return f"Closed: {outcome} (the appointment list marked the patient deceased)"
        also = []
        if detail.get("texted"):
            also.append("a text to the patient is queued")
        if detail.get("letter"):
            also.append("a letter to the GP practice is made")
        return "; ".join([f"Closed: {outcome}", *also])
    if event.action == c.AUDIT_TASK_REFERRAL_UPDATED:
        answer = referral_answer(
            detail.get("status", ""), detail.get("reason"), detail.get("outcome")
        )
        service = referral_names.get(detail.get("referral_id", 0), "a service")
        return f"Referral to {service}: {answer[0].lower()}{answer[1:]}"
    if event.action == c.AUDIT_TASK_FOLLOW_UP:
        return f"Scheduled the {detail.get('questionnaire')} questionnaire for {_day(detail)}"
    return "Reopened the task"
