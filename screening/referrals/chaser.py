"""Chasing (SPEC §13): a referral still `made` `referral_response_working_days` working days
after it was made is overdue. It is marked on its task and counted on the home page, and
its service, when it has a mailbox, is reminded once.

A referral nobody answers is the loop's commonest failure: the patient waits for a call
that never comes, and nobody knows (hazard log: a referral lost between services).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..config import Config
from ..core import clock
from ..core import constants as c
from ..mail import outbox
from ..models import Referral
from ..triage.queue import referral_overdue
from ..triage.service_levels import made_before_is_overdue


@dataclass
class ChaseRun:
    reminded: int = 0

    def summary(self) -> str:
        return f"overdue referrals reminded {self.reminded}"


def is_overdue(referral: Referral, today: date, working_days: int) -> bool:
    return referral.status == c.REFERRAL_MADE and referral.referred_at < made_before_is_overdue(
        today, working_days
    )


def chase(session: Session, config: Config, now: datetime) -> ChaseRun:
    """Queue one reminder to each overdue referral's service that has a mailbox."""
    today = now.astimezone(clock.LONDON).date()
    mailboxes = {s.id: s.referral_email for s in config.services if s.referral_email}
    run = ChaseRun()
    if not mailboxes:
        return run
    waiting = session.scalars(
        select(Referral)
        .where(
            referral_overdue(today, config.settings.referral_response_working_days),
            Referral.reminded_at.is_(None),
            Referral.service_id.in_(sorted(mailboxes)),
        )
        .order_by(Referral.id)
    ).all()
    for referral in waiting:
        # One reminder, however many workers run at once: the first to mark it queues it.
        marked = session.execute(
            update(Referral)
            .where(Referral.id == referral.id, Referral.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount != 1:
            continue
        outbox.queue(
            session,
            c.MAIL_REFERRAL_REMINDER,
            now,
            task_id=referral.task_id,
            referral_id=referral.id,
            to=mailboxes[referral.service_id],
        )
        run.reminded += 1
    session.commit()
    return run
