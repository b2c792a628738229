"""Single sign-on through the trust's OpenID Connect provider (NHSmail, Entra ID).

Authlib's Flask client does the protocol: the authorization-code flow with PKCE (S256),
`state` and `nonce`, and the ID token's signature, issuer, audience and expiry checked
against the provider's published keys. This module decides who may come in: the account
is found by email (or made, at the first sign-in), its role is read afresh from the
configured claim at every sign-in (so a change in the trust's directory applies at the
next one), and an account an admin disabled here stays out whatever the provider says.
Local accounts stay for small sites and the break-glass admin.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import SingleSignOn
from ..core import clock
from ..core.constants import (
    AUDIT_LOGIN,
    AUDIT_LOGIN_FAILED,
    AUDIT_USER_ROLE_CHANGED,
    AUDIT_USER_SSO_LINKED,
    ROLE_ADMIN,
    ROLE_PARTNER,
    SSO_ROLES,
)
from ..core.identifiers import email_problem
from ..core.refusals import Problems
from ..models import StaffUser
from ..models.staff import NAME_MAX
from . import accounts as staff
from . import audit

PROVIDER = "trust"
EXTENSION = "screening_sso"


def init_app(app: Flask, settings: SingleSignOn | None) -> None:
    """A registry per app (Authlib's caches the client, with the provider's metadata)."""
    if settings is None:
        return
    oauth = OAuth(app)
    app.extensions[EXTENSION] = oauth
    oauth.register(
        PROVIDER,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.metadata_url,
        client_kwargs={"scope": settings.scopes, "code_challenge_method": "S256"},
    )


def client() -> Any:
    return current_app.extensions[EXTENSION].create_client(PROVIDER)


def role_for(claims: dict[str, Any], settings: SingleSignOn) -> str | None:
    """The most senior role the claim grants, or None; a claim may be a list or a value."""
    given = claims.get(settings.role_claim)
    values = set(given) if isinstance(given, list) else {given} if given else set()
    return next((role for role in SSO_ROLES if values & set(settings.roles.get(role, ()))), None)


@dataclass(frozen=True)
class SsoOutcome:
    user: StaffUser | None
    # why not: no_email, no_role, inactive, unverified_email, local_admin, local_partner,
    # email_taken
    reason: str | None = None


def sign_in(
    session: Session, claims: dict[str, Any], settings: SingleSignOn, remote_addr: str | None
) -> SsoOutcome:
    """The staff user these verified claims sign in, audited either way; the caller commits.

    An account is the provider's subject (`sub`), which never changes; the email links an
    existing account to it once, and only when the provider vouches for the email. The
    local admins stay local: the break-glass account must not depend on the provider, nor
    be taken over through it. A linked account loses its password here, so removing
    someone from the trust's groups cannot be sidestepped by signing in locally.
    """
    email = claims.get(settings.email_claim)
    if not isinstance(email, str) or email_problem(email) or not claims.get("sub"):
        return _refused(session, None, "no_email", remote_addr)
    subject = f"{settings.issuer}|{claims['sub']}"
    user = session.scalar(select(StaffUser).where(StaffUser.sso_subject == subject))
    if user is None:
        user = staff.find_user(session, email)
        problem = _cannot_link(user, claims, settings) if user is not None else None
        if problem is not None:
            return _refused(session, user, problem, remote_addr)
    if user is not None and not user.active:
        return _refused(session, user, "inactive", remote_addr)
    role = role_for(claims, settings)
    if role is None:
        return _refused(session, user, "no_role", remote_addr)
    if user is None:
        user = staff.create_user(session, email, secrets.token_urlsafe(32), role)
    _follow_the_provider(session, user, subject, role, remote_addr)
    _take_the_name(user, claims.get("name"))
    _account_event(session, AUDIT_LOGIN, user, remote_addr, actor=user, method="sso")
    return SsoOutcome(user)


def _cannot_link(user: StaffUser, claims: dict[str, Any], settings: SingleSignOn) -> str | None:
    if user.sso_subject is not None:
        return "email_taken"  # another identity at the provider already has this account
    if user.role == ROLE_ADMIN:
        return "local_admin"
    if user.role == ROLE_PARTNER:
        return "local_partner"  # bound to their services, which the provider knows nothing of
    # `email` is only as good as `email_verified`; a tenant's user name (Entra ID's
    # preferred_username) is set by the trust's own administrators.
    if settings.email_claim == "email" and claims.get("email_verified") is not True:
        return "unverified_email"
    return None


def _follow_the_provider(
    session: Session, user: StaffUser, subject: str, role: str, remote_addr: str | None
) -> None:
    """Link the account, and take the role the provider gives it today."""
    if user.sso_subject is None:
        user.sso_subject = subject
        user.password_hash = staff.NO_PASSWORD
        _account_event(session, AUDIT_USER_SSO_LINKED, user, remote_addr)
    if user.role != role:
        _account_event(
            session, AUDIT_USER_ROLE_CHANGED, user, remote_addr, role=role, was=user.role, by="sso"
        )
        user.role = role
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, clock.now()


def _take_the_name(user: StaffUser, name: Any) -> None:
    """The provider's `name` claim, as the organisation spells it, at every sign-in."""
    if isinstance(name, str) and (shown := staff.display_name(name, Problems())):
        user.display_name = shown[:NAME_MAX]


def _refused(
    session: Session, user: StaffUser | None, reason: str, remote_addr: str | None
) -> SsoOutcome:
    _account_event(session, AUDIT_LOGIN_FAILED, user, remote_addr, method="sso", reason=reason)
    return SsoOutcome(None, reason)


def _account_event(
    session: Session,
    action: str,
    user: StaffUser | None,
    remote_addr: str | None,
    *,
    actor: StaffUser | None = None,
    **detail: str,
) -> None:
    audit.record(
        session,
        action,
        actor=actor,
        subject_type=staff.SUBJECT_STAFF_USER if user else None,
        subject_id=user.id if user else None,
        remote_addr=remote_addr,
        detail=detail or None,
    )
