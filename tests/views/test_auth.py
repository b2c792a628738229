"""Signing in and out, throttling, the idle timeout and role boundaries (SPEC §8, §9)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from screening.core.clock import frozen_at
from screening.models import AuditEvent, StaffUser
from screening.views.auth import local_path, require_role
from tests.factories import make_user
from tests.pages import csrf_token, page, text_of

PASSWORD = "correct horse battery"
MONDAY_9AM = datetime(2025, 3, 3, 9, 0)


def sign_in(
    client: FlaskClient, email: str = "sp@example.nhs.uk", password: str = PASSWORD, query: str = ""
) -> TestResponse:
    form = page(client.get(f"/login{query}"), title="Sign in")
    return client.post(
        f"/login{query}",
        data={"email": email, "password": password, "csrf_token": csrf_token(form)},
    )


def audit_events(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by("id"))
    )


def error_summary(html) -> str:
    summary = html.select_one(".nhsuk-error-summary")
    return text_of(summary) if summary is not None else ""


# --- signing in --------------------------------------------------------------------------


def test_signing_in_lands_on_the_staff_home(client: FlaskClient, session: Session) -> None:
    user = make_user(session, email="Sam.Prescriber@example.nhs.uk")

    response = sign_in(client, email="  SAM.prescriber@EXAMPLE.nhs.uk ")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = page(client.get("/"), title="Staff home")
    assert "Your work today" in text_of(home.main)
    assert "sam.prescriber@example.nhs.uk" in text_of(home.header)
    # What the service loaded is the admin's to see (tests/views/test_home.py).
    assert "Barts Social Welfare Screening Tool" not in text_of(home.main)
    [login] = audit_events(session, "login")
    assert login.actor_user_id == user.id
    assert login.remote_addr == "127.0.0.1"


def test_a_wrong_password_shows_the_error_summary_and_is_audited(
    client: FlaskClient, session: Session
) -> None:
    user = make_user(session)

    html = page(sign_in(client, password="wrong horse battery"), title="Error: Sign in")

    assert error_summary(html) == "There is a problem Enter a correct email address and password"
    assert html.select_one(".nhsuk-error-summary a")["href"] == "#email"
    assert html.select_one("#email")["value"] == "sp@example.nhs.uk"
    assert not html.select_one("#password").get("value")
    [failed] = audit_events(session, "login_failed")
    assert failed.subject_id == str(user.id)
    assert failed.detail == {"reason": "wrong_password", "failures": 1}
    assert client.get("/").status_code == 302


def test_an_unknown_email_reads_the_same_and_the_audit_keeps_no_address(
    client: FlaskClient, session: Session
) -> None:
    make_user(session)

    html = page(sign_in(client, email="nobody@example.nhs.uk"), title="Error: Sign in")

    assert "Enter a correct email address and password" in error_summary(html)
    [failed] = audit_events(session, "login_failed")
    assert failed.detail["reason"] == "unknown_email"
    assert "nobody" not in str(failed.detail)
    assert len(failed.detail["email_sha256"]) == 12


def test_an_empty_form_says_what_to_enter(client: FlaskClient, session: Session) -> None:
    html = page(sign_in(client, email="", password=""), title="Error: Sign in")

    assert error_summary(html) == "There is a problem Enter your email address Enter your password"
    assert audit_events(session, "login_failed") == []


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(
    client: FlaskClient, session: Session
) -> None:
    make_user(session)

    with frozen_at(MONDAY_9AM):
        for _ in range(5):
            page(sign_in(client, password="a guess that is wrong"))
        refused = page(sign_in(client), title="Error: Sign in")
        assert "Enter a correct email address and password" in error_summary(refused)
        assert client.get("/").status_code == 302

    with frozen_at(MONDAY_9AM + timedelta(minutes=14)):
        assert sign_in(client).status_code == 200

    with frozen_at(MONDAY_9AM + timedelta(minutes=16)):
        assert sign_in(client).status_code == 302
        page(client.get("/"), title="Staff home")

    assert len(audit_events(session, "login_locked")) == 1
    reasons = [event.detail["reason"] for event in audit_events(session, "login_failed")]
    assert reasons == ["wrong_password"] * 5 + ["locked"] * 2


def test_the_sign_in_form_answers_429_after_ten_posts_a_minute(
    client: FlaskClient, session: Session
) -> None:
    # Different accounts, so only the per-address limit can be what stops the eleventh.
    for attempt in range(10):
        page(sign_in(client, email=f"guess{attempt}@example.nhs.uk"), title="Sign in")

    html = page(sign_in(client, email="guess10@example.nhs.uk"), status=429)

    assert "Too many attempts" in text_of(html.main)
    assert html.main["data-page"] == "error"
    assert len(audit_events(session, "login_failed")) == 10


def test_next_sends_a_signed_in_user_back_to_a_local_page_only(
    client: FlaskClient, session: Session
) -> None:
    make_user(session)

    assert client.get("/").headers["Location"] == "/login?next=%2F"
    response = sign_in(client, query="?next=//evil.example/phish")

    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "followed"),
    [
        ("/", "/"),
        ("/triage?clinic=CARD-NUH", "/triage?clinic=CARD-NUH"),
        ("//evil.example", None),
        ("https://evil.example/", None),
        ("/\\evil.example", None),
        ("/\t/evil.example", None),
        ("javascript:alert(1)", None),
        ("", None),
        (None, None),
    ],
)
def test_only_local_paths_are_followed_after_sign_in(
    target: str | None, followed: str | None
) -> None:
    assert local_path(target) == followed


# --- sessions ----------------------------------------------------------------------------


def test_an_idle_session_is_signed_out_after_thirty_minutes_and_audited(
    client: FlaskClient, session: Session
) -> None:
    user = make_user(session)
    with frozen_at(MONDAY_9AM):
        sign_in(client)

    with frozen_at(MONDAY_9AM + timedelta(minutes=31)):
        response = client.get("/")
        assert response.headers["Location"] == "/login"
        html = page(client.get("/login"), title="Sign in")

    assert "signed out because you had not done anything for 30 minutes" in text_of(html.main)
    [timeout] = audit_events(session, "session_timeout")
    assert timeout.actor_user_id == user.id
    assert timeout.detail == {"idle_seconds": 31 * 60}
    assert client.get("/").status_code == 302


def test_activity_keeps_a_session_alive(client: FlaskClient, session: Session) -> None:
    make_user(session)
    with frozen_at(MONDAY_9AM):
        sign_in(client)
    for minutes in (29, 58):
        with frozen_at(MONDAY_9AM + timedelta(minutes=minutes)):
            page(client.get("/"), title="Staff home")
    assert audit_events(session, "session_timeout") == []


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_signing_out_needs_a_post_with_a_csrf_token(client: FlaskClient, session: Session) -> None:
    make_user(session)
    sign_in(client)
    home = page(client.get("/"), title="Staff home")
    sign_out = home.select_one("form[action='/logout']")
    assert sign_out is not None and sign_out["method"] == "post"

    assert client.get("/logout").status_code == 405
    page(client.post("/logout"), status=400, title="Your form expired")
    page(client.get("/"), title="Staff home")

    response = client.post("/logout", data={"csrf_token": csrf_token(sign_out)})
    assert response.headers["Location"] == "/login"
    assert "You have signed out" in text_of(page(client.get("/login")).main)
    assert client.get("/").status_code == 302
    assert len(audit_events(session, "logout")) == 1


def test_a_deactivated_account_loses_its_session(client: FlaskClient, session: Session) -> None:
    user = make_user(session)
    sign_in(client)
    session.get(StaffUser, user.id).active = False
    session.commit()

    assert client.get("/").status_code == 302
    assert sign_in(client).status_code == 200


def test_sign_in_without_a_csrf_token_shows_the_friendly_expired_page(
    client: FlaskClient, session: Session
) -> None:
    make_user(session)

    html = page(
        client.post("/login", data={"email": "sp@example.nhs.uk", "password": PASSWORD}),
        status=400,
        title="Your form expired",
    )

    assert "Go back and try again" in text_of(html.main)
    assert html.main["data-page"] == "error"
    assert audit_events(session, "login") == []


# --- roles -------------------------------------------------------------------------------


def test_require_role_sends_other_roles_a_403_page(app: Flask, session: Session) -> None:
    reports = Blueprint("reports_for_test", __name__)
    reports.before_request(require_role("clinician"))
    reports.add_url_rule("/test-reports", "index", lambda: "the funnel")
    app.register_blueprint(reports)
    make_user(session, email="sp@example.nhs.uk", role="prescriber")
    make_user(session, email="doc@example.nhs.uk", role="clinician")

    anonymous = app.test_client()
    assert anonymous.get("/test-reports").headers["Location"] == "/login?next=%2Ftest-reports"

    prescriber = app.test_client()
    sign_in(prescriber, email="sp@example.nhs.uk")
    refused = page(prescriber.get("/test-reports"), status=403, title="You cannot see this page")
    assert refused.main["data-page"] == "error"

    clinician = app.test_client()
    sign_in(clinician, email="doc@example.nhs.uk")
    assert clinician.get("/test-reports").get_data(as_text=True) == "the funnel"


def test_require_role_refuses_a_role_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match="surgeon"):
        require_role("surgeon")
