"""The service admin's pages (SPEC §8): staff accounts and the audit trail.

Each account change is a small POST form that answers 303 back to the list, or the list
again with an error summary (400). Disabling an account or resetting its password ends
every session it has (`StaffUser.session_generation`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from ..core import constants as c
from ..core.extensions import db, remote_addr
from ..core.identifiers import normalise_nhs_number
from ..models import StaffUser
from ..staff import accounts as staff
from ..staff import audit
from .auth import require_role

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_role(c.ROLE_ADMIN))

ROLE_NAMES = {
    c.ROLE_ADMIN: "Admin (everything)",
    c.ROLE_PRESCRIBER: "Social prescriber (triage and reports)",
    c.ROLE_CLINICIAN: "Clinician (reports only)",
}


# --- staff accounts --------------------------------------------------------------------------


@bp.get("/users")
def users() -> ResponseReturnValue:
    return _users_page()


def _users_page(*, error: tuple[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    accounts = db.session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    return (
        render_template(
            "staff/users.html",
            accounts=accounts,
            error=error,
            posted=request.form if error else {},
            role_names=ROLE_NAMES,
        ),
        status,
    )


@bp.post("/users")
def add_user() -> ResponseReturnValue:
    email, role = request.form.get("email", ""), request.form.get("role", "")
    password = request.form.get("password", "")
    if not email.strip():
        return _refused("new-email", "Enter the person's email address")
    if role not in c.ROLES:
        return _refused("new-role", "Select a role")
    try:
        staff.create_user(db.session(), email, password, role, by=current_user)
    except staff.WeakPassword as exc:
        return _refused("new-password", _sentence(exc))
    except ValueError as exc:  # an existing email, or not an email address
        return _refused("new-email", _sentence(exc))
    db.session.commit()
    flash(f"Account created for {staff.normalise_email(email)}")
    return redirect(url_for(".users"), code=303)


@bp.post("/users/<int:user_id>/role")
def change_role(user_id: int) -> ResponseReturnValue:
    role = request.form.get("role", "")
    return _change_account(
        user_id,
        "role",
        lambda user, **who: staff.change_role(db.session(), user, role, **who),
        lambda user: f"{user.email} is now: {ROLE_NAMES[user.role]}",
    )


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int) -> ResponseReturnValue:
    active = request.form.get("active") == "yes"
    return _change_account(
        user_id,
        "active",
        lambda user, **who: staff.set_active(db.session(), user, active, **who),
        lambda user: (
            f"{user.email} {'can sign in again' if active else 'is disabled and signed out'}"
        ),
    )


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int) -> ResponseReturnValue:
    password = request.form.get("password", "")
    return _change_account(
        user_id,
        "password",
        lambda user, **who: staff.reset_password(db.session(), user, password, **who),
        lambda user: f"New password set for {user.email}; their sessions have ended",
    )


def _change_account(
    user_id: int,
    field: str,
    change: Callable[..., None],
    done: Callable[[StaffUser], str],
) -> ResponseReturnValue:
    """Apply one account change: 303 back to the list, or the list with the refusal."""
    user = _account(user_id)
    try:
        change(user, by=current_user, remote_addr=remote_addr())
    except ValueError as exc:
        return _refused(f"{field}-{user_id}", _sentence(exc))
    db.session.commit()
    flash(done(user))
    return redirect(url_for(".users"), code=303)


def _account(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


def _refused(field_id: str, message: str) -> ResponseReturnValue:
    db.session.rollback()
    return _users_page(error=(field_id, message), status=400)


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


# --- the audit trail -------------------------------------------------------------------------


@bp.get("/audit")
def audit_trail() -> ResponseReturnValue:
    args = request.args
    problems: list[tuple[str, str]] = []
    patient_text = args.get("patient", "").strip()
    nhs_number = normalise_nhs_number(patient_text) if patient_text else None
    if patient_text and nhs_number is None:
        problems.append(("patient", "Enter a valid 10-digit NHS number"))
    action = args.get("action", "").strip() or None
    if action is not None and action not in audit.ACTIONS:
        problems.append(("action", "Select an action from the list"))
        action = None
    since, until = _day(args, "from", problems), _day(args, "to", problems)
    page_text = args.get("page", "1")
    page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 100_000 else 1
    filters = audit.AuditFilters(
        user=args.get("user", "").strip() or None,
        nhs_number=nhs_number if not problems else None,
        action=action,
        since=since,
        until=until,
        page=page,
    )
    rows, total = audit.find_events(db.session(), filters) if not problems else ([], 0)
    # Reading the trail is itself recorded, with the patient asked about if any: by their
    # id, so the trail holds no NHS number of its own (a purge could not remove it).
    searched = audit.patient_id_of(db.session(), filters.nhs_number)
    audit.record(
        db.session(),
        c.AUDIT_VIEW_AUDIT,
        actor=current_user,
        patient_id=searched,
        remote_addr=remote_addr(),
        detail=filters.as_params(patient=None) or None,
    )
    db.session.commit()
    return (
        render_template(
            "staff/audit.html",
            rows=rows,
            total=total,
            filters=filters,
            args=args,
            problems=problems,
            actions=audit.ACTIONS,
            pages=max(1, -(-total // audit.PAGE_SIZE)),
        ),
        400 if problems else 200,
    )


def _day(args, name: str, problems: list[tuple[str, str]]) -> date | None:
    text = args.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append((name, "Enter the date as year, month and day, like 2026-12-14"))
        return None
