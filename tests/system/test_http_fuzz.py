"""Arbitrary requests to every route: random paths, forms, headers, cookies, tokens and
signatures (hypothesis). Nothing answers 500, a request the app refuses (4xx) changes no
patient, answer, response, flag, task or message, and markup sent in any parameter comes
back as text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.test import TestResponse

from screening.core import constants as c
from screening.models import (
    Answer,
    ContactAttempt,
    Flag,
    OutboundMessage,
    Patient,
    Referral,
    Response,
    SupportSession,
    TaskNote,
    TriageTask,
)
from tests.conftest import settings_for_test_clinics
from tests.factories import make_invited_episode, make_task, make_user
from tests.pages import csrf_token, page
from tests.views.test_triage import sign_in

PATIENT_DATA = (
    Patient, Answer, Response, Flag, TriageTask, ContactAttempt, SupportSession, Referral,
    TaskNote, OutboundMessage,
)  # fmt: skip
FIELD_NAMES = [
    "csrf_token", "email", "password", "outcome", "method", "note", "text", "minutes",
    "service", "domain", "status", "user_id", "take_over", "version", "questionnaire",
    "date", "ends_meet", "wants_help", "dob-day", "dob-month", "dob-year", "MessageSid",
    "MessageStatus", "From", "Body", "role", "active",
]  # fmt: skip
# Breaks out of an attribute and opens an element: escaped, it reads `&lt;b data-probe`.
PROBE = '\'"><b data-probe="1">probe</b>'
LIVE_PROBE = re.compile(r"<b\s+data-probe", re.IGNORECASE)
NASTY = st.sampled_from(
    ["", "0", "-1", "99999999999999999999", "1e308", "NaN", "null", "<script>", "' OR 1=1--",
     "\x00", "é" * 300, "%00", "../../etc/passwd", "yes", "no", "reached", "2026-02-30", PROBE]
)  # fmt: skip
TEXT = st.one_of(NASTY, st.text(max_size=60))


def fingerprint(session: Session) -> tuple[Any, ...]:
    """The patient-side data, as counts and the tasks' versions and statuses."""
    session.commit()
    counts = tuple(session.scalar(select(func.count()).select_from(m)) for m in PATIENT_DATA)
    tasks = tuple(session.execute(select(TriageTask.id, TriageTask.version, TriageTask.status)))
    return counts, tasks


@pytest.fixture
def targets(app: Flask, session: Session) -> dict[str, Any]:
    task = make_task(session)
    _, token = make_invited_episode(session, nhs_number="9990000026", mobile="+447400100002")
    admin = sign_in(app, session, "admin@example.nhs.uk", role=c.ROLE_ADMIN)
    token_of_page = csrf_token(page(admin.get(f"/triage/{task.id}")))
    paths = sorted({rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"})
    return {"admin": admin, "paths": paths, "csrf": token_of_page, "link": f"/s/{token}"}


def concrete(path: str, data: st.DataObject) -> str:
    # Each of the rule's own placeholders, once: a drawn value may hold "<" or ">" itself.
    def value(_placeholder: re.Match[str]) -> str:
        return data.draw(st.one_of(st.sampled_from(["1", "2", "0", "99999"]), st.text(
            alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#"),
            min_size=1, max_size=12)))  # fmt: skip

    return re.sub(r"<[^<>]+>", value, path)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_arbitrary_requests_never_fail_and_refusals_change_no_patient_data(
    app: Flask, session: Session, targets: dict[str, Any], data: st.DataObject
) -> None:
    signed_in = data.draw(st.booleans())
    client: FlaskClient = targets["admin"] if signed_in else app.test_client()
    path = data.draw(st.one_of(st.sampled_from(targets["paths"]), st.just(targets["link"])))
    path = concrete(path, data)
    method = data.draw(st.sampled_from(["GET", "POST"]))
    form = data.draw(st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), TEXT,
                                     max_size=6))  # fmt: skip
    if data.draw(st.booleans()):
        form["csrf_token"] = targets["csrf"]  # a real token, so the form's own rules are hit
    headers = data.draw(
        st.dictionaries(
            st.sampled_from(["X-Twilio-Signature", "X-Forwarded-For", "X-Request-ID",
                             "Accept-Language", "Referer", "User-Agent"]),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
            max_size=3,
        )
    )  # fmt: skip
    before = fingerprint(session)
    reply = client.open(path, method=method, data=form, headers=headers)
    assert reply.status_code < 500, (method, path, form, reply.status_code)
    assert live_markup(reply) is None, (method, path, form)
    if 400 <= reply.status_code < 500:
        assert fingerprint(session) == before, (method, path, form, reply.status_code)


