"""The admin's pages (SPEC §8): staff accounts and the audit trail, admins only."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.core import constants as c
from screening.models import AuditEvent, StaffUser
from tests.factories import make_task
from tests.pages import csrf_token, page, text_of
from tests.views.test_triage import PASSWORD, sign_in, staff_page
from tests.views.test_triage import post as post_from


@pytest.fixture
def admin(app: Flask, session: Session) -> FlaskClient:
    return sign_in(app, session, "admin@example.nhs.uk", "admin")


def post(client: FlaskClient, path: str, **fields: str):
    token = csrf_token(page(client.get("/admin/users")))
    return client.post(path, data={"csrf_token": token, **fields})


def user_named(session: Session, email: str) -> StaffUser:
    session.expire_all()
    return session.scalars(select(StaffUser).where(StaffUser.email == email)).one()


def test_an_admin_adds_a_prescriber_who_can_then_sign_in(
    app: Flask, session: Session, admin: FlaskClient
) -> None:
    response = post(
        admin, "/admin/users", email="New.SP@example.nhs.uk", role="prescriber", password=PASSWORD
    )
    assert response.status_code == 303
    html = staff_page(admin, "/admin/users", "users")
    assert "Account created for new.sp@example.nhs.uk" in text_of(html)
    created = session.scalars(
        select(AuditEvent).where(AuditEvent.action == c.AUDIT_USER_CREATED)
    ).all()
    assert created[-1].actor_user_id == user_named(session, "admin@example.nhs.uk").id
    newcomer = app.test_client()
    token = csrf_token(page(newcomer.get("/login")))
    signed = newcomer.post(
        "/login", data={"csrf_token": token, "email": "new.sp@example.nhs.uk", "password": PASSWORD}
    )
    assert signed.status_code == 302


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"email": "admin@example.nhs.uk", "role": "prescriber", "password": PASSWORD},
            "new-email",
            "already exists",
        ),
        (
            {"email": "x@example.nhs.uk", "role": "prescriber", "password": "short"},
            "new-password",
            "at least 12 characters",
        ),
        (
            {"email": "x@example.nhs.uk", "role": "wizard", "password": PASSWORD},
            "new-role",
            "Select a role",
        ),
        (
            {"email": "", "role": "prescriber", "password": PASSWORD},
            "new-email",
            "Enter the person's email",
        ),
    ],
)
def test_a_bad_new_account_is_refused_with_an_error_summary(
    app: Flask, session: Session, admin: FlaskClient, fields, field, message
) -> None:
    html = page(post(admin, "/admin/users", **fields), 400)
    summary = html.select_one(".nhsuk-error-summary")
    assert message in text_of(summary) and summary.find("a")["href"] == f"#{field}"
    assert html.select_one(f"#{field}") is not None
    assert [u.email for u in session.scalars(select(StaffUser))] == ["admin@example.nhs.uk"]


def test_disabling_an_account_ends_its_sessions_at_once(
    app: Flask, session: Session, admin: FlaskClient
) -> None:
    colleague = sign_in(app, session, "sp@example.nhs.uk")
    assert colleague.get("/triage").status_code == 200
    user = user_named(session, "sp@example.nhs.uk")
    assert post(admin, f"/admin/users/{user.id}/active", active="no").status_code == 303
    ended = colleague.get("/triage")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    assert not user_named(session, "sp@example.nhs.uk").active


def test_a_password_reset_ends_sessions_and_the_new_password_works(
    app: Flask, session: Session, admin: FlaskClient
) -> None:
    colleague = sign_in(app, session, "sp@example.nhs.uk")
    user = user_named(session, "sp@example.nhs.uk")
    new_password = "a brand new passphrase"
    assert post(admin, f"/admin/users/{user.id}/password", password=new_password).status_code == 303
    assert colleague.get("/triage").status_code == 302
    fresh = app.test_client()
    token = csrf_token(page(fresh.get("/login")))
    data = {"csrf_token": token, "email": user.email, "password": new_password}
    assert fresh.post("/login", data=data).status_code == 302


def test_changing_a_role_applies_at_the_next_request(
    app: Flask, session: Session, admin: FlaskClient
) -> None:
    colleague = sign_in(app, session, "sp@example.nhs.uk")
    user = user_named(session, "sp@example.nhs.uk")
    assert post(admin, f"/admin/users/{user.id}/role", role="clinician").status_code == 303
    assert colleague.get("/triage").status_code == 403


def test_an_admin_cannot_lock_themselves_out(
    app: Flask, session: Session, admin: FlaskClient
) -> None:
    me = user_named(session, "admin@example.nhs.uk")
    refused = page(post(admin, f"/admin/users/{me.id}/role", role="clinician"), 400)
    assert "You cannot change your own role" in text_of(refused.select_one(".nhsuk-error-summary"))
    refused = page(post(admin, f"/admin/users/{me.id}/active", active="no"), 400)
    assert "You cannot disable your own account" in text_of(refused)
    me = user_named(session, "admin@example.nhs.uk")
    assert (me.role, me.active) == ("admin", True)


def test_the_audit_trail_filters_by_user_patient_action_and_date(
    app: Flask, session: Session, admin: FlaskClient
) -> None:
    task = make_task(session)
    nhs = task.episode.patient.nhs_number
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    page(prescriber.get(f"/triage/{task.id}"))
    html = staff_page(
        admin, f"/admin/audit?user=sp@example.nhs.uk&action=view_patient&patient={nhs}", "audit"
    )
    assert "1 event" in text_of(html) and "Alex Example 999 000 0018" in text_of(html)
    nobody = staff_page(admin, "/admin/audit?user=sp@example.nhs.uk&action=logout", "audit")
    assert "0 events" in text_of(nobody)
    future = staff_page(admin, "/admin/audit?from=2099-01-01", "audit")
    assert "0 events" in text_of(future)
    bad = page(admin.get("/admin/audit?patient=1234567890&from=soon"), 400)
    summary = text_of(bad.select_one(".nhsuk-error-summary"))
    assert "valid 10-digit NHS number" in summary and "Enter a real date" in summary
    # Reading the trail is on the trail.
    read = session.scalars(
        select(AuditEvent).where(AuditEvent.action == c.AUDIT_VIEW_AUDIT).order_by(AuditEvent.id)
    ).all()
    assert len(read) == 4
    # The search for a patient names them by id: no NHS number is kept in the trail.
    assert read[0].patient_id == task.episode.patient_id
    assert all(nhs not in str(event.detail) for event in read)


ADMIN_ROUTES = [
    ("get", "/admin/users"),
    ("get", "/admin/audit"),
    ("post", "/admin/users"),
    ("post", "/admin/users/1/role"),
    ("post", "/admin/users/1/active"),
    ("post", "/admin/users/1/password"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize(
    ("role", "expected"), [(None, 302), ("prescriber", 403), ("clinician", 403)]
)
def test_admin_routes_are_for_admins_only(
    app: Flask, session: Session, method: str, path: str, role: str | None, expected: int
) -> None:
    client = sign_in(app, session, f"{role}@example.nhs.uk", role) if role else app.test_client()
    if method == "get":
        response = client.get(path)
    else:
        token = csrf_token(page(client.get("/login" if role is None else "/")))
        data = {
            "csrf_token": token,
            "email": "x@example.nhs.uk",
            "role": "admin",
            "password": PASSWORD,
            "active": "no",
        }
        response = client.post(path, data=data)
    assert response.status_code == expected
    session.expire_all()
    # Nothing changed: no new account, and every account keeps its role and is active.
    assert all(u.active and u.role == role for u in session.scalars(select(StaffUser)))
    assert (
        session.scalars(select(StaffUser).where(StaffUser.email == "x@example.nhs.uk")).first()
        is None
    )


def test_people_are_shown_by_name_once_an_admin_gives_one(
    app: Flask, session: Session, admin: FlaskClient
) -> None:
    task = make_task(session)
    here = f"/triage/{task.id}"
    colleague = sign_in(app, session, "sp@example.nhs.uk")
    assert post_from(colleague, f"{here}/claim", here).status_code == 303
    # Without a name, the email stands in.
    assert "Held by sp@example.nhs.uk" in text_of(page(admin.get(here)))
    user = user_named(session, "sp@example.nhs.uk")
    assert post(admin, f"/admin/users/{user.id}/name", name="  Sam  Patel ").status_code == 303
    assert user_named(session, "sp@example.nhs.uk").display_name == "Sam Patel"
    task_page = text_of(page(admin.get(here)))
    assert "Held by Sam Patel" in task_page
    assert "Sam Patel: Claimed the task" in task_page  # the history, by name
    assert "Sam Patel" in text_of(page(admin.get("/triage")))
    assert "Sam Patel" in text_of(page(colleague.get("/")).select_one("header"))
    renamed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == c.AUDIT_USER_RENAMED)
    ).all()
    assert [event.subject_id for event in renamed] == [str(user.id)]
    too_long = page(post(admin, f"/admin/users/{user.id}/name", name="x" * 201), 400)
    assert "The name must be 200 characters or fewer" in text_of(too_long)


def test_a_new_account_can_be_given_a_name(admin: FlaskClient, session: Session) -> None:
    response = post(
        admin,
        "/admin/users",
        name="Priya Shah",
        email="priya@example.nhs.uk",
        role="clinician",
        password=PASSWORD,
    )
    assert response.status_code == 303
    assert user_named(session, "priya@example.nhs.uk").display_name == "Priya Shah"
    assert "Priya Shah" in text_of(page(admin.get("/admin/users")))
