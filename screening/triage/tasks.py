"""Every action on a triage task (SPEC §8, §10), each one transaction with its audit event.

An action either commits whole or raises `Refused` (`core.refusals`: every field at
fault, and the HTTP status a page should answer) having changed nothing. Changes of
status or holder are conditional UPDATEs on the task's `version`: two prescribers acting
on one task at once, on SQLite or PostgreSQL, cannot both win, and the loser is told who
changed it and when.
Appends (a call, a session, a referral, a note) cannot overwrite anyone's work, so they
need no version; they are refused only on a closed task, which must be reopened first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..config import Config, Settings
from ..config.schema import RawService
from ..core import clock
from ..core import constants as c
from ..core.numbers import MAX_ID, whole_number
from ..core.refusals import Conflict, NotFound, Problems, Refused
from ..mail import outbox
from ..models import (
    AuditEvent,
    ContactAttempt,
    Episode,
    OutboundMessage,
    Referral,
    StaffUser,
    SupportSession,
    TaskNote,
    TriageTask,
)
from ..practices import letters
from ..staff import audit
from ..staff.audit import Actor

NOTE_MAX = 5000
NAME_MAX = 200
SESSION_MINUTES_MAX = 600
STATUS_CHANGES = (
    c.AUDIT_TASK_CLAIMED,
    c.AUDIT_TASK_ASSIGNED,
    c.AUDIT_TASK_CLOSED,
    c.AUDIT_TASK_REOPENED,
)


@dataclass(frozen=True)
class Context:
    """Who acts, when, and from where: every action's audit event records it."""

    by: Actor
    now: datetime
    remote_addr: str | None = None


# --- reading -----------------------------------------------------------------------------


def get_task(session: Session, task_id: int) -> TriageTask:
    task = session.get(TriageTask, task_id)
    if task is None:
        raise NotFound(f"There is no task {task_id}")
    return task


