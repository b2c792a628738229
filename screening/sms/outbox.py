"""The outbox: a message is a row first, and is sent from a claimed row.

Claiming is one `UPDATE … RETURNING` statement. On PostgreSQL its candidate rows are
picked `FOR UPDATE SKIP LOCKED`, so any number of workers on any number of machines never
claim the same row; on SQLite a single write statement holds the database's write lock,
so one claimer at a time is safe. A message is sent only from `claimed`, and everything
that could make it wrong (a completed form, a cancelled appointment, an opt-out, the
appointment having begun) is checked again just before sending.

The one window in which a message can go twice: Twilio accepted it, and the worker died
before committing `sent`. The row stays `claimed`; after `STALE_CLAIM` the sweeper puts it
back to `pending` and it is sent again. Twilio has no idempotency key, so this cannot be
closed, only kept small: each message is committed the moment Twilio answers (no batching
of the bookkeeping), and claims are taken in small batches so a crash strands few rows.
A timeout or 5xx after the request left is the same window seen from the other side
(`SmsError.maybe_sent`): the message is retried, and may arrive twice.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from .. import constants as c
from ..clock import LONDON
from ..config import Config
from ..invitations import in_quiet_hours, quiet_window
from ..models import Appointment, Episode, OptOut, OutboundMessage, Patient
from ..opt_outs import record_opt_out
from ..tokens import link_token, link_url
from . import (
    ConfigurationSmsError,
    OptedOutError,
    OutgoingSms,
    PermanentSmsError,
    SmsClient,
    TransientSmsError,
    status_callback_url,
)
from .recording import Sent, record_sent, sending_connection
from .wording import DEFAULT_FOLLOW_UP, DEFAULT_INVITE, DEFAULT_REMINDER, render, render_plain

log = logging.getLogger(__name__)

CLAIM_BATCH = 50
STALE_CLAIM = timedelta(minutes=10)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)


@dataclass
class Dispatched:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    reclaimed: int = 0
    stopped: str | None = None  # why the run stopped early (a configuration error)

    def summary(self) -> str:
        text = (
            f"sent {self.sent}, retrying {self.retried}, failed {self.failed}, "
            f"cancelled {self.cancelled}, reclaimed {self.reclaimed}"
        )
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


def drain(
    session: Session,
    config: Config,
    client: SmsClient,
    now: datetime,
    *,
    worker: str,
    limit: int | None = None,
) -> Dispatched:
    """Send every message that is ready at `now` (at most `limit`)."""
    result = Dispatched(reclaimed=reclaim_stale(session, now))
    try:
        with sending_connection(session.get_bind()) as connection:
            _Run(session, connection, config, client, now, result).send_batches(worker, limit)
    finally:
        # The common path writes with plain statements: objects the caller's session
        # holds (episodes it has just scheduled, say) must be read again before use.
        session.expire_all()
    return result


def ready_to_claim(now: datetime, size: int) -> Select[tuple[int]]:
    """The next `size` messages that may go at `now`, oldest first."""
    return (
        select(OutboundMessage.id)
        .where(
            OutboundMessage.status == c.MESSAGE_PENDING,
            OutboundMessage.due_at <= now,
            or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now),
        )
        .order_by(OutboundMessage.id)
        .limit(size)
    )


def claim(session: Session, *, worker: str, now: datetime, size: int) -> list[int]:
    ready = ready_to_claim(now, size)
    if session.get_bind().dialect.name == "postgresql":
        # Computed once, as a materialised CTE. As `IN (subquery)` the planner may pick a
        # nested loop that runs the locking subquery again for every outer row, each run
        # skipping what the last one locked, so one claim took every pending row.
        picked = ready.with_for_update(skip_locked=True).cte("ready").prefix_with("MATERIALIZED")
        candidates = select(picked.c.id)
    else:
        candidates = ready
    claimed = session.scalars(
        update(OutboundMessage)
        .where(
            OutboundMessage.id.in_(candidates.scalar_subquery()),
            # Re-checked after any lock wait, so a row can only be claimed from pending.
            OutboundMessage.status == c.MESSAGE_PENDING,
        )
        .values(status=c.MESSAGE_CLAIMED, claimed_by=worker, claimed_at=now)
        .returning(OutboundMessage.id)
    ).all()
    session.commit()
    return sorted(claimed)


def release(session: Session, message_ids: list[int]) -> None:
    """Give claimed rows back untouched (the run is stopping)."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(message_ids), OutboundMessage.status == c.MESSAGE_CLAIMED)
        .values(status=c.MESSAGE_PENDING, claimed_by=None, claimed_at=None)
    )
    session.commit()


def reclaim_stale(session: Session, now: datetime) -> int:
    """Claims older than STALE_CLAIM belong to a dead worker: make them pending again."""
    stale = session.scalars(
        update(OutboundMessage)
        .where(
            OutboundMessage.status == c.MESSAGE_CLAIMED,
            OutboundMessage.claimed_at < now - STALE_CLAIM,
        )
        .values(status=c.MESSAGE_PENDING, claimed_by=None, claimed_at=None)
        .returning(OutboundMessage.id)
    ).all()
    session.commit()
    if stale:
        log.warning("reclaimed %d messages claimed by a worker that stopped", len(stale))
    return len(stale)


# --- one run, message by message --------------------------------------------------------


@dataclass
class _Run:
    """One `drain`: what sending each message needs.

    The common path (checks pass, the provider accepts) is a read, the send and a record,
    each one plain statement on `connection` (see `recording`). The rarer outcomes go
    through the models, in `session`.
    """

    session: Session
    connection: Connection
    config: Config
    client: SmsClient
    now: datetime
    result: Dispatched

    def send_batches(self, worker: str, limit: int | None) -> None:
        result = self.result
        while limit is None or result.sent + result.failed + result.retried < limit:
            batch = claim(self.session, worker=worker, now=self.now, size=CLAIM_BATCH)
            if not batch:
                return
            for position, message_id in enumerate(batch):
                if not self.send_one(message_id):
                    release(self.session, batch[position:])
                    return

    def send_one(self, message_id: int) -> bool:
        """Send one claimed message and record the outcome; False means stop the run."""
        session, config, now, result = self.session, self.config, self.now, self.result
        ready = _read_ready(self.connection, message_id)
        if ready is None or ready.status != c.MESSAGE_CLAIMED:
            return True
        reason = why_not_send(config, ready, now)
        if reason == "quiet hours":
            moment = _end_of_quiet_hours(now, config.settings.quiet_hours)
            _retry_at(_message(session, ready), moment)
            session.commit()
            return True
        if reason is not None:
            _finish(_message(session, ready), c.MESSAGE_CANCELLED, now)
            log.info("message %s cancelled before sending: %s", ready.id, reason)
            session.commit()
            result.cancelled += 1
            return True
        try:
            accepted = self.client.send(_outgoing(config, ready, now))
        except ConfigurationSmsError as exc:
            log.error("SMS sending stopped: the provider refused our configuration (%s)", exc)
            result.stopped = f"configuration: {exc}"
            return False  # the claim stays for `release`
        except OptedOutError as exc:
            _opted_out(session, _message(session, ready), now, exc.code)
            result.failed += 1
        except PermanentSmsError as exc:
            _failed_for_good(_message(session, ready), now, exc.code)
            result.failed += 1
        except TransientSmsError as exc:
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
