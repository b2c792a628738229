"""Staff accounts: argon2 passwords, account creation rules, per-account throttling."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.core.clock import frozen_at
from screening.core.refusals import Refused
from screening.models import AuditEvent, StaffUser
from screening.staff import accounts as staff
from screening.staff.accounts import (
    LoginOutcome,
    authenticate,
    create_user,
    verify_password,
)
from tests.factories import make_user

PASSWORD = "correct horse battery"
MONDAY_9AM = datetime(2025, 3, 3, 9, 0)
ADDRESS = "192.0.2.10"


def audit_events(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by("id"))
    )


def fail_times(session: Session, times: int, email: str = "sp@example.nhs.uk") -> None:
    for _ in range(times):
        assert not authenticate(session, email, "not the password", ADDRESS).ok


# --- passwords and accounts --------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes(session: Session) -> None:
    user = make_user(session, password=PASSWORD)

    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert verify_password(user, PASSWORD)
    assert not verify_password(user, PASSWORD.upper())


def test_a_hash_made_with_weaker_settings_is_upgraded_at_the_next_sign_in(
    session: Session,
) -> None:
    user = make_user(session)
    old_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user.password_hash = old_hash

    assert verify_password(user, PASSWORD)
    assert user.password_hash != old_hash
    assert not PasswordHasher().check_needs_rehash(user.password_hash)


def test_a_broken_stored_hash_refuses_the_password_without_raising(session: Session) -> None:
    user = make_user(session)
    user.password_hash = "not-a-hash"

    assert not verify_password(user, PASSWORD)


def test_create_user_lowercases_the_email_and_audits_the_creation(session: Session) -> None:
    user = create_user(session, " Sam.Prescriber@Example.NHS.uk ", PASSWORD, "prescriber")
    session.commit()

    assert user.email == "sam.prescriber@example.nhs.uk"
    assert user.failed_logins == 0 and user.active
    [created] = audit_events(session, "user_created")
    assert created.subject_id == str(user.id)
    assert created.detail == {"role": "prescriber"}


def test_create_user_refuses_an_email_that_exists_in_any_case(session: Session) -> None:
    make_user(session, email="sp@example.nhs.uk")

    with pytest.raises(Refused, match="already exists") as refused:
        create_user(session, "SP@example.NHS.uk", PASSWORD, "admin")
    assert refused.value.field == "email"


@pytest.mark.parametrize(
    ("email", "password", "role", "field", "says"),
    [
        ("sp@example.nhs.uk", PASSWORD, "surgeon", "role", "Select a role"),
        ("sp@example.nhs.uk", "eleven char", "admin", "password", "at least 12 characters"),
        (
            "not an email",
            PASSWORD,
            "admin",
            "email",
            "Enter an email address in the correct format",
        ),
        ("a" * 250 + "@nhs.net", PASSWORD, "admin", "email", "254 characters or fewer"),
        ("", PASSWORD, "admin", "email", "Enter the person's email address"),
    ],
)
def test_create_user_refuses_bad_input_with_a_clear_reason(
    session: Session, email: str, password: str, role: str, field: str, says: str
) -> None:
    with pytest.raises(Refused, match=says) as refused:
        create_user(session, email, password, role)
    assert [problem.field for problem in refused.value.problems] == [field]
    assert session.scalars(select(StaffUser)).all() == []


def test_create_user_names_every_problem_at_once(session: Session) -> None:
    with pytest.raises(Refused) as refused:
        create_user(session, "", "short", "surgeon")
    assert [problem.field for problem in refused.value.problems] == ["email", "role", "password"]


def test_a_twelve_character_password_is_long_enough(session: Session) -> None:
    assert create_user(session, "sp@example.nhs.uk", "twelve chars", "clinician").id


# --- signing in --------------------------------------------------------------------------


def test_a_correct_password_signs_in_and_resets_the_failure_count(session: Session) -> None:
    user = make_user(session)
    fail_times(session, 4)

    with frozen_at(MONDAY_9AM) as now:
        result = authenticate(session, "SP@example.nhs.uk", PASSWORD, ADDRESS)

    assert result.ok and result.user is user
    assert user.failed_logins == 0
    assert user.last_login_at == now
    [login] = audit_events(session, "login")
    assert (login.actor_user_id, login.remote_addr, login.at) == (user.id, ADDRESS, now)


def test_the_fifth_wrong_password_locks_the_account_for_fifteen_minutes(
    session: Session,
) -> None:
    user = make_user(session)

    with frozen_at(MONDAY_9AM) as now:
        fail_times(session, 4)
        assert user.locked_until is None
        fail_times(session, 1)
        assert user.locked_until == now + timedelta(minutes=15)
        assert authenticate(session, user.email, PASSWORD, ADDRESS).outcome is LoginOutcome.LOCKED

    with frozen_at(MONDAY_9AM + timedelta(minutes=15, seconds=1)):
        assert authenticate(session, user.email, PASSWORD, ADDRESS).ok
    assert user.locked_until is None

    [locked] = audit_events(session, "login_locked")
    assert (locked.subject_id, locked.remote_addr) == (str(user.id), ADDRESS)
    failures = [event.detail for event in audit_events(session, "login_failed")]
    assert failures[3:] == [
        {"reason": "wrong_password", "failures": 4},
        {"reason": "wrong_password", "failures": 5},
        {"reason": "locked"},
    ]


def test_attempts_during_a_lock_do_not_extend_it(session: Session) -> None:
    user = make_user(session)
    with frozen_at(MONDAY_9AM) as now:
        fail_times(session, 5)
    with frozen_at(MONDAY_9AM + timedelta(minutes=10)):
        fail_times(session, 3)

    assert user.locked_until == now + timedelta(minutes=15)
    assert len(audit_events(session, "login_locked")) == 1


def test_after_a_lock_ends_the_owner_has_five_fresh_tries(session: Session) -> None:
    user = make_user(session)
    with frozen_at(MONDAY_9AM):
        fail_times(session, 5)

    with frozen_at(MONDAY_9AM + timedelta(minutes=16)):
        fail_times(session, 4)
        assert authenticate(session, user.email, PASSWORD, ADDRESS).ok


def test_failures_are_counted_per_account(session: Session) -> None:
    make_user(session, email="sp@example.nhs.uk")
    colleague = make_user(session, email="colleague@example.nhs.uk")

    fail_times(session, 5, email="sp@example.nhs.uk")

    assert colleague.locked_until is None
    assert authenticate(session, colleague.email, PASSWORD, ADDRESS).ok


def test_an_unknown_email_costs_a_real_verify_and_is_audited_without_the_address(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(session)
    checked: list[str] = []
    real_matches = staff._matches

    def spy(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real_matches(password_hash, password)

    monkeypatch.setattr(staff, "_matches", spy)

    result = authenticate(session, "Nobody@Example.nhs.uk", PASSWORD, ADDRESS)

    assert result.outcome is LoginOutcome.UNKNOWN_EMAIL and result.user is None
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")
    [failed] = audit_events(session, "login_failed")
    assert failed.subject_id is None and failed.remote_addr == ADDRESS
    assert set(failed.detail) == {"reason", "email_sha256"}
    assert "nobody" not in str(failed.detail).lower()
    assert PASSWORD not in str(failed.detail)


def test_the_same_typed_email_gives_the_same_fingerprint(session: Session) -> None:
    authenticate(session, "nobody@example.nhs.uk", "one", ADDRESS)
    authenticate(session, " NOBODY@example.nhs.uk", "two", ADDRESS)
    authenticate(session, "someone@example.nhs.uk", "three", ADDRESS)

    prints = [event.detail["email_sha256"] for event in audit_events(session, "login_failed")]
    assert prints[0] == prints[1] != prints[2]


def test_a_deactivated_account_cannot_sign_in(session: Session) -> None:
    user = make_user(session)
    user.active = False

    result = authenticate(session, user.email, PASSWORD, ADDRESS)

    assert result.outcome is LoginOutcome.INACTIVE and not result.ok
    assert audit_events(session, "login_failed")[0].detail == {"reason": "inactive"}
