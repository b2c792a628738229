"""When invitations and reminders fall due (SPEC §6: scheduling), and putting them in the
outbox with the link each carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ..config import Clinic, Config
from ..core import clock
from ..core import constants as c
from ..models import Appointment, Episode, OutboundMessage
from .opt_outs import is_opted_out
from .placement import choose_route
from .quiet_hours import in_quiet_hours
from .tokens import link_token, token_hash

SEND_FROM = time(9, 0)
REMINDER_GAP = timedelta(hours=24)


def due_at(appointment_at: datetime, days_before: int) -> datetime:
    """09:00 Europe/London on the calendar day `days_before` before the appointment's date."""
    day = appointment_at.astimezone(clock.LONDON).date() - timedelta(days=days_before)
    return datetime.combine(day, SEND_FROM, tzinfo=clock.LONDON).astimezone(UTC)


def latest_appointment_due(now: datetime, days_before: int) -> datetime:
    """Appointments before this moment have a message due at `now` (SPEC §6).

    A message is due from 09:00 on the day `days_before` before the appointment's date,
    so at `now` every appointment dated up to `days_before` days after the last 09:00 is due.
    """
    local = now.astimezone(clock.LONDON)
    last_nine = local.date() if local.time() >= SEND_FROM else local.date() - timedelta(days=1)
    first_not_due = last_nine + timedelta(days=days_before + 1)
    return datetime.combine(first_not_due, time(0), tzinfo=clock.LONDON).astimezone(UTC)


@dataclass
class Created:
    invitations: int = 0
    reminders: int = 0


def create_due_messages(session: Session, config: Config, now: datetime) -> Created:
    """Put every invitation and reminder due at `now` into the outbox (idempotent)."""
    created = Created()
    if in_quiet_hours(now, config.settings.quiet_hours):
        return created  # nothing is due until the quiet hours end
    for clinic in config.clinics.values():
        created.invitations += _create_invitations(session, config, clinic, now)
        if clinic.remind_days_before > 0:
            created.reminders += _create_reminders(session, config, clinic, now)
    session.commit()
    return created


def _create_invitations(session: Session, config: Config, clinic: Clinic, now: datetime) -> int:
    already = select(OutboundMessage.id).where(
        OutboundMessage.episode_id == Episode.id, OutboundMessage.kind == c.MESSAGE_INVITE
    )
    episodes = session.scalars(
        select(Episode)
        .join(Appointment, Episode.appointment_id == Appointment.id)
        .where(
            Episode.clinic_code == clinic.code,
            Episode.status == c.EPISODE_SCHEDULED,
            Appointment.status == c.APPOINTMENT_BOOKED,
            Appointment.appointment_at > now,
            Appointment.appointment_at < latest_appointment_due(now, clinic.invite_days_before),
            ~already.exists(),
        )
    ).all()
    count = 0
    for episode in episodes:
        choose_route(session, config, episode)  # the mobile or the age may have changed
        if episode.status != c.EPISODE_SCHEDULED:
            continue
        _issue_link(config, episode)
        session.add(_message(episode, c.MESSAGE_INVITE, now))
        count += 1
    return count


def _create_reminders(session: Session, config: Config, clinic: Clinic, now: datetime) -> int:
    invite = aliased(OutboundMessage)
    already = select(OutboundMessage.id).where(
        OutboundMessage.episode_id == Episode.id, OutboundMessage.kind == c.MESSAGE_REMINDER
    )
    episodes = session.scalars(
        select(Episode)
        .join(Appointment, Episode.appointment_id == Appointment.id)
        .join(invite, (invite.episode_id == Episode.id) & (invite.kind == c.MESSAGE_INVITE))
        .where(
            Episode.clinic_code == clinic.code,
            # Opening the link or answering part of the form does not stop the reminder.
            Episode.status.in_((c.EPISODE_INVITED, c.EPISODE_OPENED, c.EPISODE_STARTED)),
            Appointment.status == c.APPOINTMENT_BOOKED,
            Appointment.appointment_at > now,
            Appointment.appointment_at < latest_appointment_due(now, clinic.remind_days_before),
            invite.sent_at <= now - REMINDER_GAP,
            ~already.exists(),
        )
    ).all()
    count = 0
    for episode in episodes:
        if is_opted_out(session, episode.patient.mobile):
            continue
        session.add(_message(episode, c.MESSAGE_REMINDER, now))
        count += 1
    return count


def _issue_link(config: Config, episode: Episode) -> None:
    """Store the hash of the episode's link and when it stops working."""
    appointment = episode.appointment
    assert appointment is not None
    token = link_token(config.secret_key, episode.public_id)
    episode.token_hash = token_hash(token)
    episode.token_expires_at = appointment.appointment_at + timedelta(
        days=config.settings.link_expiry_days_after_appointment
    )


def _message(episode: Episode, kind: str, now: datetime) -> OutboundMessage:
    appointment = episode.appointment
    assert appointment is not None
    return OutboundMessage(
        episode=episode,
        kind=kind,
        status=c.MESSAGE_PENDING,
        due_at=now,
        # Nothing may arrive once the appointment has begun (SPEC §9).
        valid_until=appointment.appointment_at,
    )