# --- markup sent in every parameter comes back as text ------------------------------------

FORM_PAGE = {  # where each client finds a form, for its CSRF token; staff: the sign-out form
    "signed out": "/login",
    "patient": "/s/start",
    "patient asked their date of birth": "/s/verify",
    "patient at every item type": "/s/q/welcome",
    c.ROLE_PARTNER: "/referrals",  # a partner's home
}


class ReadParameters(ImmutableMultiDict):
    """Query strings and forms that note each name a view reads, so the sweep finds every
    parameter of every route from the routes themselves rather than from a list."""

    read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default, type)

    def getlist(self, key: str, type: Any = None) -> list[Any]:
        self.read.add(key)
        return super().getlist(key, type)


def live_markup(reply: TestResponse) -> str | None:
    """The probe where it came back as markup, with a little of what surrounds it."""
    body = reply.get_data(as_text=True) if reply.mimetype == "text/html" else ""
    found = LIVE_PROBE.search(body)
    return body[max(found.start() - 80, 0) : found.end() + 20] if found else None


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    """The test clinics: a date-of-birth check, and an item of every type to echo back."""
    return settings_for_test_clinics(tmp_path)


def patient_at(app: Flask, session: Session, clinic: str, nhs_number: str, *, start: bool):
    """A patient's browser that has opened its link (and pressed Start, when asked)."""
    _, token = make_invited_episode(session, clinic=clinic, nhs_number=nhs_number)
    browser = app.test_client()
    browser.get(f"/s/{token}")
    if start:
        token_of_page = csrf_token(page(browser.get("/s/start")))
        browser.post("/s/start", data={"csrf_token": token_of_page})
    return browser, token


@pytest.fixture
def sweep_clients(app: Flask, session: Session) -> dict[str, Any]:
    """A client per role, signed out, and patients part way through their links (one asked
    for their date of birth, one at a questionnaire of every item type); real ids for every
    placeholder of every route."""
    app.request_class = type("ProbedRequest", (app.request_class,),
                             {"parameter_storage_class": ReadParameters})  # fmt: skip
    task = make_task(session)
    referral = Referral(task_id=task.id, service_id="food-bank", status=c.REFERRAL_MADE)
    session.add(referral)
    episode, token = make_invited_episode(session, nhs_number="9990000026", mobile=None)
    session.commit()
    patient = app.test_client()
    patient.get(f"/s/{token}")
    clients = {
        "signed out": app.test_client(),
        "patient": patient,
        "patient asked their date of birth":
            patient_at(app, session, "DOB-CHECK", "9990000034", start=False)[0],
        "patient at every item type":
            patient_at(app, session, "ALL-TYPES", "9990000042", start=True)[0],
        **{role: sign_in(app, session, f"{role}@example.nhs.uk", role=role)
           for role in (c.ROLE_ADMIN, c.ROLE_PRESCRIBER, c.ROLE_CLINICIAN)},
        c.ROLE_PARTNER: sign_in(app, session, "partner@example.org", role=c.ROLE_PARTNER,
                                services=("food-bank",)),
    }  # fmt: skip
    ids = {
        "task_id": task.id, "referral_id": referral.id, "episode_id": episode.id,
        "letter_id": 1,
        "user_id": make_user(session, email="bystander@example.nhs.uk").id,
        "public_id": episode.public_id, "token": token,
        "item_id": ["ends_meet", "worries", "mood", "people_at_home", "anything_else"],
    }  # fmt: skip
    return {"clients": clients, "ids": ids, "task": task.id}


