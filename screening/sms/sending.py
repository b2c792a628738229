"""Sending one claimed message: the checks just before it goes, the call, the outcome.

Everything that could make a message wrong (a completed form, a cancelled appointment, an
opt-out, the appointment having begun, quiet hours) is read again here, after the claim,
so a change made since the claim still stops it. What the provider answers decides what
happens next: recorded as sent at once, retried later with backoff, failed for good (the
patient is phoned instead), or the run stopped (the provider refused our configuration).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session, joinedload

from ..config import Config
from ..config.wording import (
    DEFAULT_FOLLOW_UP,
    DEFAULT_INVITE,
    DEFAULT_REMINDER,
    render,
    render_plain,
)
from ..core import constants as c
from ..core.clock import LONDON
from ..invitations.opt_outs import record_opt_out
from ..invitations.quiet_hours import in_quiet_hours, quiet_window
from ..invitations.tokens import link_token, link_url
from ..models import Appointment, Episode, OptOut, OutboundMessage, Patient
from .client import (
    ConfigurationSmsError,
    OptedOutError,
    OutgoingSms,
    PermanentSmsError,
    RateLimitedSmsError,
    SmsClient,
    TransientSmsError,
    status_callback_url,
)
from .pacing import Pace, Unpaced
from .recording import Sent, record_sent

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
# A wait longer than this for its turn, and a message is read and checked again.
RECHECK_AFTER_SECONDS = 0.5
BACKOFF_CAP = timedelta(hours=1)


@dataclass
class Dispatched:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    reclaimed: int = 0
    stopped: str | None = None  # why the run stopped early (a configuration error)

    def add(self, other: Dispatched) -> None:
        """Count in another sender's outcomes (one per thread of a concurrent run)."""
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.reclaimed += other.reclaimed
        self.stopped = self.stopped or other.stopped

    def summary(self) -> str:
        text = (
            f"sent {self.sent}, retrying {self.retried}, failed {self.failed}, "
            f"cancelled {self.cancelled}, reclaimed {self.reclaimed}"
        )
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


@dataclass
class Sender:
    """Sends claimed messages one at a time, each checked again just before it goes.

    The common path (checks pass, the provider accepts) is a read, the send and a record,
    each one plain statement on `connection` (see `recording`). The rarer outcomes go
    through the models, in `session`. A concurrent outbox runs one sender per thread, each
    with its own session and connection; `config`, `client` and `pace` are shared.
    """

    session: Session
    connection: Connection
    config: Config
    client: SmsClient
    now: datetime
    pace: Pace | Unpaced = field(default_factory=Unpaced)  # one per run, shared
    result: Dispatched = field(default_factory=Dispatched)

    def __post_init__(self) -> None:
        # Made on the thread that will send (a concurrent run makes one per thread).
        self.client.prepare()
        self.clock_offset = self.pace.clock_offset(self.connection)

    def send_one(self, message_id: int) -> bool:
        """Send one claimed message and record the outcome; False means stop the run."""
        session, config, now, result = self.session, self.config, self.now, self.result
        ready = self._sendable(message_id)
        if ready is None:
            return True
        if self._wait_turn() > RECHECK_AFTER_SECONDS:
            # Held back for a while (the provider's 429): a STOP or a cancellation may
            # have come in meanwhile.
            ready = self._sendable(message_id)
            if ready is None:
                return True
        outgoing = _outgoing(config, ready, now)
        try:
            accepted = self.client.send(outgoing)
        except ConfigurationSmsError as exc:
            log.error("SMS sending stopped: the provider refused our configuration (%s)", exc)
            result.stopped = f"configuration: {exc}"
            return False  # the claim stays for the caller to release
        except OptedOutError as exc:
            _opted_out(session, _message(session, ready), now, exc.code)
            result.failed += 1
        except PermanentSmsError as exc:
            _failed_for_good(_message(session, ready), now, exc.code)
            result.failed += 1
        except TransientSmsError as exc:
            if isinstance(exc, RateLimitedSmsError):
                # With a cap, every worker of the database waits; without, this run's senders.
                self.pace.hold_back(self.connection)
            message = _message(session, ready)
            message.attempts += 1
            message.error_code = exc.code
            _retry_at(message, now + backoff(message.attempts))
            result.retried += 1
        else:
            # Committed the moment the provider answers, message by message: this keeps the
            # duplicate window small.
            record_sent(
                self.connection,
                Sent(
                    message_id=ready.id,
                    episode_id=ready.episode_id,
                    invite=ready.kind == c.MESSAGE_INVITE,
                    provider_sid=accepted.provider_sid,
                    provider_status=accepted.provider_status,
                    at=now,
                ),
            )
            result.sent += 1
            return True
        session.commit()  # the rarer outcomes, likewise at once
        return True

    def _sendable(self, message_id: int) -> Ready | None:
        """The message, read afresh, if it is still to go now; otherwise None, with what
        happens to it instead (deferred past quiet hours, cancelled) already recorded."""
        session, config, now = self.session, self.config, self.now
        ready = _read_ready(self.connection, message_id)
        if ready is None or ready.status != c.MESSAGE_CLAIMED:
            return None
        reason = why_not_send(config, ready, now)
        if reason == "quiet hours":
            moment = _end_of_quiet_hours(now, config.settings.quiet_hours)
            _retry_at(_message(session, ready), moment)
            session.commit()
            return None
        if reason is not None:
            _finish(_message(session, ready), c.MESSAGE_CANCELLED, now)
            log.info("message %s cancelled before sending: %s", ready.id, reason)
            session.commit()
            self.result.cancelled += 1
            return None
        return ready

    def _wait_turn(self) -> float:
        """Wait until a message may go (its slot, or the end of a hold after a 429); the
        seconds waited."""
        started = time.monotonic()
        self.pace.wait_for_slot(self.connection, self.clock_offset)
        return time.monotonic() - started


