"""The staff side's OWASP-style threats, one test each, named after the threat; each checks
every route the app has rather than a sample, so a new page cannot slip past."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening import create_app
from screening.core import constants as c
from screening.core.db import Base
from tests.conftest import _empty_tables, app_overrides
from tests.factories import make_task, make_user
from tests.pages import OwnContextClient, csrf_token, page
from tests.views.test_triage import PASSWORD, sign_in

# Routes a browser never posts a form to: Twilio signs its webhooks instead of a token.
SIGNED_NOT_TOKENED = {"/webhooks/twilio/status", "/webhooks/twilio/inbound"}
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


def routes(app: Flask, method: str) -> list[str]:
    """Every rule that takes `method`, its arguments filled with ones that exist."""
    paths = []
    for rule in app.url_map.iter_rules():
        if method not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        path = rule.rule
        for argument in rule.arguments:
            converter = rule._converters[argument].__class__.__name__
            value = "1" if converter == "IntegerConverter" else "x"
            path = path.replace(f"<{argument}>", value).replace(f"<int:{argument}>", value)
        paths.append(path)
    return sorted(set(paths))


def row_counts(session: Session) -> dict[str, int]:
    session.commit()
    return {
        table.name: session.scalar(select(func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
    }


def test_csrf_every_form_post_without_its_token_is_refused_and_changes_nothing(
    app: Flask, session: Session
) -> None:
    make_task(session)
    admin = sign_in(app, session, "admin@example.nhs.uk", role=c.ROLE_ADMIN)
    before = row_counts(session)
    posts = routes(app, "POST")
    assert "/triage/1/claim" in posts and "/admin/users" in posts  # the enumeration works
    for path in posts:
        reply = admin.post(path, data={"note": "x", "text": "x", "outcome": "reached"})
        if path in SIGNED_NOT_TOKENED:
            assert reply.status_code == 403, path
            continue
        # Refused by the CSRF check itself, not by the form's own validation.
        assert reply.status_code == 400 and "Your form expired" in reply.get_data(True), path
    assert row_counts(session) == before


def test_session_fixation_a_session_planted_before_sign_in_does_not_survive_it(
    client: FlaskClient, session: Session
) -> None:
    make_user(session, email="sp@example.nhs.uk")
    login = page(client.get("/login"))
    with client.session_transaction() as planted:
        planted["attacker"] = "knows this session"
        before = dict(planted)
    client.post(
        "/login",
        data={"csrf_token": csrf_token(login), "email": "sp@example.nhs.uk", "password": PASSWORD},
    )
    with client.session_transaction() as after:
        assert "attacker" not in after
        assert dict(after) != before


@pytest.fixture
def https_app(database_url: str, tmp_path: Path) -> Flask:
    app = create_app(
        app_overrides(
            database_url,
            tmp_path / "instance",
            SCREENING_PUBLIC_BASE_URL="https://screen.example.nhs.uk",
        )
    )
    app.test_client_class = OwnContextClient
    with app.app_context():
        yield app
    _empty_tables()


def test_cookie_theft_session_cookies_are_secure_httponly_and_same_site_under_https(
    https_app: Flask, session: Session
) -> None:
    make_user(session, email="sp@example.nhs.uk")
    client = https_app.test_client()
    https = {"base_url": "https://screen.example.nhs.uk"}
    login = page(client.get("/login", **https))
    reply = client.post(
        "/login",
        data={"csrf_token": csrf_token(login), "email": "sp@example.nhs.uk", "password": PASSWORD},
        **https,
    )
    cookie = next(h for h in reply.headers.getlist("Set-Cookie") if "screening_session=" in h)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")


def test_brute_force_sign_in_and_link_guessing_are_rate_limited(client: FlaskClient) -> None:
    login = page(client.get("/login"))
    statuses = [
        client.post(
            "/login",
            data={"csrf_token": csrf_token(login), "email": "x@example.nhs.uk", "password": "no"},
        ).status_code
        for _ in range(11)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:10]
    guesses = [client.get(f"/s/{'g' * 40}{n:03d}").status_code for n in range(40)]
    assert 429 in guesses and guesses[0] == 404


def test_idor_a_clinician_reaches_no_task_call_or_admin_page_by_guessing_its_address(
    app: Flask, session: Session
) -> None:
    task = make_task(session)
    clinician = sign_in(app, session, "cardiology@example.nhs.uk", role=c.ROLE_CLINICIAN)
    guessed = [p for p in routes(app, "GET") if p.startswith(("/triage", "/admin", "/assisted"))]
    assert f"/triage/{task.id}" in [p.replace("/1", f"/{task.id}") for p in guessed]
    for path in [*guessed, f"/triage/{task.id}"]:
        assert clinician.get(path).status_code == 403, path
    # A prescriber may open any task: the team shares one queue.
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    assert prescriber.get(f"/triage/{task.id}").status_code == 200


def test_clickjacking_and_sniffing_every_page_carries_the_security_headers(
    app: Flask, session: Session
) -> None:
    make_task(session)
    admin = sign_in(app, session, "admin@example.nhs.uk", role=c.ROLE_ADMIN)
    anonymous = app.test_client()
    pages = routes(app, "GET")
    assert len(pages) > 20
    for client in (admin, anonymous):
        for path in pages:
            reply = client.get(path)
            for header in SECURITY_HEADERS:
                assert header in reply.headers, (path, header)
            csp = reply.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp and reply.headers["X-Frame-Options"] == "DENY"
            assert "object-src 'none'" in csp, path