def probed_routes(app: Flask, ids: dict[str, Any]) -> list[tuple[str, str]]:
    """Every route with real ids in its placeholders; a placeholder given several values
    (the question pages' items) is asked with each."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout"):  # signing out would end the sweep
            continue
        paths = [rule.rule]
        for name in rule.arguments:
            values = ids[name] if isinstance(ids[name], list) else [ids[name]]
            pattern = re.compile(rf"<(?:\w+:)?{name}>")
            paths = [pattern.sub(str(value), path) for path in paths for value in values]
        found += [(m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"}) for path in paths]
    # The link last: opening it moves a patient's browser to that link's episode.
    return sorted(found, key=lambda route: (ids["token"] in route[1], route))


class Sweep:
    """One client's requests with the probe, and where it came back live."""

    def __init__(self, who: str, client: FlaskClient) -> None:
        self.who, self.client = who, client
        self.token = csrf_token(page(client.get(FORM_PAGE.get(who, "/"))))
        self.echoed: list[tuple[str, ...]] = []
        self.probed: set[tuple[str, str, str]] = set()

    def ask(self, method: str, path: str, probed: list[str]) -> set[str]:
        """Sends the probe in `probed` and returns the names the route read."""
        given = dict.fromkeys(probed, PROBE)
        if method == "POST" and probed != ["csrf_token"]:
            given["csrf_token"] = self.token
        ReadParameters.read = set()
        reply = self.client.open(
            path, method=method, query_string=given if method == "GET" else None,
            data=given if method == "POST" else None,
        )  # fmt: skip
        if len(probed) == 1:
            self.probed.add((method, path, probed[0]))
        if where := live_markup(reply):
            name = probed[0] if len(probed) == 1 else "*"
            self.echoed.append((self.who, method, path, name, where))
        return ReadParameters.read

    def route(self, method: str, path: str) -> None:
        names, tried = self.ask(method, path, FIELD_NAMES), set()
        while untried := sorted(names - tried):
            for name in untried:
                names |= self.ask(method, path, [name])
            tried |= set(untried)


def test_markup_in_any_parameter_of_any_route_comes_back_as_text_for_every_role(
    app: Flask, session: Session, sweep_clients: dict[str, Any]
) -> None:
    """Each route is asked once with the probe in every name the fuzz knows, which finds the
    names it reads; then with the probe in each of those alone beside a real CSRF token, so
    one refused field cannot hide another's echo, and names read on the way are asked in
    turn. (A name read only once another holds a valid value is the stored-text test's.)"""
    routes = probed_routes(app, sweep_clients["ids"])
    sweeps = {who: Sweep(who, client) for who, client in sweep_clients["clients"].items()}
    for sweep in sweeps.values():
        for method, path in routes:
            sweep.route(method, path)
    task = sweep_clients["task"]
    # The sweep reached the parameters pages are known to show back, for each audience.
    echoing = {
        "admin": [("GET", "/reports/funnel", "from"), ("GET", "/assisted", "q"),
                  ("POST", f"/triage/{task}/contacts", "note"),
                  ("POST", f"/triage/{task}/referrals", "other_name"),
                  ("GET", "/admin/audit", "user")],
        "prescriber": [("POST", f"/triage/{task}/notes", "text")],
        "clinician": [("GET", "/reports/funnel", "clinic")],
        "signed out": [("POST", "/login", "email")],
        "patient asked their date of birth": [("POST", "/s/verify", "dob-year")],
        "patient at every item type": [("POST", "/s/q/anything_else", "anything_else"),
                                       ("POST", "/s/q/people_at_home", "people_at_home")],
    }  # fmt: skip
    for who, asked in echoing.items():
        assert set(asked) <= sweeps[who].probed, (who, set(asked) - sweeps[who].probed)
    echoed = sorted({str(found[:4]) for s in sweeps.values() for found in s.echoed})
    assert not echoed, "markup came back live:\n" + "\n".join(echoed)