def last_change(session: Session, task_id: int) -> tuple[str | None, datetime | None]:
    """Who last changed the task's status or holder, and when."""
    row = session.execute(
        select(StaffUser.shown_name.label("who"), AuditEvent.at)
        .outerjoin(StaffUser, AuditEvent.actor_user_id == StaffUser.id)
        .where(
            AuditEvent.subject_type == c.SUBJECT_TASK,
            AuditEvent.subject_id == str(task_id),
            AuditEvent.action.in_(STATUS_CHANGES),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    return (row.who, row.at) if row else (None, None)


def unable_to_contact_allowed(attempts: Sequence[ContactAttempt], settings: Settings) -> bool:
    """SPEC §10: enough attempts that did not reach the patient, on two days or more."""
    missed = [a for a in attempts if a.outcome not in c.REACHED_OUTCOMES]
    days = {a.attempted_at.astimezone(clock.LONDON).date() for a in missed}
    return len(missed) >= settings.unable_to_contact_after and len(days) >= 2


# --- status and holder -------------------------------------------------------------------


def claim(session: Session, task_id: int, ctx: Context, *, take_over: bool = False) -> TriageTask:
    """Take the task yourself. A task a colleague holds needs `take_over`: no silent
    overwrite. The check and the change are one UPDATE, so of two claims at once exactly
    one matches; the other is told who holds it."""
    task = get_task(session, task_id)
    if task.status == c.TASK_CLOSED:
        raise Refused("This task is closed. Reopen it to work on it again.")
    if task.assigned_to_user_id == ctx.by.id and task.status == c.TASK_ASSIGNED:
        return task
    conditions = [TriageTask.id == task_id, TriageTask.status.in_(c.CLAIMABLE_TASK_STATUSES)]
    if not take_over:
        conditions.append(
            (TriageTask.assigned_to_user_id.is_(None))
            | (TriageTask.assigned_to_user_id == ctx.by.id)
        )
    previous = task.assigned_to_user_id
    if not _change(session, conditions, _held_by(ctx.by.id, ctx.now)):
        session.rollback()
        session.refresh(task)
        raise _held_conflict(session, task)
    task_audit(session, ctx, c.AUDIT_TASK_CLAIMED, task, taken_from=previous)
    session.commit()
    return task


def assign(
    session: Session, task_id: int, ctx: Context, *, user_id: str | int, version: str | int
) -> TriageTask:
    """Give the task to a colleague (a prescriber or an admin whose account is active)."""
    task = get_task(session, task_id)
    expected = _version(version)
    if task.status == c.TASK_CLOSED:
        raise Refused("This task is closed. Reopen it before assigning it.")
    colleague = _colleague(session, user_id)
    conditions = [TriageTask.id == task_id, TriageTask.version == expected]
    if not _change(session, conditions, _held_by(colleague.id, ctx.now)):
        session.rollback()
        raise _stale(session, task_id)
    task_audit(session, ctx, c.AUDIT_TASK_ASSIGNED, task, to_user_id=colleague.id)
    session.commit()
    return task


def close(
    session: Session,
    task_id: int,
    ctx: Context,
    *,
    outcome: str,
    version: str | int,
    config: Config,
    need_names: Mapping[str, str] | None = None,
) -> TriageTask:
    """Close the task; the patient's GP practice hears back (SPEC §13) in the same
    transaction. `need_names` names the flagged needs in the practice's letter."""
    settings = config.settings
    task = get_task(session, task_id)
    expected = _version(version)
    if task.status == c.TASK_CLOSED:
        raise Conflict(_closed_message(session, task))
    if outcome not in c.TASK_OUTCOMES:
        raise Refused("Select how the task ended", field="outcome")
    if outcome == c.OUTCOME_REFERRED and not task.referrals:
        raise Refused("Record the referral before closing the task as referred", field="outcome")
    if outcome == c.OUTCOME_UNABLE_TO_CONTACT and not unable_to_contact_allowed(
        task.contact_attempts, settings
    ):
        raise Refused(
            f"A task can close as unable to contact after {settings.unable_to_contact_after} "
            "attempts that did not reach the patient, on at least 2 different days",
            field="outcome",
        )
    conditions = [TriageTask.id == task_id, TriageTask.version == expected]
    values = {
        "status": c.TASK_CLOSED,
        "outcome": outcome,
        "closed_at": ctx.now,
        "closed_by_user_id": ctx.by.id,
        "updated_at": ctx.now,
    }
    if not _change(session, conditions, values):
        session.rollback()
        raise _stale(session, task_id)
    texted = outcome == c.OUTCOME_UNABLE_TO_CONTACT and _queue_unable_to_contact_sms(
        session, task, settings, ctx.now
    )
    session.refresh(task)
    letter = letters.on_closed(session, task, config, need_names or {}, ctx.now)
    task_audit(
        session,
        ctx,
        c.AUDIT_TASK_CLOSED,
        task,
        outcome=outcome,
        texted=texted or None,
        letter=letter.id if letter else None,
    )
    session.commit()
    return task


def _queue_unable_to_contact_sms(
    session: Session, task: TriageTask, settings: Settings, now: datetime
) -> bool:
    """The optional text to a patient nobody could reach (SPEC §10), through the outbox like
    every SMS (opt-outs, quiet hours, no identifiers). One per episode, however often the
    task is reopened and closed again."""
    if not settings.unable_to_contact_sms:
        return False
    already = session.scalar(
        select(OutboundMessage.id).where(
            OutboundMessage.episode_id == task.episode_id,
            OutboundMessage.kind == c.MESSAGE_UNABLE_TO_CONTACT,
        )
    )
    if already is not None:
        return False
    session.add(OutboundMessage.for_the_day(task.episode_id, c.MESSAGE_UNABLE_TO_CONTACT, now))
    return True


def reopen(session: Session, task_id: int, ctx: Context, *, version: str | int) -> TriageTask:
    """A closed task comes back, held by whoever reopened it (SPEC §10)."""
    task = get_task(session, task_id)
    expected = _version(version)
    if task.status != c.TASK_CLOSED:
        raise Conflict("This task is not closed, so there is nothing to reopen.")
    conditions = [TriageTask.id == task_id, TriageTask.version == expected]
    values = {
        **_held_by(ctx.by.id, ctx.now),
        "outcome": None,
        "closed_at": None,
        "closed_by_user_id": None,
    }
    if not _change(session, conditions, values):
        session.rollback()
        raise _stale(session, task_id)
    task_audit(session, ctx, c.AUDIT_TASK_REOPENED, task)
    session.commit()
    return task


def close_for_deceased(session: Session, patient_id: int, now: datetime) -> int:
    """A `deceased` row in a list closes the patient's active tasks as not needed, recorded
    as caused by the list. The caller's transaction commits; returns how many closed."""
    tasks = session.scalars(
        select(TriageTask)
        .join(Episode, TriageTask.episode_id == Episode.id)
        .where(
            Episode.patient_id == patient_id,
            TriageTask.status.in_([*c.ACTIVE_TASK_STATUSES, c.TASK_DECLINED]),
        )
    ).all()
    for task in tasks:
        task.status, task.outcome = c.TASK_CLOSED, c.OUTCOME_NOT_NEEDED
        task.closed_at, task.updated_at, task.version = now, now, task.version + 1
        audit.record(
            session,
            c.AUDIT_TASK_CLOSED,
            subject_type=c.SUBJECT_TASK,
            subject_id=task.id,
            patient_id=patient_id,
            detail={"outcome": c.OUTCOME_NOT_NEEDED, "cause": "deceased_in_list"},
        )
    return len(tasks)


def _held_by(user_id: int, now: datetime) -> dict[str, Any]:
    return {
        "status": c.TASK_ASSIGNED,
        "assigned_to_user_id": user_id,
        "assigned_at": now,
        "updated_at": now,
    }


def _change(session: Session, conditions: list[Any], values: dict[str, Any]) -> bool:
    result = session.execute(
        update(TriageTask)
        .where(*conditions)
        .values(**values, version=TriageTask.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        session.expire_all()  # the task object reads the new row
        return True
    return False


def _version(value: str | int) -> int:
    version = whole_number(value, at_most=MAX_ID)
    if version is None:
        raise Refused("This form is out of date. Reload the page and try again.")
    return version


def _colleague(session: Session, user_id: str | int) -> StaffUser:
    number = whole_number(user_id, at_most=MAX_ID)
    user = session.get(StaffUser, number) if number is not None else None
    if user is None or not user.active or user.role not in (c.ROLE_PRESCRIBER, c.ROLE_ADMIN):
        raise Refused("Select a social prescriber to assign the task to", field="user_id")
    return user


def _held_conflict(session: Session, task: TriageTask) -> Conflict:
    if task.status == c.TASK_CLOSED:
        return Conflict(_closed_message(session, task))
    holder = session.get(StaffUser, task.assigned_to_user_id) if task.assigned_to_user_id else None
    who = holder.shown_name if holder else "a colleague"
    since = _when(task.assigned_at)
    return Conflict(f"{who} has held this task since {since}. Ask them first, or take it over.")


def _stale(session: Session, task_id: int) -> Conflict:
    who, when = last_change(session, task_id)
    return Conflict(
        f"{who or 'A colleague'} changed this task at {_when(when)}, after you opened it. "
        "Nothing was saved: check the task as it is now and try again."
    )


def _closed_message(session: Session, task: TriageTask) -> str:
    closer = session.get(StaffUser, task.closed_by_user_id) if task.closed_by_user_id else None
    by = f" by {closer.shown_name}" if closer else ""
    return f"This task was closed{by} at {_when(task.closed_at)}. Reopen it to work on it."


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    return moment.astimezone(clock.LONDON).strftime("%-d %B %Y %H:%M")


# --- the work: calls, sessions, referrals, notes -------------------------------------------


def log_contact(
    session: Session, task_id: int, ctx: Context, *, method: str, outcome: str, note: str = ""
) -> ContactAttempt:
    task = open_task(session, task_id)
    attempt = record_contact(
        session, task.episode, ctx, method=method, outcome=outcome, note=note, task=task
    )
    session.commit()
    return attempt


def record_contact(
    session: Session,
    episode: Episode,
    ctx: Context,
    *,
    method: str,
    outcome: str,
    note: str,
    task: TriageTask | None = None,
) -> ContactAttempt:
    """A contact attempt about an episode (and its task, if it has one); the caller commits.

    Shared by the task page and the to-call list, so a patient has one call history."""
    problems = Problems()
    if method not in c.CONTACT_METHODS:
        problems.add("method", "Select how you contacted the patient")
    if outcome not in c.CONTACT_OUTCOMES:
        problems.add("outcome", "Select what happened")
    _check_note(note, problems)
    problems.refuse()
    attempt = ContactAttempt(
        task_id=task.id if task else None,
        episode_id=episode.id,
        attempted_at=ctx.now,
        by_user_id=ctx.by.id,
        method=method,
        outcome=outcome,
        note=_note(note),
    )
    session.add(attempt)
    # The funnel's `contacted` (SPEC §7) is a reach on the episode's triage task: a call
    # from the to-call list before the patient answered is not support for a flagged need.
    if task is not None and outcome in c.REACHED_OUTCOMES and episode.contacted_at is None:
        episode.contacted_at = ctx.now
    session.flush()
    action = c.AUDIT_TASK_CONTACT if task else c.AUDIT_EPISODE_CALL
    subject = (c.SUBJECT_TASK, task.id) if task else (c.SUBJECT_EPISODE, episode.id)
    _audit(
        session,
        ctx,
        action,
        subject,
        episode.patient_id,
        attempt_id=attempt.id,
        method=method,
        outcome=outcome,
    )
    return attempt


def record_session(
    session: Session, task_id: int, ctx: Context, *, minutes: str | int, note: str = ""
) -> SupportSession:
    task = open_task(session, task_id)
    length = whole_number(minutes, at_most=SESSION_MINUTES_MAX)
    problems = Problems()
    if not length:
        problems.add(
            "minutes",
            f"Enter how long the session was, in minutes, from 1 to {SESSION_MINUTES_MAX}",
        )
    _check_note(note, problems)
    problems.refuse()
    held = SupportSession(
        task_id=task.id, held_at=ctx.now, by_user_id=ctx.by.id, minutes=length, note=_note(note)
    )
    session.add(held)
    session.flush()
    task_audit(session, ctx, c.AUDIT_TASK_SESSION, task, session_id=held.id, minutes=length)
    session.commit()
    return held


def refer(
    session: Session,
    task_id: int,
    ctx: Context,
    *,
    service: str,
    services: Sequence[RawService],
    domains: Sequence[str],
    other_name: str = "",
    domain: str = "",
    note: str = "",
) -> Referral:
    """An onward referral, starting `made`. `domains` are those the task's questionnaire
    declares; `services` the directory of `config/services.yaml`."""
    task = open_task(session, task_id)
    service, domain = service.strip(), domain.strip()
    directory = {entry.id: entry for entry in services}
    problems = Problems()
    name, to_pcn, mailbox = " ".join(other_name.split()), False, None
    if service == c.SERVICE_OTHER:
        if not name:
            problems.add("other_name", "Enter the name of the service you referred to")
        elif len(name) > NAME_MAX:
            problems.add("other_name", f"The service's name must be {NAME_MAX} characters or fewer")
    elif service in directory:
        name, to_pcn = directory[service].name, directory[service].kind == c.SERVICE_KIND_PCN
        mailbox = directory[service].referral_email
    else:
        problems.add("service", "Select the service you referred the patient to")
    if domain and domain not in domains:
        problems.add("domain", "Select a need from the list, or none")
    _check_note(note, problems)
    problems.refuse()
    referral = Referral(
        task_id=task.id,
        service_id=service,
        service_name=name,
        to_pcn=to_pcn,
        domain=domain or None,
        status=c.REFERRAL_MADE,
        referred_at=ctx.now,
        by_user_id=ctx.by.id,
        note=_note(note),
    )
    session.add(referral)
    if task.episode.referred_at is None:
        task.episode.referred_at = ctx.now  # the funnel's `referred` (SPEC §7)
    session.flush()
    if mailbox:  # the service hears of it (SPEC §13), without a word about the patient
        outbox.queue(
            session,
            c.MAIL_REFERRAL_NOTICE,
            ctx.now,
            task_id=task.id,
            referral_id=referral.id,
            to=mailbox,
        )
    task_audit(session, ctx, c.AUDIT_TASK_REFERRAL, task, referral_id=referral.id, service=service)
    session.commit()
    return referral


def add_note(session: Session, task_id: int, ctx: Context, *, text: str) -> TaskNote:
    task = open_task(session, task_id)
    if not text.strip():
        raise Refused("Enter the note", field="text")
    if len(text) > NOTE_MAX:
        raise Refused(f"The note must be {NOTE_MAX} characters or fewer", field="text")
    note = TaskNote(task_id=task.id, written_at=ctx.now, by_user_id=ctx.by.id, text=text.strip())
    session.add(note)
    session.flush()
    task_audit(session, ctx, c.AUDIT_TASK_NOTE, task, note_id=note.id)
    session.commit()
    return note


def open_task(session: Session, task_id: int) -> TriageTask:
    """The task, if it can take more work: a closed one must be reopened first."""
    task = get_task(session, task_id)
    if task.status == c.TASK_CLOSED:
        raise Conflict(_closed_message(session, task))
    return task


def _note(text: str) -> str | None:
    problems = Problems()
    _check_note(text, problems)
    problems.refuse()
    return (text or "").strip() or None


def _check_note(text: str, problems: Problems) -> None:
    if len((text or "").strip()) > NOTE_MAX:
        problems.add("note", f"The note must be {NOTE_MAX} characters or fewer")


# --- audit -----------------------------------------------------------------------------------


def task_audit(
    session: Session, ctx: Context, action: str, task: TriageTask, **detail: Any
) -> None:
    _audit(session, ctx, action, (c.SUBJECT_TASK, task.id), task.episode.patient_id, **detail)


def _audit(
    session: Session,
    ctx: Context,
    action: str,
    subject: tuple[str, int],
    patient_id: int,
    **detail: Any,
) -> None:
    audit.record(
        session,
        action,
        actor=ctx.by,
        subject_type=subject[0],
        subject_id=subject[1],
        patient_id=patient_id,
        remote_addr=ctx.remote_addr,
        detail={key: value for key, value in detail.items() if value is not None} or None,
    )
