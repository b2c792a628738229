"""When invitations and reminders fall due (SPEC §6), in simulated time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.appointments.clinics import sync_clinics
from screening.appointments.importer import import_appointments
from screening.config.loaded import state
from screening.core import constants as c
from screening.core.clock import LONDON, frozen_at
from screening.invitations.quiet_hours import in_quiet_hours
from screening.invitations.schedule import create_due_messages, due_at, latest_appointment_due
from screening.invitations.tokens import link_token, token_hash
from screening.models import Episode, OutboundMessage
from tests.appointment_lists import appointment, write_list


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def test_due_from_nine_in_the_morning_n_calendar_days_before() -> None:
    appointment_at = london(2026, 12, 10, 10, 30)
    assert due_at(appointment_at, 7) == london(2026, 12, 3, 9, 0)
    # Across the clock change: 09:00 is local time on the day itself.
    assert due_at(london(2027, 4, 5, 8, 0), 7) == london(2027, 3, 29, 9, 0)
    assert due_at(london(2027, 4, 5, 8, 0), 7) == datetime(2027, 3, 29, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (london(2026, 12, 3, 19, 59), False),
        (london(2026, 12, 3, 20, 0), True),
        (london(2026, 12, 4, 8, 59), True),
        (london(2026, 12, 4, 9, 0), False),
    ],
)
def test_quiet_hours_span_midnight(moment: datetime, quiet: bool) -> None:
    assert in_quiet_hours(moment, "20:00-09:00") is quiet


def test_appointments_due_for_a_message_at_a_moment() -> None:
    # Before 09:00 the day's messages are not yet due.
    assert latest_appointment_due(london(2026, 12, 3, 8, 59), 7) == london(2026, 12, 10, 0, 0)
    assert latest_appointment_due(london(2026, 12, 3, 9, 0), 7) == london(2026, 12, 11, 0, 0)


@pytest.fixture
def clinic_list(app: Flask, session: Session, tmp_path: Path):
    sync_clinics(session, state().config)
    session.commit()

    def load(*rows: dict[str, str]) -> None:
        path = write_list(tmp_path / "list.csv", list(rows))
        import_appointments(session, state().config, path, lambda _line: None)

    return load


def run_at(session: Session, moment: datetime):
    with frozen_at(moment):
        return create_due_messages(session, state().config, moment)


def messages(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Episode.public_id, OutboundMessage.kind)
        .join(Episode, OutboundMessage.episode_id == Episode.id)
        .order_by(OutboundMessage.id)
    )
    return [(kind, public_id) for public_id, kind in rows]


def mark_invitation_sent(session: Session, at: datetime) -> None:
    """Stand-in for the outbox: the invitation went at `at`."""
    for message in session.scalars(select(OutboundMessage)):
        message.status, message.sent_at = c.MESSAGE_SENT, at
        message.episode.status, message.episode.invited_at = c.EPISODE_INVITED, at
    session.commit()


def test_the_invitation_is_due_at_nine_seven_days_before_and_made_once(
    clinic_list, session: Session
) -> None:
    clinic_list(appointment(1, appointment_at="2026-12-10T10:30:00"))
    assert run_at(session, london(2026, 12, 2, 15, 0)).invitations == 0
    assert run_at(session, london(2026, 12, 3, 8, 59)).invitations == 0  # quiet hours
    assert run_at(session, london(2026, 12, 3, 9, 0)).invitations == 1
    assert run_at(session, london(2026, 12, 3, 9, 5)).invitations == 0
    assert [kind for kind, _ in messages(session)] == ["invite"]


def test_the_link_is_stored_only_as_a_hash_and_expires_after_the_appointment(
    clinic_list, session: Session
) -> None:
    clinic_list(appointment(1, appointment_at="2026-12-10T10:30:00"))
    run_at(session, london(2026, 12, 3, 9, 0))
    episode = session.scalar(select(Episode))
    assert episode is not None
    token = link_token(state().config.secret_key, episode.public_id)
    assert len(token) >= 43  # 256 bits in base64url
    assert episode.token_hash == token_hash(token) != token
    assert episode.token_expires_at == london(2026, 12, 12, 10, 30)


def test_an_invitation_due_in_the_past_goes_at_the_next_run(clinic_list, session) -> None:
    clinic_list(appointment(1, appointment_at="2026-12-10T10:30:00"))
    assert run_at(session, london(2026, 12, 9, 19, 0)).invitations == 1


def test_nothing_is_created_once_the_appointment_has_begun(clinic_list, session) -> None:
    clinic_list(appointment(1, appointment_at="2026-12-10T10:30:00"))
    assert run_at(session, london(2026, 12, 10, 10, 30)).invitations == 0


def test_a_phoned_patient_gets_no_invitation(clinic_list, session) -> None:
    clinic_list(appointment(1, mobile="020 7946 0000", appointment_at="2026-12-10T10:30:00"))
    assert run_at(session, london(2026, 12, 3, 9, 0)).invitations == 0


def test_one_reminder_at_least_a_day_after_the_invitation(clinic_list, session) -> None:
    clinic_list(appointment(1, appointment_at="2026-12-10T10:30:00"))
    run_at(session, london(2026, 12, 6, 15, 0))  # imported late: invited 4 days before
    mark_invitation_sent(session, london(2026, 12, 6, 15, 0))
    assert run_at(session, london(2026, 12, 7, 9, 0)).reminders == 0  # under 24 hours
    assert run_at(session, london(2026, 12, 7, 15, 0)).reminders == 1
    assert run_at(session, london(2026, 12, 8, 15, 0)).reminders == 0
    assert [kind for kind, _ in messages(session)] == ["invite", "reminder"]


def test_no_reminder_after_the_questionnaire_is_submitted(clinic_list, session) -> None:
    clinic_list(appointment(1, appointment_at="2026-12-10T10:30:00"))
    run_at(session, london(2026, 12, 3, 9, 0))
    mark_invitation_sent(session, london(2026, 12, 3, 9, 0))
    episode = session.scalar(select(Episode))
    assert episode is not None
    episode.status = c.EPISODE_COMPLETED
    session.commit()
    assert run_at(session, london(2026, 12, 7, 9, 0)).reminders == 0


def test_opening_the_link_does_not_stop_the_reminder(clinic_list, session) -> None:
    clinic_list(appointment(1, appointment_at="2026-12-10T10:30:00"))
    run_at(session, london(2026, 12, 3, 9, 0))
    mark_invitation_sent(session, london(2026, 12, 3, 9, 0))
    episode = session.scalar(select(Episode))
    assert episode is not None
    episode.status = c.EPISODE_STARTED
    session.commit()
    assert run_at(session, london(2026, 12, 7, 9, 0)).reminders == 1


def test_the_reminder_is_due_three_days_before_by_default(clinic_list, session) -> None:
    # CARD-RLH sets no remind_days_before, so the default of 3 applies.
    clinic_list(appointment(1, clinic_code="CARD-RLH", appointment_at="2026-12-10T10:30:00"))
    run_at(session, london(2026, 12, 3, 9, 0))
    mark_invitation_sent(session, london(2026, 12, 3, 9, 0))
    assert run_at(session, london(2026, 12, 7, 8, 0)).reminders == 0
    assert run_at(session, london(2026, 12, 7, 9, 0)).reminders == 1
