"""The urgent alert (SPEC §10): a mail to the shared mailbox that an urgent task waits.

The submission queues an `AlertMail` row in its own transaction; the worker sends what is
due here, through SMTP with the standard library. The mail names no patient and nothing
they said: only that an urgent task is waiting, and its link, which needs a sign-in.
A failure is recorded by its kind (never the server's text, which may echo addresses) and
retried with backoff until it goes; the staff home page shows what is waiting.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..models import AlertMail

SUBJECT = "Urgent social prescribing task waiting"
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
STALE_CLAIM = timedelta(minutes=10)
SMTP_TIMEOUT_SECONDS = 20
BATCH = 50


@dataclass
class AlertRun:
    sent: int = 0
    failed: int = 0

    def summary(self) -> str:
        return f"urgent alerts mailed {self.sent}, retrying {self.failed}"


@dataclass(frozen=True)
class AlertStatus:
    """What the staff home page says about the alerts."""

    configured: bool
    waiting: int
    last_error: str | None


def alert_body(task_id: int, base_url: str) -> str:
    return (
        "An urgent task is waiting in the social prescribing triage queue.\n\n"
        f"Open it: {base_url}/triage/{task_id}\n\n"
        "This message carries no patient details: sign in to see them.\n"
    )


def send_due_alerts(session: Session, config: Config, now: datetime) -> AlertRun:
    """Mail every alert that is due. Without an address or a mail server, nothing is sent
    and the alerts wait (the staff home page says so)."""
    run = AlertRun()
    if not config.smtp_url or not config.settings.urgent_alert_email:
        return run
    session.execute(
        update(AlertMail)
        .where(AlertMail.status == c.MAIL_SENDING, AlertMail.claimed_at < now - STALE_CLAIM)
        .values(status=c.MAIL_PENDING)
    )
    session.commit()
    due = session.scalars(
        select(AlertMail.id)
        .where(
            AlertMail.status == c.MAIL_PENDING,
            (AlertMail.next_attempt_at.is_(None)) | (AlertMail.next_attempt_at <= now),
        )
        .order_by(AlertMail.id)
        .limit(BATCH)
    ).all()
    for mail_id in due:
        if not _claim(session, mail_id, now):
            continue  # another worker has it
        mail = session.get(AlertMail, mail_id)
        assert mail is not None
        try:
            deliver(
                config,
                config.settings.urgent_alert_email,
                alert_body(mail.task_id, config.public_base_url),
            )
        except (OSError, smtplib.SMTPException) as exc:
            _retry(mail, now, exc)
            run.failed += 1
        else:
            mail.status, mail.sent_at, mail.last_error = c.MAIL_SENT, now, None
            run.sent += 1
        mail.attempts += 1
        session.commit()
    return run


def _claim(session: Session, mail_id: int, now: datetime) -> bool:
    claimed = session.execute(
        update(AlertMail)
        .where(AlertMail.id == mail_id, AlertMail.status == c.MAIL_PENDING)
        .values(status=c.MAIL_SENDING, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return claimed.rowcount == 1


def _retry(mail: AlertMail, now: datetime, exc: Exception) -> None:
    code = getattr(exc, "smtp_code", None)
    mail.status = c.MAIL_PENDING
    mail.last_error = f"{type(exc).__name__}{f' {code}' if code else ''}"[:200]
    mail.next_attempt_at = now + min(RETRY_CAP, RETRY_BASE * (2**mail.attempts))


def deliver(config: Config, to: str, body: str) -> None:
    """One mail through `SCREENING_SMTP_URL`: smtp://, smtp+starttls:// or smtps://."""
    assert config.smtp_url is not None
    url = urlsplit(config.smtp_url)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = SUBJECT, config.mail_from, to
    message.set_content(body)
    host, secure = url.hostname or "localhost", url.scheme == "smtps"
    port = url.port or (465 if secure else 587 if url.scheme == "smtp+starttls" else 25)
    smtp_class = smtplib.SMTP_SSL if secure else smtplib.SMTP
    kwargs = {"context": ssl.create_default_context()} if secure else {}
    with smtp_class(host, port, timeout=SMTP_TIMEOUT_SECONDS, **kwargs) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


def alert_status(session: Session, config: Config) -> AlertStatus:
    waiting, last_error = session.execute(
        select(func.count(), func.max(AlertMail.last_error)).where(AlertMail.status != c.MAIL_SENT)
    ).one()
    configured = bool(config.smtp_url and config.settings.urgent_alert_email)
    return AlertStatus(configured=configured, waiting=waiting, last_error=last_error)
