"""Task actions without Flask (SPEC §8, §10): each applies whole or is refused with a clear
message and changes nothing; two prescribers cannot both win a claim."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from screening.config.loaded import state
from screening.core import clock
from screening.core import constants as c
from screening.core.extensions import db
from screening.core.refusals import Conflict, Refused
from screening.models import AuditEvent, ContactAttempt, Referral, TaskNote, TriageTask
from screening.referrals import answers
from screening.triage import tasks
from screening.triage.tasks import Context
from tests.factories import make_task, make_user

DOMAINS = ["financial", "food", "housing", "isolation", "safety", "carer"]


@pytest.fixture
def prescriber(session: Session):
    return make_user(session, email="sp@example.nhs.uk")


@pytest.fixture
def colleague(session: Session):
    return make_user(session, email="colleague@example.nhs.uk")


def ctx(user, *, minutes: int = 0) -> Context:
    return Context(by=user, now=clock.now() + timedelta(minutes=minutes))


def audit_actions(session: Session, task: TriageTask) -> list[str]:
    return list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject_type == "task", AuditEvent.subject_id == str(task.id))
            .order_by(AuditEvent.id)
        )
    )


def snapshot(session: Session, task_id: int) -> tuple:
    session.expire_all()
    task = session.get(TriageTask, task_id)
    assert task is not None
    counts = tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (ContactAttempt, Referral, TaskNote, AuditEvent)
    )
    return (task.status, task.assigned_to_user_id, task.outcome, task.version, counts)


# --- claim and assign ----------------------------------------------------------------------


def test_claiming_an_open_task_makes_it_yours(app: Flask, session: Session, prescriber) -> None:
    task = make_task(session)
    claimed = tasks.claim(session, task.id, ctx(prescriber))
    assert claimed.status == "assigned" and claimed.assigned_to_user_id == prescriber.id
    assert audit_actions(session, task) == ["task_claimed"]


def test_a_second_claimant_is_told_who_holds_it_and_nothing_changes(
    app: Flask, session: Session, prescriber, colleague
) -> None:
    task = make_task(session)
    tasks.claim(session, task.id, ctx(prescriber))
    before = snapshot(session, task.id)
    with pytest.raises(Conflict) as refused:
        tasks.claim(session, task.id, ctx(colleague))
    assert refused.value.status == 409
    assert "sp@example.nhs.uk has held this task since" in refused.value.message
    assert snapshot(session, task.id) == before


def test_taking_over_a_colleagues_task_is_explicit(
    app: Flask, session: Session, prescriber, colleague
) -> None:
    task = make_task(session)
    tasks.claim(session, task.id, ctx(prescriber))
    tasks.claim(session, task.id, ctx(colleague), take_over=True)
    assert session.get(TriageTask, task.id).assigned_to_user_id == colleague.id


def test_two_prescribers_claiming_at_once_one_wins_the_other_is_told(
    app: Flask, session: Session, prescriber, colleague
) -> None:
    task = make_task(session)
    task_id = task.id
    make_session = sessionmaker(bind=db.engine, expire_on_commit=False)
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def claim_as(user) -> None:
        with make_session() as own:
            start.wait()
            try:
                tasks.claim(own, task_id, ctx(user))
                outcomes[user.email] = "won"
            except Conflict as exc:
                outcomes[user.email] = exc.message

    for _round in range(5):
        outcomes.clear()
        session.execute(
            TriageTask.__table__.update()
            .where(TriageTask.id == task_id)
            .values(status="open", assigned_to_user_id=None)
        )
        session.commit()
        threads = [threading.Thread(target=claim_as, args=(u,)) for u in (prescriber, colleague)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes.values(), key=lambda v: v != "won")[0] == "won"
        (winner,) = [email for email, result in outcomes.items() if result == "won"]
        (loser_message,) = [result for result in outcomes.values() if result != "won"]
        assert f"{winner} has held this task since" in loser_message
        session.expire_all()
        holder = session.get(TriageTask, task_id).assigned_to_user_id
        assert holder == (prescriber if winner == prescriber.email else colleague).id


def test_assigning_to_a_colleague(app: Flask, session: Session, prescriber, colleague) -> None:
    task = make_task(session)
    tasks.assign(session, task.id, ctx(prescriber), user_id=str(colleague.id), version="1")
    assert session.get(TriageTask, task.id).assigned_to_user_id == colleague.id


def test_a_task_cannot_go_to_a_clinician(app: Flask, session: Session, prescriber) -> None:
    clinician = make_user(session, email="doc@example.nhs.uk", role="clinician")
    task = make_task(session)
    before = snapshot(session, task.id)
    with pytest.raises(Refused) as refused:
        tasks.assign(session, task.id, ctx(prescriber), user_id=clinician.id, version=1)
    assert refused.value.field == "user_id"
    assert snapshot(session, task.id) == before


def test_a_stale_form_is_refused_naming_who_changed_the_task(
    app: Flask, session: Session, prescriber, colleague
) -> None:
    task = make_task(session)
    drawn_at = task.version  # the page was opened here
    tasks.claim(session, task.id, ctx(colleague))
    before = snapshot(session, task.id)
    with pytest.raises(Conflict) as refused:
        tasks.close(
            session,
            task.id,
            ctx(prescriber),
            outcome="not_needed",
            version=drawn_at,
            config=state().config,
        )
    assert refused.value.message.startswith("colleague@example.nhs.uk changed this task at")
    assert snapshot(session, task.id) == before


# --- contacts, sessions, referrals, notes --------------------------------------------------


def test_reaching_the_patient_counts_them_contacted(
    app: Flask, session: Session, prescriber
) -> None:
    task = make_task(session)
    tasks.log_contact(session, task.id, ctx(prescriber), method="phone", outcome="no_answer")
    assert task.episode.contacted_at is None
    tasks.log_contact(
        session, task.id, ctx(prescriber), method="phone", outcome="reached", note="Spoke"
    )
    session.expire_all()
    assert session.get(TriageTask, task.id).episode.contacted_at is not None
    assert [a.outcome for a in session.get(TriageTask, task.id).contact_attempts] == [
        "no_answer",
        "reached",
    ]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"method": "pigeon", "outcome": "reached"}, "method", "Select how you contacted"),
        ({"method": "phone", "outcome": "maybe"}, "outcome", "Select what happened"),
        ({"method": "phone", "outcome": "reached", "note": "x" * 5001}, "note", "5000"),
    ],
)
def test_a_bad_contact_is_refused_and_nothing_is_stored(
    app: Flask, session: Session, prescriber, fields, field, message
) -> None:
    task = make_task(session)
    before = snapshot(session, task.id)
    with pytest.raises(Refused) as refused:
        tasks.log_contact(session, task.id, ctx(prescriber), **fields)
    session.rollback()
    assert refused.value.field == field and message in refused.value.message
    assert snapshot(session, task.id) == before


def test_a_session_needs_its_length(app: Flask, session: Session, prescriber) -> None:
    task = make_task(session)
    with pytest.raises(Refused, match="in minutes"):
        tasks.record_session(session, task.id, ctx(prescriber), minutes="half an hour")
    held = tasks.record_session(session, task.id, ctx(prescriber), minutes="30", note="Budget")
    assert held.minutes == 30


def refer(session: Session, task: TriageTask, user, **fields):
    return tasks.refer(
        session,
        task.id,
        ctx(user),
        services=state().config.services,
        domains=DOMAINS,
        **fields,
    )


def test_a_referral_starts_made_and_moves_on(app: Flask, session: Session, prescriber) -> None:
    task = make_task(session, missed_meals="yes")
    referral = refer(session, task, prescriber, service="food-bank", domain="food")
    assert (referral.status, referral.service_name, referral.to_pcn) == (
        "made",
        "Local food bank (by referral)",
        False,
    )
    assert task.episode.referred_at is not None
    answers.respond(session, referral, ctx(prescriber), answers.Answer("accepted"))
    answers.respond(
        session, referral, ctx(prescriber), answers.Answer("completed", outcome="helped")
    )
    with pytest.raises(Conflict, match="This referral is already completed: it cannot change"):
        answers.respond(
            session, referral, ctx(prescriber), answers.Answer("declined", reason="other")
        )
    assert session.get(Referral, referral.id).status == "completed"


def test_a_referral_to_the_gp_practice_counts_as_back_to_the_pcn(
    app: Flask, session: Session, prescriber
) -> None:
    task = make_task(session)
    assert refer(session, task, prescriber, service="pcn-social-prescriber").to_pcn is True


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"service": "astrology"}, "service"),
        ({"service": "other"}, "other_name"),
        ({"service": "food-bank", "domain": "weather"}, "domain"),
    ],
)
def test_a_bad_referral_is_refused_and_nothing_is_stored(
    app: Flask, session: Session, prescriber, fields, field
) -> None:
    task = make_task(session)
    before = snapshot(session, task.id)
    with pytest.raises(Refused) as refused:
        refer(session, task, prescriber, **fields)
    session.rollback()
    assert refused.value.field == field
    assert snapshot(session, task.id) == before
    assert task.episode.referred_at is None


def test_an_other_service_keeps_its_name(app: Flask, session: Session, prescriber) -> None:
    task = make_task(session)
    referral = refer(session, task, prescriber, service="other", other_name="  Tenants'  union ")
    assert referral.service_id == "other" and referral.service_name == "Tenants' union"


def test_an_empty_note_is_refused(app: Flask, session: Session, prescriber) -> None:
    task = make_task(session)
    with pytest.raises(Refused, match="Enter the note"):
        tasks.add_note(session, task.id, ctx(prescriber), text="   ")
    assert tasks.add_note(session, task.id, ctx(prescriber), text="Lives alone").text


# --- close and reopen ------------------------------------------------------------------------


def close(session: Session, task: TriageTask, user, outcome: str, **kwargs):
    session.refresh(task)
    return tasks.close(
        session,
        task.id,
        ctx(user, **kwargs),
        outcome=outcome,
        version=task.version,
        config=state().config,
    )


@pytest.mark.parametrize("outcome", ["", "sorted", "referred"])
def test_closing_needs_a_known_outcome_and_referred_needs_a_referral(
    app: Flask, session: Session, prescriber, outcome: str
) -> None:
    task = make_task(session)
    before = snapshot(session, task.id)
    with pytest.raises(Refused) as refused:
        close(session, task, prescriber, outcome)
    assert refused.value.field == "outcome"
    assert snapshot(session, task.id) == before


def test_a_closed_task_takes_no_more_work_until_reopened(
    app: Flask, session: Session, prescriber, colleague
) -> None:
    task = make_task(session)
    refer(session, task, prescriber, service="citizens-advice")
    close(session, task, prescriber, "referred")
    with pytest.raises(Conflict, match="closed by sp@example.nhs.uk"):
        tasks.add_note(session, task.id, ctx(colleague), text="More")
    session.refresh(task)
    tasks.reopen(session, task.id, ctx(colleague), version=task.version)
    session.expire_all()
    reopened = session.get(TriageTask, task.id)
    assert (reopened.status, reopened.assigned_to_user_id, reopened.outcome) == (
        "assigned",
        colleague.id,
        None,
    )
    assert audit_actions(session, task) == [
        "task_referral",
        "task_closed",
        "task_reopened",
    ]


def test_unable_to_contact_needs_enough_attempts_on_two_days(
    app: Flask, session: Session, prescriber
) -> None:
    # Mid-morning, so "a day later" is the next London day whenever the suite runs.
    with clock.frozen_at(datetime(2026, 3, 10, 10, 0)):
        _try_unable_to_contact(session, prescriber)


def _try_unable_to_contact(session: Session, prescriber) -> None:
    task = make_task(session)
    for minutes in (0, 10, 20):  # three attempts, one day
        tasks.log_contact(
            session,
            task.id,
            ctx(prescriber, minutes=minutes),
            method="phone",
            outcome="no_answer",
        )
    with pytest.raises(Refused, match="on at least 2 different days"):
        close(session, task, prescriber, "unable_to_contact")
    tasks.log_contact(
        session, task.id, ctx(prescriber, minutes=24 * 60), method="phone", outcome="voicemail"
    )
    closed = close(session, task, prescriber, "unable_to_contact", minutes=24 * 60)
    assert closed.outcome == "unable_to_contact"


def test_a_deceased_row_closes_the_patients_active_tasks(
    app: Flask, session: Session, prescriber
) -> None:
    from screening.appointments.deaths import stop_everything_for

    task = make_task(session)
    tasks.claim(session, task.id, ctx(prescriber))
    stop_everything_for(session, task.episode.patient)
    session.commit()
    session.expire_all()
    closed = session.get(TriageTask, task.id)
    assert (closed.status, closed.outcome) == ("closed", "not_needed")
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == c.AUDIT_TASK_CLOSED)
    ).one()
    assert event.detail == {"outcome": "not_needed", "cause": "deceased_in_list"}
    assert event.actor_user_id is None
