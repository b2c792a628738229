"""Screening episodes: who is invited, for which appointment, and by which route (SPEC §6).

An episode is one patient × questionnaire × re-screen window. It belongs to the appointment
that created it; a later appointment of the same patient for the same questionnaire inside
the window attaches to it and creates no new invitation. A patient without a usable mobile,
or under the SMS age, is put on the phone-call list (`needs_call`): the human route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from . import clock
from . import constants as c
from .config import Clinic, Config
from .models import Appointment, Episode, OutboundMessage, Patient
from .opt_outs import is_opted_out
from .tokens import link_token, token_hash
from .triage.tasks import close_for_deceased

# Episodes that no invitation has reached yet: their owner and route may still change.
NOT_YET_INVITED = frozenset({c.EPISODE_SCHEDULED, c.EPISODE_NEEDS_CALL, c.EPISODE_OPTED_OUT})
# Episodes that are over, for scheduling purposes.
CLOSED = frozenset({c.EPISODE_COMPLETED, c.EPISODE_CANCELLED})
AGE_BANDS = (
    (16, "under 16"),
    (25, "16-24"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
    (65, "55-64"),
    (75, "65-74"),
    (85, "75-84"),
)


def place_in_episode(session: Session, config: Config, appointment: Appointment) -> None:
    """Bring episodes up to date with one imported appointment row."""
    if appointment.status == c.APPOINTMENT_DECEASED:
        stop_everything_for(session, appointment.patient)
        return
    if appointment.status == c.APPOINTMENT_CANCELLED:
        _release(session, appointment)
        return
    if appointment.status != c.APPOINTMENT_BOOKED:
        return  # attended and dna are recorded on the appointment for the report
    place_booked(config, appointment, _SessionEpisodes(session))


class EpisodeSource(Protocol):
    """Where `place_booked` finds and makes episodes.

    `_SessionEpisodes` queries the database for each row. The importer passes its own,
    which answers from what it read for a whole batch and holds plain records with the
    same attribute names as the models, so the rules below are written once.
    """

    def in_window(self, appointment: Any, clinic: Clinic) -> Any: ...

    def new(self, appointment: Any, clinic: Clinic) -> Any: ...

    def is_opted_out(self, phone: str | None) -> bool: ...


def place_booked(config: Config, appointment: Any, episodes: EpisodeSource) -> None:
    """A booked appointment: join the episode in its window, or start one; choose the route."""
    clinic = config.clinics[appointment.clinic_code]
    episode = appointment.episode or episodes.in_window(appointment, clinic)
    if episode is None:
        episode = episodes.new(appointment, clinic)
    elif episode.status in NOT_YET_INVITED and _should_own(episode, appointment):
        episode.appointment = appointment
        episode.clinic_code = appointment.clinic_code
        episode.window_ends_at = appointment.appointment_at + timedelta(days=clinic.rescreen_days)
    appointment.episode = episode
    if episode.appointment is appointment:
        episode.appointment_at = appointment.appointment_at  # the funnel's date (SPEC §7)
    if episode.status in NOT_YET_INVITED:
        route(config, episode, episodes.is_opted_out)


class _SessionEpisodes:
    def __init__(self, session: Session):
        self.session = session

    def in_window(self, appointment: Appointment, clinic: Clinic) -> Episode | None:
        return _episode_in_window(self.session, appointment, clinic)

    def new(self, appointment: Appointment, clinic: Clinic) -> Episode:
        episode = Episode(
            patient=appointment.patient,
            appointment=appointment,
            **new_episode_values(appointment, clinic),
        )
        self.session.add(episode)
        return episode

    def is_opted_out(self, phone: str | None) -> bool:
        return is_opted_out(self.session, phone)


def _episode_in_window(
    session: Session, appointment: Appointment, clinic: Clinic
) -> Episode | None:
    return session.scalar(
        select(Episode)
        .where(
            Episode.patient_id == appointment.patient.id,
            Episode.questionnaire_id == clinic.questionnaire,
            Episode.status != c.EPISODE_CANCELLED,
            Episode.window_ends_at > appointment.appointment_at,
        )
        .order_by(Episode.id.desc())
        .limit(1)
    )


def new_episode_values(appointment: Any, clinic: Clinic) -> dict[str, Any]:
    """The columns of a new episode, besides its patient and appointment."""
    patient = appointment.patient
    return {
        "status": c.EPISODE_SCHEDULED,
        "clinic_code": clinic.code,
        "questionnaire_id": clinic.questionnaire,
        "window_ends_at": appointment.appointment_at + timedelta(days=clinic.rescreen_days),
        "language": patient.language,
        "age_band": age_band(patient.date_of_birth, appointment.appointment_at),
        "sex": patient.sex,
        "ethnicity": patient.ethnicity,
        "imd_decile": patient.imd_decile,
    }


def _should_own(episode: Episode, appointment: Appointment) -> bool:
    """An uninvited episode moves to the earliest appointment that can still be invited for."""
    owner = episode.appointment
    if owner is None or owner is appointment:
        return owner is None
    if owner.status != c.APPOINTMENT_BOOKED or owner.appointment_at <= clock.now():
        return True
    return appointment.appointment_at < owner.appointment_at


def choose_route(session: Session, config: Config, episode: Episode) -> None:
    """SMS when the patient has a mobile, is old enough and has not opted out; else a call."""
    route(config, episode, lambda phone: is_opted_out(session, phone))


def route(config: Config, episode: Any, opted_out: Callable[[str | None], bool]) -> None:
    """`choose_route` for an episode or an importer's record of one."""
    patient = episode.patient
    appointment = episode.appointment
    assert appointment is not None
    reason = None
    if patient.mobile is None:
        reason = c.NEEDS_CALL_NO_MOBILE
    elif age_on(patient.date_of_birth, appointment.appointment_at) < (
        config.settings.min_age_for_sms
    ):
        reason = c.NEEDS_CALL_UNDER_AGE
    if reason is not None:
        episode.status, episode.needs_call_reason = c.EPISODE_NEEDS_CALL, reason
    elif opted_out(patient.mobile):
        episode.status, episode.needs_call_reason = c.EPISODE_OPTED_OUT, None
    else:
        episode.status, episode.needs_call_reason = c.EPISODE_SCHEDULED, None


