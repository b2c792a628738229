"""Arbitrary requests to every route: random paths, forms, headers, cookies, tokens and
signatures (hypothesis). Nothing answers 500, and a request the app refuses (4xx) changes
no patient, answer, response, flag, task or message."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening import constants as c
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
from tests.factories import make_invited_episode, make_task
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
NASTY = st.sampled_from(
    ["", "0", "-1", "99999999999999999999", "1e308", "NaN", "null", "<script>", "' OR 1=1--",
     "\x00", "é" * 300, "%00", "../../etc/passwd", "yes", "no", "reached", "2026-02-30"]
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
    if 400 <= reply.status_code < 500:
        assert fingerprint(session) == before, (method, path, form, reply.status_code)
