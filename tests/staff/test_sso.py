"""Single sign-on (issue: hospital IT): the whole authorization-code flow with PKCE against
a real OpenID provider on 127.0.0.1, roles from its claim, and sign-out ending both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening import create_app
from screening.core import constants as c
from screening.models import AuditEvent, StaffUser
from screening.views.auth import LAST_SEEN_KEY, SSO_ID_TOKEN_KEY
from tests.conftest import _empty_tables, app_overrides
from tests.factories import make_user
from tests.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    ProviderBrowser,
    running_provider,
)
from tests.pages import OwnContextClient, csrf_token, page, text_of

BASE_URL = "http://127.0.0.1:5000"
ACCOUNTS = {
    "sp": {
        "email": "sp@barts.nhs.uk",
        "email_verified": True,
        "name": "Sam Patel",
        "roles": ["Screening.SP"],
    },
    "admin": {
        "email": "lead@barts.nhs.uk",
        "email_verified": True,
        "roles": ["Screening.SP", "Screening.Admin"],
    },
    "visitor": {"email": "visitor@barts.nhs.uk", "roles": ["Another.App"]},
    "unverified": {"email": "unverified@barts.nhs.uk", "roles": ["Screening.SP"]},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider(ACCOUNTS, BASE_URL) as running:
        yield running


@pytest.fixture
def sso_app(database_url: str, tmp_path: Path, provider: Provider) -> Iterator[Flask]:
    app = create_app(
        app_overrides(
            database_url,
            tmp_path / "instance",
            SCREENING_PUBLIC_BASE_URL=BASE_URL,
            SCREENING_OIDC_ISSUER=provider.issuer,
            SCREENING_OIDC_CLIENT_ID=CLIENT_ID,
            SCREENING_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            SCREENING_OIDC_SCOPES="openid email profile roles",
            SCREENING_OIDC_ROLES="admin=Screening.Admin,prescriber=Screening.SP",
            SCREENING_OIDC_NAME="NHSmail",
        )
    )
    app.test_client_class = OwnContextClient
    with app.app_context():
        yield app
    _empty_tables()


def sign_in_through_provider(
    client: FlaskClient, browser: ProviderBrowser, login: str
) -> tuple[str, FlaskClient]:
    """Start on our sign-in page, sign in on the provider's, come back: the callback reply."""
    login_page = page(client.get("/login"))
    link = login_page.find("a", string="Sign in with NHSmail")
    start = client.get(link["href"])
    assert start.status_code == 302
    authorize = start.headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    # PKCE, state and nonce travel with the request; the secret never does.
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["state"] and query["nonce"] and "client_secret" not in query
    back = browser.submit(browser.follow(authorize), login=login, password="any")
    assert back.startswith(f"{BASE_URL}/login/sso/callback?")
    return back.removeprefix(BASE_URL), client


def test_a_prescriber_signs_in_with_the_provider_and_signing_out_ends_both(
    sso_app: Flask, session: Session, log_lines: Callable[[], list[str]]
) -> None:
    client, browser = sso_app.test_client(), ProviderBrowser(BASE_URL)
    callback, _ = sign_in_through_provider(client, browser, "sp")
    landed = client.get(callback)
    with client.session_transaction() as cookie:
        id_token = cookie[SSO_ID_TOKEN_KEY]
    # Nothing that could replay the sign-in reaches the log, even at DEBUG.
    code = parse_qs(urlsplit(callback).query)["code"][0]
    logged = "\n".join(log_lines())
    assert code not in logged and id_token not in logged and "code_verifier" not in logged
    assert landed.status_code == 302 and urlsplit(landed.headers["Location"]).path == "/"
    assert client.get("/triage").status_code == 200
    user = session.scalar(select(StaffUser).where(StaffUser.email == "sp@barts.nhs.uk"))
    assert user.role == c.ROLE_PRESCRIBER
    # Colleagues see the name the trust's directory gives (SPEC §8).
    assert user.display_name == "Sam Patel"
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == c.AUDIT_LOGIN))
    assert event.detail == {"method": "sso"} and event.actor_user_id == user.id
    # A prescriber is not an admin, whatever the session claims.
    assert client.get("/admin/users").status_code == 403

    home = page(client.get("/"))
    assert "Sam Patel" in home.select_one("header").get_text()
    signed_out = client.post("/logout", data={"csrf_token": csrf_token(home)})
    end_session = signed_out.headers["Location"]
    assert end_session.startswith(f"{browser_issuer(sso_app)}/session/end?")
    assert "id_token_hint=" in end_session
    assert client.get("/triage").status_code == 302  # our session is over
    back = browser.submit(browser.follow(end_session), logout="yes")
    assert back == f"{BASE_URL}/login"
    # The provider's session is over too: a new sign-in asks for the login again.
    again = client.get("/login/sso")
    prompt = browser.follow(again.headers["Location"])
    assert prompt.status_code == 200 and 'name="login"' in prompt.text


def browser_issuer(app: Flask) -> str:
    return app.extensions["screening"].config.sso.issuer


