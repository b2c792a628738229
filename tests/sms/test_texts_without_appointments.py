"""Texts that are not about an appointment, through the real Twilio SDK against the fake:
a follow-up questionnaire's invitation (SPEC §11) and the unable-to-contact text (§10)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening import create_app
from screening.config.loaded import state
from screening.core.clock import LONDON, frozen_at
from screening.core.extensions import db
from screening.models import OutboundMessage
from screening.sms import client_for
from screening.sms.outbox import drain
from screening.sms.twilio_client import MAX_VALIDITY_SECONDS
from screening.triage import follow_ups, tasks
from tests.conftest import ROOT, _empty_tables, app_overrides
from tests.factories import make_task, make_user
from tests.fake_twilio import FakeTwilio

from .conftest import MESSAGING_SERVICE_SID

UNABLE_TEXT = "{hospital}: we tried to call you about support. Call 020 7377 7000 to talk to us."


@pytest.fixture
def app(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[Flask]:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    with (config / "settings.yaml").open("a") as settings:
        settings.write(f'unable_to_contact_sms: "{UNABLE_TEXT}"\n')
    app = create_app(
        app_overrides(
            database_url,
            tmp_path / "instance",
            SCREENING_CONFIG_DIR=str(config),
            SCREENING_SMS_BACKEND="twilio",
            TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
            TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
            TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID,
            SCREENING_TWILIO_API_BASE=fake_twilio.base_url,
        )
    )
    with app.app_context():
        yield app
    _empty_tables()


@pytest.fixture
def session(app: Flask) -> Session:
    return db.session()


def drain_at(session: Session, moment: datetime):
    config = state().config
    with frozen_at(moment):
        return drain(session, config, client_for(config), moment, worker="test")


def test_a_follow_up_is_texted_at_nine_on_its_day_valid_for_a_day_with_no_date(
    app: Flask, session: Session, fake_twilio: FakeTwilio
) -> None:
    user = make_user(session)
    task = make_task(session)
    now = datetime(2026, 12, 2, 15, tzinfo=LONDON)
    follow_ups.schedule(
        session,
        task.id,
        tasks.Context(by=user, now=now),
        questionnaire_id="ons4-wellbeing",
        day="2027-03-01",
        questionnaires=state().questionnaires.questionnaires,
        config=state().config,
    )
    assert drain_at(session, datetime(2027, 3, 1, 8, 59, tzinfo=LONDON)).sent == 0
    assert drain_at(session, datetime(2027, 3, 1, 9, 0, tzinfo=LONDON)).sent == 1
    (request,) = [r for r in fake_twilio.requests if r.method == "POST"]
    assert request.form["To"] == "+447400100001"
    # A day is longer than Twilio will hold a message, so it gets Twilio's most (10 hours);
    # the outbox itself drops the message once its day is over (the next test).
    assert request.form["ValidityPeriod"] == str(MAX_VALIDITY_SECONDS)
    body = request.form["Body"]
    assert body.startswith("Newham University Hospital: please answer a few short questions")
    assert "/s/" in body and "March" not in body and "Alex" not in body


def test_a_follow_up_not_sent_within_its_day_is_dropped(
    app: Flask, session: Session, fake_twilio: FakeTwilio
) -> None:
    user = make_user(session)
    task = make_task(session)
    follow_ups.schedule(
        session,
        task.id,
        tasks.Context(by=user, now=datetime(2026, 12, 2, 15, tzinfo=LONDON)),
        questionnaire_id="ons4-wellbeing",
        day="2027-03-01",
        questionnaires=state().questionnaires.questionnaires,
        config=state().config,
    )
    run = drain_at(session, datetime(2027, 3, 2, 9, 30, tzinfo=LONDON))
    assert (run.sent, run.cancelled) == (0, 1)
    assert fake_twilio.requests == []


def test_closing_as_unable_to_contact_texts_the_patient_once(
    app: Flask, session: Session, fake_twilio: FakeTwilio
) -> None:
    user = make_user(session)
    task = make_task(session)
    start = datetime(2026, 12, 2, 10, tzinfo=LONDON)
    for day in range(3):
        ctx = tasks.Context(by=user, now=start + timedelta(days=day))
        tasks.log_contact(session, task.id, ctx, method="phone", outcome="no_answer")
    closing = tasks.Context(by=user, now=start + timedelta(days=2, hours=1))
    session.refresh(task)
    tasks.close(
        session,
        task.id,
        closing,
        outcome="unable_to_contact",
        version=task.version,
        config=state().config,
    )
    session.refresh(task)
    tasks.reopen(session, task.id, closing, version=task.version)
    session.refresh(task)
    tasks.close(
        session,
        task.id,
        closing,
        outcome="unable_to_contact",
        version=task.version,
        config=state().config,
    )
    messages = session.scalars(
        select(OutboundMessage).where(OutboundMessage.kind == "unable_to_contact")
    ).all()
    assert len(messages) == 1
    assert drain_at(session, start + timedelta(days=2, hours=2)).sent == 1
    (request,) = [r for r in fake_twilio.requests if r.method == "POST"]
    assert request.form["Body"] == UNABLE_TEXT.format(hospital="Newham University Hospital")
    assert request.form["ValidityPeriod"] == str(MAX_VALIDITY_SECONDS)
