"""The log: JSON lines, each with a request id, and no patient data (SPEC §9).

The privacy check runs one patient's whole journey and a prescriber's session on them at
DEBUG, the most a trust could switch on, and looks for every identifier the journey used,
in every form a log line could spell it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from screening import create_app
from screening.core import clock, logs
from screening.core.clock import LONDON
from screening.core.extensions import db
from screening.models import TriageTask
from tests.appointment_lists import appointment, test_nhs_number, write_list
from tests.conftest import app_overrides
from tests.fake_twilio import FakeTwilio
from tests.journeys import act, complete, links_sent, report_delivery, send_invitations
from tests.pages import OwnContextClient, page
from tests.sms.conftest import fake_twilio, fake_twilio_server, no_real_twilio  # noqa: F401
from tests.sms.test_outbox import twilio_app  # noqa: F401
from tests.views.test_triage import PASSWORD, sign_in

NHS_NUMBER = test_nhs_number(4242)
PATIENT = {
    "nhs_number": NHS_NUMBER,
    "given_name": "Zebedee",
    "family_name": "Quillfeather",
    "date_of_birth": "1958-03-21",
    "mobile": "07400 187654",
    "postcode": "E16 1QZ",
}
NOTES = {
    "contact": "Zebedee said the rent arrears letter came on Tuesday",
    "session": "Talked through the council tax reduction form together",
    "referral": "Citizens Advice to ring him about the arrears",
    "note": "Prefers calls after the school run",
}


def spellings() -> dict[str, list[str]]:
    """Each identifier as a log line might show it."""
    born = datetime.fromisoformat(PATIENT["date_of_birth"])
    return {
        "NHS number": [NHS_NUMBER, f"{NHS_NUMBER[:3]} {NHS_NUMBER[3:6]} {NHS_NUMBER[6:]}"],
        "given name": [PATIENT["given_name"]],
        "family name": [PATIENT["family_name"]],
        "date of birth": [PATIENT["date_of_birth"], born.strftime("%d/%m/%Y"), "21 March 1958"],
        "mobile": ["+447400187654", "07400187654", "07400 187654", "7400187654"],
        "postcode": [PATIENT["postcode"], "E161QZ"],
        **{f"{kind} note": [text] for kind, text in NOTES.items()},
        "staff password": [PASSWORD],
    }


def test_a_whole_journey_logs_no_patient_data(
    twilio_app: Flask,  # noqa: F811
    fake_twilio: FakeTwilio,  # noqa: F811
    tmp_path: Path,
    log_lines: Callable[[], list[str]],
) -> None:
    twilio_app.test_client_class = OwnContextClient
    day = clock.now().astimezone(LONDON).date()
    clinic_list = write_list(
        tmp_path / "list.csv",
        [appointment(1, **PATIENT, appointment_at=f"{day + timedelta(days=7)}T10:30:00")],
    )
    logs.begin()  # as the CLI does for each command
    send_invitations(clinic_list, datetime.combine(day, time(10), tzinfo=LONDON))
    ((sid, link),) = links_sent(fake_twilio).values()
    report_delivery(sid, "delivered")
    answers = {
        "ends_meet": "yes", "missed_meals": "no", "stable_housing": "no",
        "support_network": "yes", "feel_unsafe": "no", "carer_impact": "no",
        "wants_help": "yes",
    }  # fmt: skip
    complete(twilio_app.test_client(), link, answers)
    assert twilio_app.test_client().get(link).status_code in (200, 302)  # a second visit

    session = db.session()
    prescriber = sign_in(twilio_app, session, "sp@newham.nhs.uk", role="admin")
    (task_id,) = session.scalars(select(TriageTask.id)).all()
    session.commit()
    page(prescriber.get("/triage"))
    act(prescriber, task_id, "claim")
    act(prescriber, task_id, "contacts", method="phone", outcome="reached", note=NOTES["contact"])
    act(prescriber, task_id, "sessions", minutes="25", note=NOTES["session"])
    act(
        prescriber, task_id, "referrals",
        service="citizens-advice", domain="financial", note=NOTES["referral"],
    )  # fmt: skip
    act(prescriber, task_id, "notes", text=NOTES["note"])
    page(prescriber.get(f"/admin/audit?patient={NHS_NUMBER.replace(' ', '')}"))
    page(prescriber.get("/reports/funnel"))

    token = link.rsplit("/", 1)[-1]
    found = {name: forms for name, forms in spellings().items()} | {"link token": [token]}
    lines = log_lines()
    logged = "\n".join(lines)
    assert "GET /s/<token> 302" in logged and "POST /triage/<int:task_id>/claim 303" in logged
    for name, forms in found.items():
        for form in forms:
            leaks = [line for line in lines if form.lower() in line.lower()]
            assert not leaks, f"the {name} ({form}) is in the log: {leaks[0]}"


def test_every_line_is_json_with_a_request_id(
    client: OwnContextClient, log_lines: Callable[[], list[str]]
) -> None:
    client.get("/healthz")
    client.get("/s/not-a-real-token")
    client.get("/triage")
    records = [json.loads(line) for line in log_lines()]  # each parses on its own
    assert records and all(r["request_id"] for r in records)
    assert {"timestamp", "level", "logger", "message"} <= set(records[0])


def test_a_request_id_is_taken_from_a_trusted_proxy_only(tmp_path: Path) -> None:
    # With no proxy in front, anyone could send one: each request gets its own.
    direct = create_app(app_overrides("sqlite://", tmp_path / "instance")).test_client()
    made = direct.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c01"})
    assert len(made.headers["X-Request-ID"]) == 32 and made.headers["X-Request-ID"] != (
        "lb-7f3a9c01"
    )
    proxied = create_app(
        app_overrides("sqlite://", tmp_path / "instance", SCREENING_TRUSTED_PROXIES="1")
    ).test_client()
    given = proxied.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c01"})
    assert given.headers["X-Request-ID"] == "lb-7f3a9c01"
    # An id that could forge a log line is replaced, not copied.
    forged = proxied.get("/healthz", headers={"X-Request-ID": 'abcdefgh", "level": "ERROR'})
    assert len(forged.headers["X-Request-ID"]) == 32


def test_an_unhandled_error_is_logged_without_its_message_or_path(
    app: Flask, log_lines: Callable[[], list[str]]
) -> None:
    def fails(token: str) -> str:
        raise RuntimeError(f"Key (nhs_number)=({NHS_NUMBER}) already exists, token {token}")

    app.add_url_rule("/boom/<token>", "boom", fails)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    reply = app.test_client().get("/boom/secret-link-token")
    assert reply.status_code == 500
    (line,) = [json.loads(x) for x in log_lines() if "unhandled" in x]
    assert line["message"] == "unhandled RuntimeError in GET /boom/<token>"
    assert "raise RuntimeError" in line["traceback"]  # where it happened, for the fix
    logged = "\n".join(log_lines())
    assert NHS_NUMBER not in logged and "secret-link-token" not in logged
