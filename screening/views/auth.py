"""Staff sign-in and sign-out, the idle timeout, and `require_role` for staff blueprints.

Guessing is slowed twice (SPEC §9): per address here (Flask-Limiter on POST /login) and
per account in `screening.staff` (a short lock after five wrong passwords).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from .. import STAFF_IDLE_TIMEOUT, audit, clock, staff
from ..constants import AUDIT_LOGOUT, AUDIT_SESSION_TIMEOUT, ROLES
from ..extensions import db, limiter, login_manager, remote_addr
from ..models import StaffUser

bp = Blueprint("auth", __name__)

LOGIN_FAILED_MESSAGE = "Enter a correct email address and password"
TIMED_OUT_MESSAGE = (
    "You were signed out because you had not done anything for 30 minutes. Sign in again."
)
SIGNED_OUT_MESSAGE = "You have signed out."
LAST_SEEN_KEY = "staff_last_seen"  # POSIX seconds of the signed-in user's last request


class SignedInStaff(UserMixin):
    """What Flask-Login keeps for the request: the id, email and role of a staff user."""

    def __init__(self, user: StaffUser):
        self.id = user.id
        self.email = user.email
        self.role = user.role
        self.generation = user.session_generation

    def get_id(self) -> str:
        # The generation makes a session die when an admin disables the account or resets
        # its password, even a session on another computer.
        return f"{self.id}:{self.generation}"


@bp.record_once
def _configure_login(_state: BlueprintSetupState) -> None:
    login_manager.login_view = "auth.login"
    # Sent to the sign-in page from a bookmark, the page itself says what to do.
    login_manager.login_message = None
    login_manager.user_loader(load_staff)


def load_staff(session_id: str) -> SignedInStaff | None:
    # A deactivated or deleted account, or one whose sessions were ended, loses its
    # sessions at its next request.
    user_id, _, generation = session_id.partition(":")
    if not user_id.isdigit() or not generation.isdigit():
        return None
    user = db.session.get(StaffUser, int(user_id))
    if user is None or not user.active or user.session_generation != int(generation):
        return None
    return SignedInStaff(user)


class LoginForm(FlaskForm):
    email = StringField(
        "Email address", validators=[InputRequired("Enter your email address"), Length(max=320)]
    )
    # No maximum: any password `create_user` accepted must be able to sign in.
    password = PasswordField("Password", validators=[InputRequired("Enter your password")])


# --- sign in and out ---------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute;60 per hour", methods=["POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("staff.home"))
    form = LoginForm()
    field_errors: dict[str, str] = {}
    if form.validate_on_submit():
        result = staff.authenticate(db.session, form.email.data, form.password.data, remote_addr())
        db.session.commit()
        if result.ok and result.user is not None:
            _start_session(result.user)
            return redirect(local_path(request.args.get("next")) or url_for("staff.home"))
        # One message whatever went wrong: the page never says whether the email exists.
        field_errors = {"email": LOGIN_FAILED_MESSAGE}
    else:
        field_errors = {name: messages[0] for name, messages in form.errors.items()}
    return render_template(
        "auth/login.html",
        form=form,
        field_errors=field_errors,
        error_list=[{"text": text, "href": f"#{name}"} for name, text in field_errors.items()],
    )


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        _end_session(AUDIT_LOGOUT)
        flash(SIGNED_OUT_MESSAGE)
    return redirect(url_for("auth.login"))


def _start_session(user: StaffUser) -> None:
    # A fresh session on sign-in: nothing from before (such as a planted value) carries over.
    session.clear()
    login_user(SignedInStaff(user))
    session.permanent = True
    session[LAST_SEEN_KEY] = clock.now().timestamp()


def _end_session(action: str, **detail: int) -> None:
    audit.record(
        db.session,
        action,
        actor=current_user,
        subject_type=staff.SUBJECT_STAFF_USER,
        subject_id=current_user.id,
        remote_addr=remote_addr(),
        detail=detail or None,
    )
    db.session.commit()
    logout_user()
    session.clear()


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: `next` must not send people away."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ch.isspace() or ord(ch) < 0x20 for ch in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


# --- idle timeout ------------------------------------------------------------------------


@bp.before_app_request
def sign_out_idle_staff() -> ResponseReturnValue | None:
    """Enforced here on the server: a stolen or left-open session dies after 30 idle minutes."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    now = clock.now().timestamp()
    last_seen = session.get(LAST_SEEN_KEY)
    # A signed-in session without a time stamp is not one we made: treat it as expired.
    idle = now - last_seen if isinstance(last_seen, int | float) else None
    if idle is None or idle > STAFF_IDLE_TIMEOUT.total_seconds():
        _end_session(AUDIT_SESSION_TIMEOUT, idle_seconds=int(idle or 0))
        flash(TIMED_OUT_MESSAGE)
        return redirect(url_for("auth.login"))
    session[LAST_SEEN_KEY] = now
    return None


# --- role boundaries ---------------------------------------------------------------------


def require_role(*roles: str) -> Callable[[], ResponseReturnValue | None]:
    """A `before_request` check: anonymous users go to sign in, other roles get 403."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"require_role needs roles from {ROLES}, got {roles}")

    def check_role() -> ResponseReturnValue | None:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.role not in roles:
            abort(403)
        return None

    return check_role
