"""Twilio webhooks (SPEC §8): signatures, idempotent delivery statuses, STOP and START."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from screening import create_app
from screening.config.loaded import state
from screening.core import constants as c
from screening.core.clock import LONDON, frozen_at
from screening.core.extensions import db
from screening.invitations.schedule import create_due_messages
from screening.models import Episode, OptOut, OutboundMessage
from screening.sms import client_for
from screening.sms.outbox import drain
from tests.appointment_lists import appointment
from tests.conftest import _empty_tables, app_overrides
from tests.fake_twilio import FakeTwilio

from .conftest import MESSAGING_SERVICE_SID
from .test_outbox import APPOINTMENT, INVITE_TIME, load

PUBLIC = "https://screen.example.nhs.uk"


@pytest.fixture
def hooks(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[Flask]:
    """An app behind a TLS proxy: Twilio signs https URLs, the app sees plain http."""
    app = create_app(
        app_overrides(
            database_url,
            tmp_path / "instance",
            SCREENING_SMS_BACKEND="twilio",
            SCREENING_PUBLIC_BASE_URL=PUBLIC,
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
def sent(hooks: Flask, tmp_path: Path) -> OutboundMessage:
    """One invitation, sent through the fake Twilio."""
    session = db.session()
    load(session, tmp_path, appointment(1, appointment_at=APPOINTMENT))
    config = state().config
    with frozen_at(INVITE_TIME):
        create_due_messages(session, config, INVITE_TIME)
        drain(session, config, client_for(config), INVITE_TIME, worker="t")
    return session.scalars(select(OutboundMessage)).one()


def post(client: FlaskClient, path: str, form: dict[str, str], *, sign_url: str | None = None):
    token = state().config.twilio_auth_token
    signature = RequestValidator(token).compute_signature(sign_url or PUBLIC + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def callback(client: FlaskClient, sid: str, status: str, code: str | None = None):
    form = {"MessageSid": sid, "MessageStatus": status}
    if code:
        form["ErrorCode"] = code
    return post(client, "/webhooks/twilio/status", form)


def fresh(message: OutboundMessage) -> OutboundMessage:
    session: Session = db.session()
    session.expire_all()
    return session.get(OutboundMessage, message.id)


def test_a_signed_delivery_report_marks_the_message_and_episode_delivered(
    hooks: Flask, sent: OutboundMessage
) -> None:
    response = callback(hooks.test_client(), sent.provider_sid, "delivered")
    assert response.status_code == 204
    message = fresh(sent)
    assert message.status == c.MESSAGE_DELIVERED
    assert message.episode.delivered_at is not None


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}],
    ids=["missing", "wrong"],
)
def test_an_unsigned_or_badly_signed_callback_is_refused(
    hooks: Flask, sent: OutboundMessage, headers: dict[str, str]
) -> None:
    form = {"MessageSid": sent.provider_sid, "MessageStatus": "delivered"}
    response = hooks.test_client().post("/webhooks/twilio/status", data=form, headers=headers)
    assert response.status_code == 403
    assert fresh(sent).status == c.MESSAGE_SENT


def test_a_signature_for_the_address_the_app_sees_is_refused(
    hooks: Flask, sent: OutboundMessage
) -> None:
    # Behind the proxy the app sees http://localhost; Twilio signed the public https URL.
    path = "/webhooks/twilio/status"
    form = {"MessageSid": sent.provider_sid, "MessageStatus": "delivered"}
    response = post(hooks.test_client(), path, form, sign_url="http://localhost" + path)
    assert response.status_code == 403


def test_late_and_repeated_callbacks_never_move_a_final_status_back(
    hooks: Flask, sent: OutboundMessage
) -> None:
    client = hooks.test_client()
    for status in ("delivered", "sent", "undelivered", "delivered", "queued"):
        assert callback(client, sent.provider_sid, status, "30003").status_code == 204
    message = fresh(sent)
    assert message.status == c.MESSAGE_DELIVERED
    assert message.episode.status == c.EPISODE_INVITED


def test_an_undelivered_invitation_puts_the_patient_on_the_call_list(
    hooks: Flask, sent: OutboundMessage
) -> None:
    callback(hooks.test_client(), sent.provider_sid, "undelivered", "30003")
    episode = fresh(sent).episode
    assert (episode.status, episode.needs_call_reason) == (c.EPISODE_SEND_FAILED, "send_failed")
    assert episode.delivered_at is None


@pytest.mark.parametrize("reply", ["STOP", "stop", " Stop. ", "UNSUBSCRIBE", "quit"])
def test_a_stop_reply_opts_the_number_out_and_no_reminder_follows(
    hooks: Flask, sent: OutboundMessage, fake_twilio: FakeTwilio, reply: str
) -> None:
    form = {"From": "+447400100001", "Body": reply}
    response = post(hooks.test_client(), "/webhooks/twilio/inbound", form)
    assert response.status_code == 200 and "<Response>" in response.get_data(as_text=True)
    session = db.session()
    assert session.get(OptOut, "+447400100001").lifted_at is None
    reminder_time = datetime(2026, 12, 7, 9, 0, tzinfo=LONDON)
    config = state().config
    with frozen_at(reminder_time):
        create_due_messages(session, config, reminder_time)
        drain(session, config, client_for(config), reminder_time, worker="t")
    assert len(fake_twilio.requests) == 1


def test_start_lifts_an_opt_out(hooks: Flask, tmp_path: Path) -> None:
    session = db.session()
    client = hooks.test_client()
    post(client, "/webhooks/twilio/inbound", {"From": "+447400100001", "Body": "STOP"})
    load(session, tmp_path, appointment(1, appointment_at=APPOINTMENT))
    assert session.scalars(select(Episode.status)).one() == c.EPISODE_OPTED_OUT
    post(client, "/webhooks/twilio/inbound", {"From": "+447400100001", "Body": "START"})
    session.expire_all()
    assert session.get(OptOut, "+447400100001").lifted_at is not None
    assert session.scalars(select(Episode.status)).one() == c.EPISODE_SCHEDULED


def test_other_replies_change_nothing(hooks: Flask, sent: OutboundMessage) -> None:
    form = {"From": "+447400100001", "Body": "Stopping by the clinic later"}
    assert post(hooks.test_client(), "/webhooks/twilio/inbound", form).status_code == 200
    assert db.session().get(OptOut, "+447400100001") is None
