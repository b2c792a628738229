"""The service admin's pages (SPEC §8): staff accounts and the audit trail.

Each account change is a small POST form (`views.forms`) that answers 303 back to the
list, or the list again with the refused form's error summary (400). Disabling an account
or resetting its password ends every session it has (`StaffUser.session_generation`).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from wtforms import EmailField, HiddenField, PasswordField, StringField

from ..config.loaded import state
from ..core import constants as c
from ..core.extensions import db, remote_addr
from ..models import StaffUser
from ..staff import accounts as staff
from ..staff import audit
from .auth import require_role
from .forms import DayField, FilterForm, ManyField, StaffForm

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_role(c.ROLE_ADMIN))

ROLE_NAMES = {
    c.ROLE_ADMIN: "Admin (everything)",
    c.ROLE_PRESCRIBER: "Social prescriber (triage and reports)",
    c.ROLE_CLINICIAN: "Clinician (reports only)",
    c.ROLE_PARTNER: "Partner at a service (its referrals only)",
}


class NewUserForm(StaffForm):
    """A colleague's account; `staff.accounts.create_user` checks every field at once."""

    key = "new"
    name = StringField("Name")
    email = EmailField("Email address")
    role = StringField("Role")
    services = ManyField("Services")
    password = PasswordField("Password")


# One of each per account on the page: `key` is `{form}-{user id}`.
class NameForm(StaffForm):
    name = StringField("Name")


class RoleForm(StaffForm):
    role = StringField("Role")


class PasswordForm(StaffForm):
    password = PasswordField("New password")


class ActiveForm(StaffForm):
    active = HiddenField()


ACCOUNT_FORMS: dict[str, type[StaffForm]] = {
    "name": NameForm,
    "role": RoleForm,
    "password": PasswordForm,
    "active": ActiveForm,
}


class AuditFilterForm(FilterForm):
    user = EmailField("Staff email")
    patient = StringField("Patient's NHS number")
    action = StringField("Action")
    from_ = DayField("Start date", name="from")
    to = DayField("End date")


# --- staff accounts --------------------------------------------------------------------------


@bp.get("/users")
def users() -> ResponseReturnValue:
    return _users_page()


def _users_page(failed: StaffForm | None = None) -> ResponseReturnValue:
    """The accounts and their forms; `failed` is the form just refused, with its errors."""
    accounts = db.session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    forms = {NewUserForm.key: NewUserForm.blank()}
    for account in accounts:
        for name, form in ACCOUNT_FORMS.items():
            forms[f"{name}-{account.id}"] = form.blank(key=f"{name}-{account.id}")
    if failed is not None:
        forms[failed.key] = failed
    return (
        render_template(
            "staff/users.html",
            accounts=accounts,
            forms=forms,
            failed=failed,
            role_names=ROLE_NAMES,
            services=state().config.services,
        ),
        failed.http_status if failed is not None else 200,
    )


@bp.post("/users")
def add_user() -> ResponseReturnValue:
    form = NewUserForm()
    if not form.submit(
        lambda: staff.create_user(
            db.session(),
            form.value("email"),
            form.value("password"),
            form.value("role"),
            name=form.value("name"),
            by=current_user,
            services=form.values("services"),
            known_services=[service.id for service in state().config.services],
        )
    ):
        return _users_page(form)
    db.session.commit()
    flash(f"Account created for {staff.normalise_email(form.value('email'))}")
    return redirect(url_for(".users"), code=303)


@bp.post("/users/<int:user_id>/name")
def rename(user_id: int) -> ResponseReturnValue:
    form = NameForm(key=f"name-{user_id}")
    return _change_account(
        user_id,
        form,
        lambda user, **who: staff.rename(db.session(), user, form.value("name"), **who),
        lambda user: f"{user.email} is now shown as {user.shown_name}",
    )


@bp.post("/users/<int:user_id>/role")
def change_role(user_id: int) -> ResponseReturnValue:
    form = RoleForm(key=f"role-{user_id}")
    return _change_account(
        user_id,
        form,
        lambda user, **who: staff.change_role(db.session(), user, form.value("role"), **who),
        lambda user: f"{user.email} is now: {ROLE_NAMES[user.role]}",
    )


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int) -> ResponseReturnValue:
    form = ActiveForm(key=f"active-{user_id}")
    active = form.value("active") == "yes"
    return _change_account(
        user_id,
        form,
        lambda user, **who: staff.set_active(db.session(), user, active, **who),
        lambda user: (
            f"{user.email} {'can sign in again' if active else 'is disabled and signed out'}"
        ),
    )


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int) -> ResponseReturnValue:
    form = PasswordForm(key=f"password-{user_id}")
    return _change_account(
        user_id,
        form,
        lambda user, **who: staff.reset_password(db.session(), user, form.value("password"), **who),
        lambda user: f"New password set for {user.email}; their sessions have ended",
    )


def _change_account(
    user_id: int,
    form: StaffForm,
    change: Callable[..., None],
    done: Callable[[StaffUser], str],
) -> ResponseReturnValue:
    """Apply one account change: 303 back to the list, or the list with the refusal."""
    user = _account(user_id)
    if not form.submit(lambda: change(user, by=current_user, remote_addr=remote_addr())):
        return _users_page(form)
    db.session.commit()
    flash(done(user))
    return redirect(url_for(".users"), code=303)


def _account(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


# --- the audit trail -------------------------------------------------------------------------


@bp.get("/audit")
def audit_trail() -> ResponseReturnValue:
    form = AuditFilterForm()
    filters = form.read(audit.parse_filters)
    rows, total = audit.find_events(db.session(), filters) if filters else ([], 0)
    # Reading the trail is itself recorded, with the patient asked about if any: by their
    # id, so the trail holds no NHS number of its own (a purge could not remove it).
    searched = audit.patient_id_of(db.session(), filters.nhs_number) if filters else None
    audit.record(
        db.session(),
        c.AUDIT_VIEW_AUDIT,
        actor=current_user,
        patient_id=searched,
        remote_addr=remote_addr(),
        detail=(filters.as_params(patient=None) or None) if filters else None,
    )
    db.session.commit()
    return (
        render_template(
            "staff/audit.html",
            rows=rows,
            total=total,
            filters=filters or audit.AuditFilters(),
            form=form,
            actions=audit.ACTIONS,
            pages=max(1, -(-total // audit.PAGE_SIZE)),
        ),
        form.http_status,
    )
