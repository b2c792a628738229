"""The urgent alert (SPEC §10): a mail to the shared mailbox that an urgent task waits.

The submission queues it in the mail outbox in its own transaction; the worker sends it.
The mail names no patient and nothing they said: only that an urgent task is waiting, and
its link, which needs a sign-in. The staff home page shows what is waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..mail import outbox
from ..models import Mail

SUBJECT = "Urgent social prescribing task waiting"


@dataclass(frozen=True)
class AlertStatus:
    """What the staff home page says about the alerts."""

    configured: bool
    waiting: int
    last_error: str | None


def queue_alert(session: Session, task_id: int, now: datetime) -> None:
    outbox.queue(session, c.MAIL_URGENT_ALERT, now, task_id=task_id)


def alert_body(task_id: int, base_url: str) -> str:
    return (
        "An urgent task is waiting in the social prescribing triage queue.\n\n"
        f"Open it: {base_url}/triage/{task_id}\n\n"
        "This message carries no patient details: sign in to see them.\n"
    )


def compose_alert(session: Session, config: Config, mail: Mail) -> outbox.Composed:
    assert mail.task_id is not None
    return outbox.Composed(
        to=config.settings.urgent_alert_email,
        subject=SUBJECT,
        body=alert_body(mail.task_id, config.public_base_url),
    )


def alert_status(session: Session, config: Config) -> AlertStatus:
    waiting, last_error = session.execute(
        select(func.count(), func.max(Mail.last_error)).where(
            Mail.status.in_(c.UNSENT_MAIL_STATUSES), Mail.kind == c.MAIL_URGENT_ALERT
        )
    ).one()
    configured = bool(config.smtp_url and config.settings.urgent_alert_email)
    return AlertStatus(configured=configured, waiting=waiting, last_error=last_error)
