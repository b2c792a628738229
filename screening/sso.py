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
from sqlalchemy.orm import Session

from . import audit, clock, staff
from .config import SingleSignOn
from .constants import AUDIT_LOGIN, AUDIT_LOGIN_FAILED, AUDIT_USER_ROLE_CHANGED, ROLES
from .models import StaffUser

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
    return next((role for role in ROLES if values & set(settings.roles.get(role, ()))), None)


@dataclass(frozen=True)
class SsoOutcome:
    user: StaffUser | None
    reason: str | None = None  # why not: no_email, no_role, inactive


def sign_in(
    session: Session, claims: dict[str, Any], settings: SingleSignOn, remote_addr: str | None
) -> SsoOutcome:
    """The staff user these verified claims sign in, audited either way; the caller commits."""
    email = claims.get(settings.email_claim)
    role = role_for(claims, settings)
    if not isinstance(email, str) or "@" not in email:
        return _refused(session, None, "no_email", remote_addr)
    user = staff.find_user(session, email)
    if user is not None and not user.active:
        return _refused(session, user, "inactive", remote_addr)
    if role is None:
        return _refused(session, user, "no_role", remote_addr)
    if user is None:
        # Never signs in with a password: nobody knows it.
        user = staff.create_user(session, email, secrets.token_urlsafe(32), role)
    elif user.role != role:
        audit.record(
            session,
            AUDIT_USER_ROLE_CHANGED,
            subject_type=staff.SUBJECT_STAFF_USER,
            subject_id=user.id,
            remote_addr=remote_addr,
            detail={"role": role, "was": user.role, "by": "sso"},
        )
        user.role = role
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, clock.now()
    audit.record(
        session,
        AUDIT_LOGIN,
        actor=user,
        subject_type=staff.SUBJECT_STAFF_USER,
        subject_id=user.id,
        remote_addr=remote_addr,
        detail={"method": "sso"},
    )
    return SsoOutcome(user)


def _refused(
    session: Session, user: StaffUser | None, reason: str, remote_addr: str | None
) -> SsoOutcome:
    audit.record(
        session,
        AUDIT_LOGIN_FAILED,
        subject_type=staff.SUBJECT_STAFF_USER if user else None,
        subject_id=user.id if user else None,
        remote_addr=remote_addr,
        detail={"method": "sso", "reason": reason},
    )
    return SsoOutcome(None, reason)
