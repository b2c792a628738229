"""A patient's and a prescriber's journeys through the real code: the import, the outbox
and the real Twilio SDK against the fake, signed delivery callbacks, the patient form and
the task page's forms. Shared by the pilot's report and the log's privacy check."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from bs4 import BeautifulSoup
from flask import current_app
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from screening.appointments.clinics import sync_clinics
from screening.appointments.importer import import_appointments
from screening.config.loaded import state
from screening.core.clock import frozen_at
from screening.core.extensions import db
from screening.invitations.schedule import create_due_messages
from screening.sms import client_for
from screening.sms.outbox import drain
from tests.fake_twilio import FakeTwilio
from tests.pages import csrf_token, page


def send_invitations(clinic_list: Path, send_at: datetime) -> None:
    """Import the list and send what is due at `send_at` through the configured backend."""
    session = db.session()
    config = state().config
    sync_clinics(session, config)
    session.commit()
    with frozen_at(send_at):
        import_appointments(session, config, clinic_list, lambda _line: None)
        create_due_messages(session, config, send_at)
        drain(session, config, client_for(config), send_at, worker="journey")


def links_sent(fake: FakeTwilio) -> dict[str, tuple[str, str]]:
    """Each recipient's (message sid, link path), from the texts the fake received."""
    return {
        message["to"]: (sid, re.search(r"/s/[A-Za-z0-9_-]+", message["body"])[0])
        for sid, message in fake.messages.items()
    }


def report_delivery(sid: str, status: str) -> None:
    """Twilio's signed status callback for one message."""
    config = state().config
    form = {"MessageSid": sid, "MessageStatus": status}
    url = config.public_base_url + "/webhooks/twilio/status"
    signature = RequestValidator(config.twilio_auth_token).compute_signature(url, form)
    reply = current_app.test_client().post(
        "/webhooks/twilio/status", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert reply.status_code == 204


def complete(client: FlaskClient, link: str, answers: dict[str, str]) -> None:
    """Open the link, start, answer each question in turn, check and submit."""
    assert client.get(link).status_code == 302
    start = page(client.get("/s/start"))
    client.post("/s/start", data={"csrf_token": csrf_token(start)})
    for item_id, value in answers.items():
        question = page(client.get(f"/s/q/{item_id}"))
        reply = client.post(
            f"/s/q/{item_id}", data={"csrf_token": csrf_token(question), item_id: value}
        )
        assert reply.status_code in (302, 303), (item_id, _main_text(reply.get_data(True)))
    check = page(client.get("/s/check"))
    assert check.find("main")["data-page"] == "check"
    reply = client.post("/s/check", data={"csrf_token": csrf_token(check)}, follow_redirects=True)
    assert page(reply).find("main")["data-page"] == "complete"


def act(client: FlaskClient, task_id: int, form_id: str, **fields: str) -> None:
    """Submit one of the task page's forms as a prescriber would, hidden fields and all."""
    html: BeautifulSoup = page(client.get(f"/triage/{task_id}"))
    form = html.find("form", id=form_id)
    data = {
        field["name"]: field.get("value", "") for field in form.find_all("input", type="hidden")
    }
    reply = client.post(form["action"], data={**data, **fields})
    assert reply.status_code == 303, (form_id, reply.get_data(as_text=True)[:400])


def _main_text(html: str) -> str:
    return " ".join(BeautifulSoup(html, "html.parser").main.get_text(" ").split())[:600]
