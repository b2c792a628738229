"""Staff sign-in and sign-out, the idle timeout, and `require_role` for staff blueprints.

Guessing is slowed twice (SPEC §9): per address here (Flask-Limiter on POST /login) and
per account in `screening.staff.accounts` (a short lock after five wrong passwords).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import UserMixin, current_user, login_user, logout_user
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from ..config.loaded import state
from ..core import clock
from ..core.constants import AUDIT_LOGOUT, AUDIT_SESSION_TIMEOUT, ROLE_PARTNER, ROLES
from ..core.extensions import db, limiter, login_manager, remote_addr
from ..core.numbers import MAX_ID, whole_number
from ..models import StaffUser
from ..staff import accounts as staff
from ..staff import audit, sso
from ..staff.accounts import STAFF_IDLE_TIMEOUT
from .forms import StaffForm

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

LOGIN_FAILED_MESSAGE = "Enter a correct email address and password"
TIMED_OUT_MESSAGE = (
    "You were signed out because you had not done anything for 30 minutes. Sign in again."
)
SIGNED_OUT_MESSAGE = "You have signed out."
LAST_SEEN_KEY = "staff_last_seen"  # POSIX seconds of the signed-in user's last request
SSO_ID_TOKEN_KEY = "sso_id_token"  # for the provider's sign-out (id_token_hint)
SSO_NEXT_KEY = "sso_next"
SSO_FAILED_MESSAGE = "Signing in with {name} did not finish. Try again"
SSO_REFUSED_MESSAGES = {
    "no_role": "Your account is not given a role in this service. Ask your administrator "
    "to add you to one of its groups",
    "inactive": "Your account in this service has been disabled. Ask an administrator",
    "no_email": "Your account did not give an email address. Ask your administrator",
    "unverified_email": "Your account's email address is not verified by {name}. Ask your "
    "administrator",
    "local_admin": "This email address belongs to a local admin account: sign in with its password",
    "local_partner": "This email address belongs to a partner's account: sign in with its password",
    "email_taken": "This email address already belongs to another {name} account. Ask an "
    "administrator",
}
SSO_FORCE_LOGIN_KEY = "sso_force_login"  # after a timeout: the provider must ask again
# An ID token is kept for the provider's sign-out only while it leaves the session cookie
# well inside browsers' 4 KB; a longer one (Entra ID's with many groups) is not needed, as
# the client id alone can ask for the sign-out.
MAX_KEPT_ID_TOKEN = 2000


class SignedInStaff(UserMixin):
    """What Flask-Login keeps for the request: the id, email, name and role of a staff user."""

    def __init__(self, user: StaffUser):
        self.id = user.id
        self.email = user.email
        self.name = user.shown_name
        self.role = user.role
        # A partner's services (SPEC §13), read at each request: a change applies at once.
        # Nobody else has any, so nobody else's request reads them.
        self.service_ids = user.service_ids if user.role == ROLE_PARTNER else ()
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
    user_text, _, generation_text = session_id.partition(":")
    user_id = whole_number(user_text, at_most=MAX_ID)
    generation = whole_number(generation_text, at_most=MAX_ID)
    if user_id is None or generation is None:
        return None
    user = db.session.get(StaffUser, user_id)
    if user is None or not user.active or user.session_generation != generation:
        return None
    return SignedInStaff(user)


class LoginForm(StaffForm):
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
    if form.validate_on_submit():
        result = staff.authenticate(db.session, form.email.data, form.password.data, remote_addr())
        db.session.commit()
        if result.ok and result.user is not None:
            _start_session(result.user)
            return _after_sign_in(result.user.role, local_path(request.args.get("next")))
        # One message whatever went wrong: the page never says whether the email exists.
        form.add_error("email", LOGIN_FAILED_MESSAGE)
    return _login_page(form)


def _login_page(form: LoginForm, sso_error: str | None = None) -> str:
    errors = form.error_list
    if sso_error:
        errors.append({"text": sso_error, "href": "#sso"})
    return render_template(
        "staff/login.html",
        form=form,
        sso_error=sso_error,
        sso=state().config.sso,
        error_list=errors,
    )


# --- single sign-on ------------------------------------------------------------------------


# Generous: staff behind one hospital address sign in together at a shift's start, and a
# callback is worthless without the state its own browser holds.
@bp.get("/login/sso")
@limiter.limit("300 per minute")
def sso_start() -> ResponseReturnValue:
    settings = state().config.sso
    if settings is None:
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("staff.home"))
    session[SSO_NEXT_KEY] = local_path(request.args.get("next"))
    # After an idle timeout the provider must ask for the password again: on a shared ward
    # computer its own session would otherwise sign the next person in as the last.
    prompt = {"prompt": "login"} if session.get(SSO_FORCE_LOGIN_KEY) else {}
    try:
        return sso.client().authorize_redirect(redirect_uri=_callback_url(), **prompt)
    except (AuthlibBaseError, requests.RequestException) as exc:
        return _sso_failed(exc, settings.name)


@bp.get("/login/sso/callback")
@limiter.limit("300 per minute")
def sso_callback() -> ResponseReturnValue:
    settings = state().config.sso
    if settings is None:
        abort(404)
    try:
        token = sso.client().authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if settings.role_claim not in claims or settings.email_claim not in claims:
            # Providers differ in what the ID token carries; userinfo has the rest, and
            # must be about the same person (OpenID Connect Core 5.3.2).
            more = dict(sso.client().userinfo(token=token))
            if more.get("sub") != claims.get("sub"):
                raise KeyError("userinfo names another subject")
            claims = more | claims
    except (AuthlibBaseError, requests.RequestException, KeyError) as exc:
        return _sso_failed(exc, settings.name)
    outcome = sso.sign_in(db.session, claims, settings, remote_addr())
    db.session.commit()
    if outcome.user is None:
        message = SSO_REFUSED_MESSAGES[outcome.reason or "no_role"].format(name=settings.name)
        return _login_page(LoginForm.blank(), message), 403
    next_path = session.get(SSO_NEXT_KEY)
    _start_session(outcome.user)
    id_token = token.get("id_token") or ""
    session[SSO_ID_TOKEN_KEY] = id_token if len(id_token) <= MAX_KEPT_ID_TOKEN else True
    return _after_sign_in(outcome.user.role, next_path)


def _after_sign_in(role: str, next_path: str | None) -> ResponseReturnValue:
    """Where a sign-in lands: the page asked for, else home. A partner only ever has their
    referrals (SPEC §8, §13): a notice's link to one, else the list, answered 303."""
    if role == ROLE_PARTNER:
        wanted = next_path if next_path and next_path.startswith("/referrals") else None
        return redirect(wanted or url_for("referrals.referral_list"), code=303)
    return redirect(next_path or url_for("staff.home"))


