"""Text someone typed and the product stored shows as text on every page that shows it: a
patient's name from the appointment list, a patient's free-text answer, notes of every
kind, a service's name from `config/services.yaml` or typed for another service, and a
staff account's email and display name, each holding markup."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.appointments.importer import import_appointments
from screening.config.loaded import state
from screening.core import constants as c
from screening.core.clock import LONDON
from screening.models import StaffUser, TriageTask
from screening.staff.accounts import hash_password
from tests.appointment_lists import appointment, write_list
from tests.conftest import FIXTURES, settings_for_test_clinics
from tests.factories import make_invited_episode
from tests.journeys import act
from tests.pages import csrf_token, page, text_of
from tests.patient.test_pages import PatientBrowser
from tests.views.test_triage import PASSWORD, post, sign_in


def probe(where: str) -> str:
    return f'<b data-probe="{where}">{where}</b>'


LIVE = re.compile(r"<b\s+data-probe")
NHS_NUMBER = "9990000018"
EMAIL = f"{probe('email')}@example.nhs.uk"


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    """The test clinics, with a service whose name in the directory holds markup."""
    found = settings_for_test_clinics(tmp_path)
    config = tmp_path / "config"
    shutil.copytree(FIXTURES / "config", config)
    services = config / "services.yaml"
    named = f"name: 'Food bank {probe('service')}'"
    services.write_text(services.read_text().replace("name: Local food bank (by referral)", named))
    return {**found, "SCREENING_CONFIG_DIR": str(config)}


def client_signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    token = csrf_token(page(client.get("/login")))
    signed = client.post("/login", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert signed.status_code == 302
    return client


def shows_as_text(client: FlaskClient, path: str, *probes: str) -> None:
    """The page answers, holds no live probe, and reads each probe's markup as words."""
    reply = client.get(path)
    html = page(reply)
    assert not LIVE.search(reply.get_data(as_text=True)), path
    for where in probes:
        assert probe(where) in text_of(html), (path, where)


def test_markup_typed_by_patients_staff_and_list_makers_shows_as_text_everywhere(
    app: Flask, session: Session, client: FlaskClient, tmp_path: Path
) -> None:
    episode, token = make_invited_episode(session, clinic="ALL-TYPES", nhs_number=NHS_NUMBER)
    patient = PatientBrowser(client)
    patient.start(token)
    for item_id, value in [("welcome", None), ("worries", "bills"), ("mood", "2"),
                           ("people_at_home", "1")]:  # fmt: skip
        patient.post(f"/s/q/{item_id}", {item_id: value} if value else {})
    check = patient.answer("anything_else", probe("answer"))
    assert not LIVE.search(str(check)) and probe("answer") in text_of(check)  # check your answers
    patient.send()
    # The hospital's next list names the patient with markup (the latest row's details win).
    rows = [appointment(1, nhs_number=NHS_NUMBER, clinic_code="ALL-TYPES",
                        given_name=probe("given"), family_name=probe("family"))]  # fmt: skip
    import_appointments(session, state().config, write_list(tmp_path / "l.csv", rows), print)
    session.commit()
    task = session.scalars(select(TriageTask)).one()
    day = task.episode.appointment_at.astimezone(LONDON).date().isoformat()

    # A staff account whose email and name hold markup (single sign-on asks the email only
    # for an "@", and takes the name the provider gives).
    session.add(
        StaffUser(
            email=EMAIL,
            display_name=probe("name"),
            password_hash=hash_password(PASSWORD),
            role=c.ROLE_PRESCRIBER,
        )
    )
    session.commit()
    prescriber = client_signed_in(app, EMAIL)
    here = f"/triage/{task.id}"
    act(prescriber, task.id, "claim")
    act(prescriber, task.id, "contacts", method="phone", outcome="reached", note=probe("contact"))
    act(prescriber, task.id, "sessions", minutes="30", note=probe("session"))
    act(prescriber, task.id, "referrals", service="food-bank", note=probe("referral"))
    act(prescriber, task.id, "referrals", service="other", other_name=probe("other"))
    act(prescriber, task.id, "notes", text=probe("note"))
    names = ("given", "family")
    notes = ("contact", "session", "referral", "note")
    shows_as_text(prescriber, here, *names, *notes, "answer", "service", "other", "name")
    shows_as_text(prescriber, "/triage", *names, "name")
    shows_as_text(prescriber, f"/triage/clinic-day?date={day}", *names)
    shows_as_text(prescriber, f"/assisted?q={NHS_NUMBER}", *names)
    shows_as_text(prescriber, "/reports/funnel", "other")

    # A patient still to answer, on the list to phone, with a call noted from it.
    waiting, _ = make_invited_episode(session, nhs_number="9990000026", mobile=None)
    waiting.status, waiting.needs_call_reason = c.EPISODE_NEEDS_CALL, "no_mobile"
    waiting.patient.given_name = probe("caller")
    session.commit()
    calls = f"/triage/to-call/{waiting.id}/calls"
    called = post(prescriber, calls, calls, outcome="no_answer", note=probe("call"))
    assert called.status_code == 303
    shows_as_text(prescriber, "/triage/to-call", "caller", "call")
    shows_as_text(prescriber, calls, "caller")

    admin = sign_in(app, session, "admin@example.nhs.uk", role=c.ROLE_ADMIN)
    shows_as_text(admin, "/admin/audit", *names, "name", "email")
    shows_as_text(admin, "/admin/users", "name", "email")