@dataclass(frozen=True)
class Ready:
    """A claimed message with what the checks before sending need, read in one query."""

    id: int
    kind: str
    status: str
    episode_id: int
    episode_status: str
    public_id: str
    appointment_status: str | None
    appointment_at: datetime | None
    clinic_code: str | None
    mobile: str | None
    opted_out: bool
    valid_until: datetime | None

    @property
    def about_an_appointment(self) -> bool:
        """An invitation or reminder for an appointment; not a follow-up questionnaire's
        invitation (no appointment) nor the unable-to-contact text."""
        return self.kind != c.MESSAGE_UNABLE_TO_CONTACT and self.appointment_at is not None


# Plain table statements, built once: the hot path skips the ORM's own statement layer.
MESSAGES, EPISODES = OutboundMessage.__table__, Episode.__table__
PATIENTS, APPOINTMENTS, OPT_OUTS = Patient.__table__, Appointment.__table__, OptOut.__table__
_READY = (
    select(
        MESSAGES.c.id,
        MESSAGES.c.kind,
        MESSAGES.c.status,
        EPISODES.c.id,
        EPISODES.c.status,
        EPISODES.c.public_id,
        APPOINTMENTS.c.status,
        APPOINTMENTS.c.appointment_at,
        # A follow-up has no appointment; its episode keeps the task's clinic (SPEC §11).
        func.coalesce(APPOINTMENTS.c.clinic_code, EPISODES.c.clinic_code),
        PATIENTS.c.mobile,
        OPT_OUTS.c.phone.is_not(None),
        MESSAGES.c.valid_until,
    )
    .join(EPISODES, MESSAGES.c.episode_id == EPISODES.c.id)
    .join(PATIENTS, EPISODES.c.patient_id == PATIENTS.c.id)
    .outerjoin(APPOINTMENTS, EPISODES.c.appointment_id == APPOINTMENTS.c.id)
    .outerjoin(OPT_OUTS, (OPT_OUTS.c.phone == PATIENTS.c.mobile) & OPT_OUTS.c.lifted_at.is_(None))
    .where(MESSAGES.c.id == bindparam("message_id"))
)


def _read_ready(connection: Connection, message_id: int) -> Ready | None:
    """Read afresh just before sending, so a form completed, an appointment cancelled or a
    STOP received since the claim still stops the message."""
    row = connection.execute(_READY, {"message_id": message_id}).one_or_none()
    connection.commit()  # SQLite: end the read, so the next writer is not kept waiting
    return None if row is None else Ready(*row)


