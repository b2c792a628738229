"""Staff accounts: creating users, checking passwords, throttling guesses (SPEC §9).

Per-account throttling: `MAX_FAILED_LOGINS` wrong passwords in a row lock the account for
`LOCK_DURATION`. The lock is short on purpose: together with the per-address limit on the
login page it slows guessing down without letting a stranger keep a colleague out for long.

Whatever went wrong, the caller gets one generic failure; only the audit log says whether
the email was unknown, the account locked or the password wrong. Callers commit.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..core import clock
from ..core.constants import (
    AUDIT_LOGIN,
    AUDIT_LOGIN_FAILED,
    AUDIT_LOGIN_LOCKED,
    AUDIT_USER_CREATED,
    AUDIT_USER_DISABLED,
    AUDIT_USER_ENABLED,
    AUDIT_USER_PASSWORD_RESET,
    AUDIT_USER_RENAMED,
    AUDIT_USER_ROLE_CHANGED,
    ROLE_PARTNER,
    ROLES,
)
from ..core.identifiers import email_problem
from ..core.refusals import Problems, Refused
from ..models import StaffService, StaffUser
from ..models.staff import NAME_MAX
from . import audit
from .audit import Actor

MIN_PASSWORD_LENGTH = 12
MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
# Staff sessions end after this long without a request (checked on the server, views/auth).
STAFF_IDLE_TIMEOUT = timedelta(minutes=30)
SUBJECT_STAFF_USER = "staff_user"

# The password of an account that signs in through the identity provider only: no argon2
# hash, so no password matches it (argon2 refuses it as a hash).
NO_PASSWORD = "!sso-only"

# argon2id with the library's defaults (RFC 9106 "low memory" profile).
_hasher = PasswordHasher()


class LoginOutcome(enum.StrEnum):
    """Why a sign-in ended as it did: recorded in the audit log, never shown on the page."""

    OK = "ok"
    UNKNOWN_EMAIL = "unknown_email"
    WRONG_PASSWORD = "wrong_password"
    LOCKED = "locked"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: StaffUser | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is LoginOutcome.OK


# --- passwords ---------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: StaffUser, password: str) -> bool:
    """Check the password; when it matches, upgrade a hash made with older parameters."""
    if not _matches(user.password_hash, password):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return True


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # Made on first use rather than at import: hashing is deliberately slow.
    return hash_password("no account has this password")


# --- accounts ----------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(session: Session, email: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))


def display_name(name: str | None, problems: Problems) -> str | None:
    """A person's name as colleagues will see it, spaces tidied; none if left blank."""
    # No control or format characters: a NUL or a right-to-left override is not a name.
    visible = "".join(ch for ch in name or "" if unicodedata.category(ch) not in ("Cc", "Cf"))
    text = " ".join(visible.split())
    if len(text) > NAME_MAX:
        problems.add("name", f"The name must be {NAME_MAX} characters or fewer")
    return text or None


def create_user(
    session: Session,
    email: str,
    password: str,
    role: str,
    *,
    name: str | None = None,
    by: Actor | None = None,
    services: Sequence[str] = (),
    known_services: Collection[str] = (),
) -> StaffUser:
    """Add a staff user (the caller commits); refuse repeats, unknown roles, short passwords,
    long names, a partner without a known service (SPEC §5, §13), every one at once."""
    email = normalise_email(email)
    problems = Problems()
    shown = display_name(name, problems)
    if not email:
        problems.add("email", "Enter the person's email address")
    elif problem := email_problem(email):
        problems.add("email", problem)
    elif find_user(session, email) is not None:
        problems.add("email", f"A user with the email {email} already exists")
    if role not in ROLES:
        problems.add("role", "Select a role")
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.add("password", f"A password needs at least {MIN_PASSWORD_LENGTH} characters")
    chosen = list(dict.fromkeys(service.strip() for service in services if service.strip()))
    _check_services(role, chosen, known_services, problems)
    problems.refuse()
    user = StaffUser(
        email=email,
        display_name=shown,
        password_hash=hash_password(password),
        role=role,
        services=[StaffService(service_id=service) for service in chosen],
    )
    session.add(user)
    session.flush()  # the audit event names the new user's id
    audit.record(
        session,
        AUDIT_USER_CREATED,
        actor=by,
        subject_type=SUBJECT_STAFF_USER,
        subject_id=user.id,
        detail={"role": role, **({"services": chosen} if chosen else {})},
    )
    return user


def _check_services(
    role: str, chosen: list[str], known: Collection[str], problems: Problems
) -> None:
    """A partner answers for one or more services of `config/services.yaml`; nobody else
    is bound to one."""
    unknown = [service for service in chosen if service not in known]
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        problems.add(
            "services",
            f"'{unknown[0]}' is not a service in config/services.yaml (they are: {listed})",
        )
    elif role == ROLE_PARTNER and not chosen:
        problems.add("services", "Select the services this partner answers referrals for")
    elif chosen and role in ROLES and role != ROLE_PARTNER:
        problems.add("services", "Only a partner is bound to services: choose the partner role")


# --- signing in --------------------------------------------------------------------------


