"""The mail outbox (SPEC §10, §13): queue a mail with what caused it; the worker sends it.

A mail is a `Mail` row of a kind; what it says is composed at send time by the kind's
composer, handed in by the caller (the urgent alert by triage, a referral's notice and
reminder and a practice's letter by referrals), so this module knows no kind's words.
Sent through SMTP with the standard library. A failure is recorded by its kind (never the
server's text, which may echo addresses) and retried with backoff until it goes.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..models import Mail

RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
STALE_CLAIM = timedelta(minutes=10)
SMTP_TIMEOUT_SECONDS = 20
BATCH = 50
SECURE_SCHEMES = ("smtp+starttls", "smtps")


class InsecureTransport(Exception):
    """Patient detail would cross the network unencrypted: held back, not sent."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


@dataclass(frozen=True)
class Composed:
    """What a mail says. `to` None means its mailbox is not set: it waits until it is."""

    to: str | None
    subject: str
    body: str
    attachment: Attachment | None = None


Composer = Callable[[Session, Config, Mail], Composed]


@dataclass
class MailRun:
    sent: int = 0
    failed: int = 0

    def summary(self) -> str:
        return f"mail sent {self.sent}, retrying {self.failed}"


def queue(
    session: Session,
    kind: str,
    now: datetime,
    *,
    task_id: int | None = None,
    referral_id: int | None = None,
    letter_id: int | None = None,
    to: str | None = None,
) -> Mail:
    """Add a mail to the caller's transaction: it is queued only if that commits."""
    mail = Mail(
        kind=kind,
        task_id=task_id,
        referral_id=referral_id,
        letter_id=letter_id,
        to_address=to,
        status=c.MAIL_PENDING,
        attempts=0,
        created_at=now,
    )
    session.add(mail)
    return mail


def send_due(
    session: Session, config: Config, now: datetime, composers: Mapping[str, Composer]
) -> MailRun:
    """Send every mail that is due. Without a mail server nothing is sent and the mail
    waits (the staff home page says so)."""
    run = MailRun()
    if not config.smtp_url:
        return run
    session.execute(
        update(Mail)
        .where(Mail.status == c.MAIL_SENDING, Mail.claimed_at < now - STALE_CLAIM)
        .values(status=c.MAIL_PENDING)
    )
    session.commit()
    for mail_id in _due(session, now, kinds=tuple(composers)):
        mail = session.get(Mail, mail_id)
        assert mail is not None
        composed = composers[mail.kind](session, config, mail)
        if composed.to is None or not _claim(session, mail_id, now):
            continue  # its mailbox is not set, or another worker has it
        try:
            deliver(config, composed)
        except (OSError, smtplib.SMTPException, InsecureTransport) as exc:
            _retry(mail, now, exc)
            run.failed += 1
        else:
            mail.status, mail.sent_at, mail.last_error = c.MAIL_SENT, now, None
            run.sent += 1
        mail.attempts += 1
        session.commit()
    return run


@dataclass(frozen=True)
class Waiting:
    """Mail of one kind not sent yet, and the kind of its last failure (admins' set-up)."""

    kind: str
    count: int
    last_error: str | None


def waiting(session: Session) -> list[Waiting]:
    rows = session.execute(
        select(Mail.kind, func.count(), func.max(Mail.last_error))
        .where(Mail.status.in_(c.UNSENT_MAIL_STATUSES))
        .group_by(Mail.kind)
        .order_by(Mail.kind)
    )
    return [Waiting(kind, count, last_error) for kind, count, last_error in rows]


def _due(session: Session, now: datetime, kinds: tuple[str, ...]) -> list[int]:
    """Due mail of the kinds that can go now (a kind whose mailbox is not set waits)."""
    return list(
        session.scalars(
            select(Mail.id)
            .where(
                Mail.status == c.MAIL_PENDING,
                Mail.kind.in_(kinds),
                (Mail.next_attempt_at.is_(None)) | (Mail.next_attempt_at <= now),
            )
            # The urgent alert first: after an outage it must not wait behind letters.
            .order_by(case((Mail.kind == c.MAIL_URGENT_ALERT, 0), else_=1), Mail.id)
            .limit(BATCH)
        )
    )


def _claim(session: Session, mail_id: int, now: datetime) -> bool:
    claimed = session.execute(
        update(Mail)
        .where(Mail.id == mail_id, Mail.status == c.MAIL_PENDING)
        .values(status=c.MAIL_SENDING, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.expire_all()
    return claimed.rowcount == 1


def _retry(mail: Mail, now: datetime, exc: Exception) -> None:
    code = getattr(exc, "smtp_code", None)
    mail.status = c.MAIL_PENDING
    mail.last_error = f"{type(exc).__name__}{f' {code}' if code else ''}"[:200]
    mail.next_attempt_at = now + min(RETRY_CAP, RETRY_BASE * (2**mail.attempts))


def encrypted(config: Config) -> bool:
    """Whether mail leaves over TLS (STARTTLS or implicit), as patient detail must."""
    return bool(config.smtp_url) and urlsplit(config.smtp_url or "").scheme in SECURE_SCHEMES


def may_carry_patient_detail(config: Config) -> bool:
    """In production only an encrypted relay (such as NHSmail) may carry a letter."""
    return bool(config.smtp_url) and (config.env != "production" or encrypted(config))


def deliver(config: Config, composed: Composed) -> None:
    """One mail through `SCREENING_SMTP_URL`: smtp://, smtp+starttls:// or smtps://."""
    assert config.smtp_url is not None and composed.to is not None
    if composed.attachment is not None and not may_carry_patient_detail(config):
        raise InsecureTransport
    url = urlsplit(config.smtp_url)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = (
        composed.subject,
        config.mail_from,
        composed.to,
    )
    message.set_content(composed.body)
    if composed.attachment is not None:
        attachment = composed.attachment
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
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