def _release(session: Session, appointment: Appointment) -> None:
    """A cancelled appointment gives its episode to another booked one, or cancels it."""
    episode = appointment.episode
    if episode is None or episode.appointment is not appointment:
        return
    if episode.status == c.EPISODE_COMPLETED:
        return
    successor = session.scalar(
        select(Appointment)
        .where(
            Appointment.episode_id == episode.id,
            Appointment.id != appointment.id,
            Appointment.status == c.APPOINTMENT_BOOKED,
            Appointment.appointment_at > clock.now(),
        )
        .order_by(Appointment.appointment_at)
        .limit(1)
    )
    if successor is not None:
        episode.appointment = successor
        return
    episode.status = c.EPISODE_CANCELLED
    episode.cancelled_at = clock.now()
    cancel_unsent(session, [episode.id])


def stop_everything_for(session: Session, patient: Patient) -> None:
    """A deceased patient: no unsent message of theirs may ever go."""
    episode_ids = list(
        session.scalars(
            select(Episode.id).where(
                Episode.patient_id == patient.id, Episode.status != c.EPISODE_COMPLETED
            )
        )
    )
    session.execute(
        update(Episode)
        .where(Episode.id.in_(episode_ids))
        .values(status=c.EPISODE_CANCELLED, cancelled_at=clock.now())
    )
    cancel_unsent(session, episode_ids)
    # Their active tasks close too, so nobody phones the family of a patient who has died.
    close_for_deceased(session, patient.id, clock.now())


def cancel_unsent(session: Session, episode_ids: list[int]) -> None:
    if not episode_ids:
        return
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.episode_id.in_(episode_ids),
            OutboundMessage.status == c.MESSAGE_PENDING,
        )
        .values(status=c.MESSAGE_CANCELLED, final_at=clock.now())
    )


# --- ages ------------------------------------------------------------------------------------


def age_on(born: date | None, moment: datetime) -> int:
    """Whole years of age on the (London) calendar day of `moment`; unknown counts as adult."""
    if born is None:
        return 200
    day = moment.astimezone(clock.LONDON).date()
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def age_band(born: date | None, moment: datetime) -> str | None:
    if born is None:
        return None
    age = age_on(born, moment)
    for limit, band in AGE_BANDS:
        if age < limit:
            return band
    return "85+"


# --- when messages are due (SPEC §6: scheduling) ------------------------------------------

SEND_FROM = time(9, 0)
REMINDER_GAP = timedelta(hours=24)


def due_at(appointment_at: datetime, days_before: int) -> datetime:
    """09:00 Europe/London on the calendar day `days_before` before the appointment's date."""
    day = appointment_at.astimezone(clock.LONDON).date() - timedelta(days=days_before)
    return datetime.combine(day, SEND_FROM, tzinfo=clock.LONDON).astimezone(UTC)


def quiet_window(quiet_hours: str) -> tuple[time, time]:
    start, end = quiet_hours.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def in_quiet_hours(moment: datetime, quiet_hours: str) -> bool:
    start, end = quiet_window(quiet_hours)
    local = moment.astimezone(clock.LONDON).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


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
