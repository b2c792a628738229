"""Factories with keyword defaults: each test names only what it cares about."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from screening.appointments.clinics import sync_clinics
from screening.config.loaded import state
from screening.core import clock
from screening.core import constants as c
from screening.invitations.placement import place_in_episode
from screening.invitations.tokens import link_token, token_hash
from screening.models import Appointment, Episode, Patient, StaffUser, TriageTask
from screening.patient.responses import save_answer, submit
from screening.staff.accounts import create_user


def make_user(
    session: Session,
    *,
    email: str = "sp@example.nhs.uk",
    role: str = "prescriber",
    password: str = "correct horse battery",
    services: tuple[str, ...] = (),
) -> StaffUser:
    """A staff user; a partner answers for `services` (ids of config/services.yaml)."""
    user = create_user(session, email, password, role, services=services, known_services=services)
    session.commit()
    return user


def make_invited_episode(
    session: Session,
    *,
    clinic: str = "CARD-NUH",
    nhs_number: str = "9990000018",
    mobile: str | None = "+447400100001",
    date_of_birth: date = date(1960, 5, 17),
    appointment_at: datetime | None = None,
    language: str | None = None,
) -> tuple[Episode, str]:
    """An episode whose invitation went out: returns it and the token of its link."""
    config = state().config
    sync_clinics(session, config)
    appointment_at = appointment_at or clock.now() + timedelta(days=5)
    patient = Patient(
        nhs_number=nhs_number,
        given_name="Alex",
        family_name="Example",
        date_of_birth=date_of_birth,
        mobile=mobile,
        language=language,
    )
    appointment = Appointment(
        external_id=f"APT-{nhs_number}", patient=patient, clinic_code=clinic,
        appointment_at=appointment_at, status=c.APPOINTMENT_BOOKED,
    )  # fmt: skip
    session.add_all([patient, appointment])
    session.flush()
    place_in_episode(session, config, appointment)
    episode = appointment.episode
    assert episode is not None
    session.flush()  # gives the episode its public id
    token = link_token(config.secret_key, episode.public_id)
    episode.token_hash = token_hash(token)
    episode.token_expires_at = appointment_at + timedelta(days=2)
    episode.status, episode.invited_at = c.EPISODE_INVITED, clock.now()
    session.commit()
    return episode, token


NO_NEEDS = {
    "ends_meet": "no",
    "missed_meals": "no",
    "stable_housing": "yes",
    "support_network": "yes",
    "feel_unsafe": "no",
    "carer_impact": "no",
}


def make_task(
    session: Session,
    *,
    nhs_number: str = "9990000018",
    clinic: str = "CARD-NUH",
    appointment_at: datetime | None = None,
    submitted_at: datetime | None = None,
    **answers: str,
) -> TriageTask:
    """A Barts response submitted through the real code; its answers default to no needs
    with money worries and a wish for help (a routine task), overridden by `answers`."""
    episode, _ = make_invited_episode(
        session, nhs_number=nhs_number, clinic=clinic, appointment_at=appointment_at
    )
    questionnaire = state().questionnaires.questionnaires["barts-social-welfare"]
    when = submitted_at or clock.now()
    given = {**NO_NEEDS, "ends_meet": "yes", "wants_help": "yes", **answers}
    for item_id, value in given.items():
        save_answer(session, questionnaire, episode, item_id, value, now=when)
    result = submit(session, questionnaire, episode, language="en", now=when)
    assert result.task is not None, f"answers {given} create no task"
    # Loaded now, so a test can still read them once a request has ended the session.
    assert result.task.episode.patient is not None
    return result.task
