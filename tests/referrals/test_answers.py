"""A service's answer to a referral (SPEC §13), through the domain on both databases: the
transitions allowed and refused, the funnel's `helped`, and two answers at once."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from screening.config.loaded import state
from screening.core import clock
from screening.core.extensions import db
from screening.core.refusals import Conflict, Refused
from screening.models import Episode, Referral, ReferralUpdate
from screening.referrals import answers
from screening.referrals.answers import Answer
from screening.triage import tasks
from tests.factories import make_task, make_user


@pytest.fixture
def prescriber(session: Session):
    return make_user(session, email="sp@example.nhs.uk")


@pytest.fixture
def partner(session: Session):
    return make_user(session, email="bank@example.org", role="partner", services=("food-bank",))


def ctx(user) -> tasks.Context:
    return tasks.Context(by=user, now=clock.now())


def referral_of(session: Session, prescriber) -> Referral:
    task = make_task(session, missed_meals="yes")
    return tasks.refer(
        session,
        task.id,
        ctx(prescriber),
        service="food-bank",
        services=state().config.services,
        domains=["food"],
        domain="food",
    )


def test_accepted_then_completed_as_helped_counts_the_patient_helped(
    app: Flask, session: Session, prescriber, partner
) -> None:
    referral = referral_of(session, prescriber)
    answers.respond(session, referral, ctx(partner), Answer("accepted", note="Calling Tuesday"))
    done = answers.respond(
        session, referral, ctx(partner), Answer("completed", outcome="partly_helped")
    )
    assert (done.status, done.outcome, done.reason) == ("completed", "partly_helped", None)
    assert done.accepted_at is not None and done.completed_at is not None
    helped_at = session.scalar(select(Episode.helped_at).where(Episode.id == done.task.episode_id))
    assert helped_at == done.completed_at
    history = session.scalars(select(ReferralUpdate).order_by(ReferralUpdate.id)).all()
    assert [(u.status, u.by_user_id, u.note) for u in history] == [
        ("accepted", partner.id, "Calling Tuesday"),
        ("completed", partner.id, None),
    ]


def test_a_completion_that_did_not_help_is_not_helped(
    app: Flask, session: Session, prescriber
) -> None:
    referral = referral_of(session, prescriber)
    answers.respond(session, referral, ctx(prescriber), Answer("accepted"))
    answers.respond(session, referral, ctx(prescriber), Answer("completed", outcome="not_helped"))
    helped_at = select(Episode.helped_at).where(Episode.id == referral.task.episode_id)
    assert referral.status == "completed" and session.scalar(helped_at) is None


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        ([], Answer("completed", outcome="helped")),  # made: accept or decline first
        (["declined"], Answer("accepted")),  # declined is final
        (["accepted", "completed"], Answer("declined", reason="other")),  # so is completed
        (["accepted"], Answer("accepted")),  # already accepted
    ],
)
def test_an_answer_the_status_does_not_allow_is_refused_with_409_and_changes_nothing(
    app: Flask, session: Session, prescriber, steps, refused
) -> None:
    referral = referral_of(session, prescriber)
    fields = {"declined": {"reason": "no_capacity"}, "completed": {"outcome": "helped"}}
    for step in steps:
        answers.respond(session, referral, ctx(prescriber), Answer(step, **fields.get(step, {})))
    before = (referral.status, len(session.scalars(select(ReferralUpdate)).all()))
    with pytest.raises(Conflict) as conflict:
        answers.respond(session, referral, ctx(prescriber), refused)
    assert conflict.value.status == 409
    session.expire_all()
    assert (referral.status, len(session.scalars(select(ReferralUpdate)).all())) == before


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        (Answer("declined"), "reason"),
        (Answer("declined", reason="too busy"), "reason"),
        (Answer("completed", outcome="yes"), "outcome"),
        (Answer("made"), "status"),
        (Answer("accepted", note="x" * 5001), "note"),
    ],
)
def test_bad_input_is_refused_with_400_naming_the_field(
    app: Flask, session: Session, prescriber, answer, field
) -> None:
    referral = referral_of(session, prescriber)
    if answer.status == "completed":
        answers.respond(session, referral, ctx(prescriber), Answer("accepted"))
    with pytest.raises(Refused) as refused:
        answers.respond(session, referral, ctx(prescriber), answer)
    assert refused.value.status == 400 and refused.value.field == field


def test_an_answer_is_recorded_after_the_task_closed(
    app: Flask, session: Session, prescriber
) -> None:
    referral = referral_of(session, prescriber)
    task = referral.task
    tasks.close(
        session,
        task.id,
        ctx(prescriber),
        outcome="referred",
        version=task.version,
        config=state().config,
    )
    answers.respond(session, referral, ctx(prescriber), Answer("declined", reason="not_eligible"))
    assert (referral.status, referral.reason) == ("declined", "not_eligible")


def test_of_two_answers_at_once_exactly_one_wins(
    app: Flask, session: Session, prescriber, partner
) -> None:
    """A partner accepting as a prescriber records, by phone, that the service declined:
    on SQLite and PostgreSQL alike one answer stands, the other is refused with 409."""
    referral = referral_of(session, prescriber)
    make_session = sessionmaker(bind=db.engine, expire_on_commit=False)
    contenders = {
        partner.email: (partner, Answer("accepted")),
        prescriber.email: (prescriber, Answer("declined", reason="no_capacity")),
    }
    for _round in range(5):
        session.execute(
            Referral.__table__.update()
            .where(Referral.id == referral.id)
            .values(status="made", reason=None, accepted_at=None, declined_at=None)
        )
        session.commit()
        start, outcomes = threading.Barrier(2), {}

        def answer_as(email: str, start=start, outcomes=outcomes) -> None:
            user, answer = contenders[email]
            with make_session() as own:
                found = own.get(Referral, referral.id)
                start.wait()
                try:
                    answers.respond(own, found, ctx(user), answer)
                    outcomes[email] = "won"
                except Conflict as exc:
                    outcomes[email] = exc.status

        threads = [threading.Thread(target=answer_as, args=(e,)) for e in contenders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes.values(), key=str) == [409, "won"], outcomes
        (winner,) = [email for email, result in outcomes.items() if result == "won"]
        session.expire_all()
        assert session.get(Referral, referral.id).status == contenders[winner][1].status