def _sso_failed(exc: Exception, name: str) -> ResponseReturnValue:
    log.warning("single sign-on did not complete (%s)", type(exc).__name__)
    return _login_page(LoginForm.blank(), SSO_FAILED_MESSAGE.format(name=name)), 400


def _callback_url() -> str:
    # The address the provider was told about: the public one, not the one behind a proxy.
    return state().config.public_base_url + url_for("auth.sso_callback")


def _provider_sign_out(id_token: str | bool) -> str | None:
    """The provider's sign-out address (RP-initiated logout), to end its session too."""
    try:
        end_session = sso.client().load_server_metadata().get("end_session_endpoint")
    except (AuthlibBaseError, requests.RequestException) as exc:
        log.warning("provider sign-out unavailable (%s)", type(exc).__name__)
        return None
    if not end_session:
        return None
    settings = state().config.sso
    query = {
        **({"id_token_hint": id_token} if isinstance(id_token, str) else {}),
        "post_logout_redirect_uri": state().config.public_base_url + url_for("auth.login"),
        "client_id": settings.client_id if settings else "",
    }
    return f"{end_session}?{urlencode(query)}"


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        id_token = session.get(SSO_ID_TOKEN_KEY)
        _end_session(AUDIT_LOGOUT)
        flash(SIGNED_OUT_MESSAGE)
        provider = _provider_sign_out(id_token) if id_token else None
        if provider:
            return redirect(provider)
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
        signed_in_by_provider = SSO_ID_TOKEN_KEY in session
        _end_session(AUDIT_SESSION_TIMEOUT, idle_seconds=int(idle or 0))
        if signed_in_by_provider:
            session[SSO_FORCE_LOGIN_KEY] = True
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