def test_a_linked_account_takes_the_most_senior_role_granted_and_loses_its_password(
    sso_app: Flask, session: Session
) -> None:
    make_user(session, email="lead@barts.nhs.uk", role=c.ROLE_CLINICIAN)
    client = sso_app.test_client()
    callback, _ = sign_in_through_provider(client, ProviderBrowser(BASE_URL), "admin")
    assert client.get(callback).status_code == 302
    session.expire_all()
    user = session.scalar(select(StaffUser).where(StaffUser.email == "lead@barts.nhs.uk"))
    assert user.role == c.ROLE_ADMIN
    changed = session.scalar(
        select(AuditEvent).where(AuditEvent.action == c.AUDIT_USER_ROLE_CHANGED)
    )
    assert changed.detail == {"role": "admin", "was": "clinician", "by": "sso"}
    assert client.get("/admin/users").status_code == 200
    assert user.sso_subject == f"{browser_issuer(sso_app)}|admin"
    # Its old password no longer opens it: leaving the trust's groups ends its access.
    other = sso_app.test_client()
    assert sign_in_locally(other, "lead@barts.nhs.uk").status_code == 200
    assert other.get("/admin/users").status_code == 302


def test_an_account_without_a_mapped_role_is_refused_and_audited(
    sso_app: Flask, session: Session
) -> None:
    client = sso_app.test_client()
    callback, _ = sign_in_through_provider(client, ProviderBrowser(BASE_URL), "visitor")
    refused = client.get(callback)
    assert refused.status_code == 403
    assert "not given a role in this service" in text_of(page(refused, 403))
    assert session.scalar(select(StaffUser)) is None  # no account made
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == c.AUDIT_LOGIN_FAILED))
    assert event.detail == {"method": "sso", "reason": "no_role"}
    assert client.get("/triage").status_code == 302


def test_an_account_disabled_here_stays_out_whatever_the_provider_says(
    sso_app: Flask, session: Session
) -> None:
    user = make_user(session, email="sp@barts.nhs.uk", role=c.ROLE_PRESCRIBER)
    user.active = False
    session.commit()
    client = sso_app.test_client()
    callback, _ = sign_in_through_provider(client, ProviderBrowser(BASE_URL), "sp")
    refused = client.get(callback)
    assert refused.status_code == 403 and "has been disabled" in text_of(page(refused, 403))


def test_a_forged_or_replayed_callback_signs_nobody_in(sso_app: Flask, session: Session) -> None:
    client = sso_app.test_client()
    callback, _ = sign_in_through_provider(client, ProviderBrowser(BASE_URL), "sp")
    # Another browser cannot use it: the state it carries was never this one's.
    stranger = sso_app.test_client()
    reply = stranger.get(callback)
    assert reply.status_code == 400
    assert "Signing in with NHSmail did not finish" in text_of(page(reply, 400))
    assert stranger.get("/triage").status_code == 302
    forged = client.get(callback.replace("state=", "state=forged"))
    assert forged.status_code == 400 and client.get("/triage").status_code == 302
    assert session.scalar(select(StaffUser)) is None
    # The genuine one, once used, cannot be used again by the same browser.
    fresh = sso_app.test_client()
    genuine, _ = sign_in_through_provider(fresh, ProviderBrowser(BASE_URL), "sp")
    assert fresh.get(genuine).status_code == 302
    home = page(fresh.get("/"))
    fresh.post("/logout", data={"csrf_token": csrf_token(home)})
    assert fresh.get(genuine).status_code == 400
    assert fresh.get("/triage").status_code == 302


def test_an_idle_timeout_makes_the_provider_ask_for_the_password_again(
    sso_app: Flask, session: Session
) -> None:
    client, browser = sso_app.test_client(), ProviderBrowser(BASE_URL)
    callback, _ = sign_in_through_provider(client, browser, "sp")
    assert client.get(callback).status_code == 302
    with client.session_transaction() as cookie:
        cookie[LAST_SEEN_KEY] -= 31 * 60
    assert client.get("/triage").status_code == 302  # timed out
    again = client.get("/login/sso").headers["Location"]
    assert parse_qs(urlsplit(again).query)["prompt"] == ["login"]
    # The provider's session is still alive, yet it asks again.
    prompt = browser.follow(again)
    assert prompt.status_code == 200 and 'name="login"' in prompt.text


def test_the_provider_cannot_take_over_a_local_admin_or_an_unverified_email(
    sso_app: Flask, session: Session
) -> None:
    make_user(session, email="sp@barts.nhs.uk", role=c.ROLE_ADMIN)  # the break-glass admin
    make_user(session, email="unverified@barts.nhs.uk", role=c.ROLE_CLINICIAN)
    for login, message in (
        ("sp", "belongs to a local admin account"),
        ("unverified", "not verified by NHSmail"),
    ):
        client = sso_app.test_client()
        callback, _ = sign_in_through_provider(client, ProviderBrowser(BASE_URL), login)
        refused = client.get(callback)
        assert refused.status_code == 403 and message in text_of(page(refused, 403))
    session.expire_all()
    roles = dict(session.execute(select(StaffUser.email, StaffUser.role)).all())
    assert roles == {"sp@barts.nhs.uk": "admin", "unverified@barts.nhs.uk": "clinician"}


def sign_in_locally(client: FlaskClient, email: str, password: str = "correct horse battery"):
    """The sign-in page's first form, the email-and-password one (SPEC §8)."""
    login = page(client.get("/login"))
    first_form = login.find("form", method="post")
    assert {i["name"] for i in first_form.find_all("input")} >= {"email", "password"}
    return client.post(
        "/login",
        data={"csrf_token": csrf_token(login), "email": email, "password": password},
    )


def test_local_sign_in_stays_for_the_break_glass_admin(sso_app: Flask, session: Session) -> None:
    make_user(session, email="breakglass@barts.nhs.uk", role=c.ROLE_ADMIN)
    client = sso_app.test_client()
    assert sign_in_locally(client, "breakglass@barts.nhs.uk").status_code == 302
    assert client.get("/admin/users").status_code == 200
