"""A service's answer to a referral (SPEC §13): made → accepted or declined; accepted →
completed or declined. The same change whether the service's partner makes it on their
page or a prescriber records what the service said by phone, after the task closed too.

Each change is one conditional UPDATE on the status it was drawn from: two answers at once
(a partner and a prescriber, or two browser tabs), on SQLite or PostgreSQL, cannot both
win; the loser is refused with 409 and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..core import constants as c
from ..core.refusals import Conflict, NotFound, Problems, Refused
from ..models import Episode, Referral, ReferralUpdate
from ..triage.tasks import NOTE_MAX, Context, get_task, task_audit

# What each answer sets besides the status: when it was first reached.
FIRST_REACHED = {
    c.REFERRAL_ACCEPTED: "accepted_at",
    c.REFERRAL_DECLINED: "declined_at",
    c.REFERRAL_COMPLETED: "completed_at",
}


@dataclass(frozen=True)
class Answer:
    """A status, with the decline's reason or the completion's outcome, and a note."""

    status: str
    reason: str = ""
    outcome: str = ""
    note: str = ""


def get_referral(session: Session, referral_id: int) -> Referral:
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise NotFound(f"There is no referral {referral_id}")
    return referral


def respond(session: Session, referral: Referral, ctx: Context, answer: Answer) -> Referral:
    """Record the service's answer, or refuse it having changed nothing."""
    _check(referral, answer)
    before = referral.status
    values = {
        "status": answer.status,
        "status_changed_at": ctx.now,
        "reason": answer.reason or None if answer.status == c.REFERRAL_DECLINED else None,
        "outcome": answer.outcome or None if answer.status == c.REFERRAL_COMPLETED else None,
        FIRST_REACHED[answer.status]: ctx.now,
    }
    changed = session.execute(
        update(Referral)
        .where(Referral.id == referral.id, Referral.status == before)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        session.rollback()
        raise Conflict(
            "Someone recorded an answer to this referral a moment ago: "
            "look at its history before recording yours",
            field="status",
        )
    update_row = ReferralUpdate(
        referral_id=referral.id,
        at=ctx.now,
        by_user_id=ctx.by.id,
        status=answer.status,
        reason=values["reason"],
        outcome=values["outcome"],
        note=answer.note.strip() or None,
    )
    session.add(update_row)
    session.flush()
    task = get_task(session, referral.task_id)
    if answer.status == c.REFERRAL_COMPLETED and answer.outcome in c.HELPED_OUTCOMES:
        _helped(session, task.episode_id, ctx)
    task_audit(
        session,
        ctx,
        c.AUDIT_TASK_REFERRAL_UPDATED,
        task,
        referral_id=referral.id,
        update_id=update_row.id,
        status=answer.status,
        was=before,
        reason=values["reason"],
        outcome=values["outcome"],
    )
    session.commit()
    session.refresh(referral)
    return referral


def _check(referral: Referral, answer: Answer) -> None:
    """Bad input is 400, naming each field; an answer the status does not allow is 409."""
    if answer.status not in FIRST_REACHED:
        raise Refused("Select what the service said", field="status")
    if answer.status not in c.REFERRAL_NEXT[referral.status]:
        raise Conflict(_not_now(referral.status), field="status")
    problems = Problems()
    if answer.status == c.REFERRAL_DECLINED and answer.reason not in c.DECLINE_REASONS:
        problems.add("reason", "Select why the service declined the referral")
    if answer.status == c.REFERRAL_COMPLETED and answer.outcome not in c.REFERRAL_OUTCOMES:
        problems.add("outcome", "Select whether the service helped the patient")
    if len(answer.note.strip()) > NOTE_MAX:
        problems.add("note", f"The note must be {NOTE_MAX} characters or fewer")
    problems.refuse()


def _not_now(status: str) -> str:
    allowed = sorted(c.REFERRAL_NEXT[status])
    if not allowed:
        return f"This referral is already {status}: it cannot change now"
    return f"This referral is {status}: it can only be {' or '.join(allowed)} now"


def _helped(session: Session, episode_id: int, ctx: Context) -> None:
    """The funnel's `helped` (SPEC §7): the first time a service says it helped."""
    session.execute(
        update(Episode)
        .where(Episode.id == episode_id, Episode.helped_at.is_(None))
        .values(helped_at=ctx.now)
    )