def _message(session: Session, ready: Ready) -> OutboundMessage:
    """The message and its episode as models, read afresh: the session keeps objects
    across commits, and the plain updates of the common path do not touch them."""
    return session.execute(
        select(OutboundMessage)
        .options(joinedload(OutboundMessage.episode).joinedload(Episode.patient))
        .where(OutboundMessage.id == ready.id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def why_not_send(config: Config, ready: Ready, now: datetime) -> str | None:
    """Why the message must not go now, or None."""
    if ready.about_an_appointment:
        assert ready.appointment_at is not None
        if ready.appointment_status != c.APPOINTMENT_BOOKED:
            return "the appointment is no longer booked"
        if ready.appointment_at <= now:
            return "the appointment has begun"
    elif ready.valid_until is not None and ready.valid_until <= now:
        return "its day of validity has passed"
    if ready.kind == c.MESSAGE_UNABLE_TO_CONTACT:
        if ready.episode_status == c.EPISODE_CANCELLED:
            return "the episode is cancelled"
    elif ready.episode_status in (c.EPISODE_COMPLETED, c.EPISODE_CANCELLED, c.EPISODE_OPTED_OUT):
        return f"the episode is {ready.episode_status}"
    if ready.mobile is None:
        return "the patient has no usable mobile"
    if ready.opted_out:
        return "the number has opted out"
    if in_quiet_hours(now, config.settings.quiet_hours):
        return "quiet hours"
    return None


def _outgoing(config: Config, ready: Ready, now: datetime) -> OutgoingSms:
    assert ready.mobile is not None
    clinic = config.clinics.get(ready.clinic_code or "")
    hospital = clinic.hospital if clinic else config.hospital
    if not ready.about_an_appointment:
        return _outgoing_without_appointment(config, ready, hospital, now)
    assert ready.appointment_at is not None
    if ready.kind == c.MESSAGE_INVITE:
        template = (clinic.sms_invite if clinic else None) or DEFAULT_INVITE
    else:
        template = (clinic.sms_reminder if clinic else None) or DEFAULT_REMINDER
    link = link_url(config.public_base_url, link_token(config.secret_key, ready.public_id))
    body = render(template, hospital=hospital, appointment_at=ready.appointment_at, link=link)
    return OutgoingSms(
        to=ready.mobile,
        body=body,
        status_callback=status_callback_url(config),
        # Until the appointment begins (the client caps it at Twilio's maximum), so a
        # backlog at Twilio is dropped rather than delivered late.
        validity_period=int((ready.appointment_at - now).total_seconds()),
    )


def _outgoing_without_appointment(
    config: Config, ready: Ready, hospital: str, now: datetime
) -> OutgoingSms:
    """A follow-up questionnaire's invitation, or the unable-to-contact text: no date in
    the wording, valid at the provider for the day it was due (SPEC §11)."""
    assert ready.mobile is not None
    if ready.kind == c.MESSAGE_UNABLE_TO_CONTACT:
        body = render_plain(config.settings.unable_to_contact_sms or "", hospital=hospital)
    else:
        link = link_url(config.public_base_url, link_token(config.secret_key, ready.public_id))
        body = render_plain(DEFAULT_FOLLOW_UP, hospital=hospital, link=link)
    until = ready.valid_until or now + timedelta(seconds=c.DAY_VALIDITY_SECONDS)
    return OutgoingSms(
        to=ready.mobile,
        body=body,
        status_callback=status_callback_url(config),
        validity_period=int((until - now).total_seconds()),
    )


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, capped, so a struggling provider is not hammered."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempts - 1)))
    return delay * random.uniform(0.8, 1.2)


def _end_of_quiet_hours(now: datetime, quiet_hours: str) -> datetime:
    _, end = quiet_window(quiet_hours)
    local = now.astimezone(LONDON)
    candidate = datetime.combine(local.date(), end, tzinfo=LONDON)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=LONDON)
    return candidate


def _retry_at(message: OutboundMessage, moment: datetime) -> None:
    message.status = c.MESSAGE_PENDING
    message.next_attempt_at = moment
    message.claimed_by = message.claimed_at = None


def _finish(message: OutboundMessage, status: str, now: datetime) -> None:
    message.status = status
    message.final_at = now
    message.claimed_by = None


def _failed_for_good(message: OutboundMessage, now: datetime, code: int | None) -> None:
    """The provider refused the number: stop retrying and phone the patient instead."""
    _finish(message, c.MESSAGE_PERMANENT_FAILURE, now)
    message.attempts += 1
    message.error_code = code
    message.error_class = "permanent"
    episode = message.episode
    if episode.status in (c.EPISODE_SCHEDULED, c.EPISODE_INVITED):
        episode.status = c.EPISODE_SEND_FAILED
        episode.needs_call_reason = c.NEEDS_CALL_SEND_FAILED


def _opted_out(session: Session, message: OutboundMessage, now: datetime, code: int | None) -> None:
    """Twilio 21610: the number said STOP. Record it so nothing else goes to it."""
    _finish(message, c.MESSAGE_PERMANENT_FAILURE, now)
    message.attempts += 1
    message.error_code = code
    message.error_class = "opted_out"
    phone = message.episode.patient.mobile
    if phone is not None:
        record_opt_out(session, phone, source=c.OPT_OUT_PROVIDER, now=now)
    if message.episode.status in (c.EPISODE_SCHEDULED, c.EPISODE_INVITED):
        message.episode.status = c.EPISODE_OPTED_OUT
