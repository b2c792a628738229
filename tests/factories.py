"""Factories with keyword defaults: each test names only what it cares about."""

from __future__ import annotations

from sqlalchemy.orm import Session

from screening.models import StaffUser
from screening.staff import create_user


def make_user(
    session: Session,
    *,
    email: str = "sp@example.nhs.uk",
    role: str = "prescriber",
    password: str = "correct horse battery",
) -> StaffUser:
    user = create_user(session, email, password, role)
    session.commit()
    return user
