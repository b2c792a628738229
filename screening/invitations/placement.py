"""Screening episodes: who is invited, for which appointment, and by which route (SPEC §6).

An episode is one patient × questionnaire × re-screen window. It belongs to the appointment
that created it; a later appointment of the same patient for the same questionnaire inside
the window attaches to it and creates no new invitation. A patient without a usable mobile,
or under the SMS age, is put on the phone-call list (`needs_call`): the human route.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..config import Clinic, Config
from ..core import clock
from ..core import constants as c
from ..models import Appointment, Episode, OutboundMessage
from .opt_outs import is_opted_out

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
    """Bring episodes up to date with one imported appointment row. A `deceased` row is
    not placed: the import applies a death itself (`appointments.deaths`), since it
    closes tasks too, a step above this one."""
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