def authenticate(
    session: Session, email: str, password: str, remote_addr: str | None
) -> LoginResult:
    """Check a sign-in attempt, update the account's throttle and audit the outcome."""
    user = find_user(session, email)
    if user is None:
        # Spend the same argon2 work as for a real account, so timing reveals nothing.
        _matches(_dummy_hash(), password)
        _record_unknown_email(session, email, remote_addr)
        return LoginResult(LoginOutcome.UNKNOWN_EMAIL)
    if _is_locked(user) or not user.active:
        _matches(user.password_hash, password)
        outcome = LoginOutcome.LOCKED if _is_locked(user) else LoginOutcome.INACTIVE
        _record_failure(session, user, outcome, remote_addr)
        return LoginResult(outcome)
    if not verify_password(user, password):
        _count_failure(session, user, remote_addr)
        return LoginResult(LoginOutcome.WRONG_PASSWORD)
    _record_success(session, user, remote_addr)
    return LoginResult(LoginOutcome.OK, user)


def _is_locked(user: StaffUser) -> bool:
    return user.locked_until is not None and user.locked_until > clock.now()


def _count_failure(session: Session, user: StaffUser, remote_addr: str | None) -> None:
    # Incremented in SQL so that parallel guesses cannot overwrite each other's count.
    failures = session.scalar(
        update(StaffUser)
        .where(StaffUser.id == user.id)
        .values(failed_logins=StaffUser.failed_logins + 1)
        .returning(StaffUser.failed_logins)
    )
    _record_failure(session, user, LoginOutcome.WRONG_PASSWORD, remote_addr, failures=failures)
    if failures is not None and failures >= MAX_FAILED_LOGINS:
        _lock(session, user, remote_addr)


def _lock(session: Session, user: StaffUser, remote_addr: str | None) -> None:
    # The count starts again, so once the lock ends the owner has their full five tries.
    user.locked_until = clock.now() + LOCK_DURATION
    user.failed_logins = 0
    audit.record(
        session,
        AUDIT_LOGIN_LOCKED,
        subject_type=SUBJECT_STAFF_USER,
        subject_id=user.id,
        remote_addr=remote_addr,
        detail={"minutes": int(LOCK_DURATION.total_seconds() // 60)},
    )


def _record_success(session: Session, user: StaffUser, remote_addr: str | None) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = clock.now()
    audit.record(
        session,
        AUDIT_LOGIN,
        actor=user,
        subject_type=SUBJECT_STAFF_USER,
        subject_id=user.id,
        remote_addr=remote_addr,
    )


def _record_failure(
    session: Session,
    user: StaffUser,
    outcome: LoginOutcome,
    remote_addr: str | None,
    **counts: int | None,
) -> None:
    audit.record(
        session,
        AUDIT_LOGIN_FAILED,
        subject_type=SUBJECT_STAFF_USER,
        subject_id=user.id,
        remote_addr=remote_addr,
        detail={"reason": outcome.value, **counts},
    )


def _record_unknown_email(session: Session, email: str, remote_addr: str | None) -> None:
    # A mistyped password often lands in the email box: keep only a hash prefix, enough
    # to see one address being tried many times, not enough to read it.
    fingerprint = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:12]
    audit.record(
        session,
        AUDIT_LOGIN_FAILED,
        remote_addr=remote_addr,
        detail={"reason": LoginOutcome.UNKNOWN_EMAIL.value, "email_sha256": fingerprint},
    )


# --- administration (the admin pages) -------------------------------------------------------


def change_role(
    session: Session, user: StaffUser, role: str, *, by: Actor, remote_addr: str | None
) -> None:
    if user.id == by.id:
        raise Refused("You cannot change your own role: ask another admin")
    if role not in ROLES:
        raise Refused("Select a role", field="role")
    if user.role == role:
        return
    if role == ROLE_PARTNER or user.role == ROLE_PARTNER:
        # A partner's services come with the account: a colleague becoming one would see
        # nothing, and a partner becoming a colleague would keep services they never use.
        raise Refused(
            "A partner's account is bound to their services: add a new account instead",
            field="role",
        )
    before, user.role = user.role, role
    _admin_event(session, AUDIT_USER_ROLE_CHANGED, user, by, remote_addr, role=role, was=before)


def set_active(
    session: Session, user: StaffUser, active: bool, *, by: Actor, remote_addr: str | None
) -> None:
    """Disable or re-enable an account; disabling ends every session it has."""
    if user.id == by.id and not active:
        raise Refused("You cannot disable your own account: ask another admin")
    if user.active == active:
        return
    user.active = active
    user.session_generation += 1
    action = AUDIT_USER_ENABLED if active else AUDIT_USER_DISABLED
    _admin_event(session, action, user, by, remote_addr)


def rename(
    session: Session, user: StaffUser, name: str, *, by: Actor, remote_addr: str | None
) -> None:
    """The name colleagues see; blank leaves only the email."""
    problems = Problems()
    shown = display_name(name, problems)
    problems.refuse()
    if user.display_name == shown:
        return
    user.display_name = shown
    # No name in the trail: it is the person's own detail, and the account says it.
    _admin_event(session, AUDIT_USER_RENAMED, user, by, remote_addr)


def reset_password(
    session: Session, user: StaffUser, password: str, *, by: Actor, remote_addr: str | None
) -> None:
    """A new password set by an admin; every session of the account ends."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Refused(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    user.session_generation += 1
    _admin_event(session, AUDIT_USER_PASSWORD_RESET, user, by, remote_addr)


def _admin_event(
    session: Session,
    action: str,
    user: StaffUser,
    by: Actor,
    remote_addr: str | None,
    **detail: str,
) -> None:
    audit.record(
        session,
        action,
        actor=by,
        subject_type=SUBJECT_STAFF_USER,
        subject_id=user.id,
        remote_addr=remote_addr,
        detail=detail or None,
    )
