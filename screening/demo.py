"""The demo: fictional patients, one staff user per role, invitations on the console.

Every NHS number is from the 999 test range and every mobile from 07400 1xxxxx, and the
demo always runs the console SMS backend, so nothing here can reach a real person.
"""

from __future__ import annotations

import csv
import random
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .clock import LONDON
from .identifiers import normalise_nhs_number
from .models import StaffUser
from .staff import create_user, hash_password

DEMO_USERS = {
    "admin": "admin@demo.screening.invalid",
    "prescriber": "prescriber@demo.screening.invalid",
    "clinician": "clinician@demo.screening.invalid",
}
DEMO_PATIENTS = 150
_GIVEN = ["Amina", "Ben", "Chloe", "Dev", "Esther", "Farid", "Grace", "Hassan", "Ivy", "Jon"]
_FAMILY = ["Ahmed", "Brown", "Chowdhury", "Davies", "Evans", "Fernandes", "Green", "Hussain"]
_ETHNICITY = ["Bangladeshi", "White British", "Black African", "Indian", "Pakistani", "Other"]
_COLUMNS = [
    "appointment_id", "nhs_number", "given_name", "family_name", "date_of_birth", "mobile",
    "clinic_code", "appointment_at", "status", "sex", "ethnicity", "language", "imd_decile",
]  # fmt: skip


def seed_users(session: Session) -> dict[str, str]:
    """One user per role, each with a fresh random password (printed, stored only hashed)."""
    passwords = {}
    for role, email in DEMO_USERS.items():
        password = secrets.token_urlsafe(12)
        user = session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            create_user(session, email, password, role)
        else:
            user.password_hash = hash_password(password)
            user.failed_logins, user.locked_until = 0, None
        passwords[email] = password
    return passwords


def write_clinic_list(path: Path, today: date, clinic_codes: list[str]) -> Path:
    """A clinic list for the next fortnight, with the awkward rows real lists have."""
    rng = random.Random(2024)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_COLUMNS)
        for serial in range(1, DEMO_PATIENTS + 1):
            writer.writerow(_row(serial, today, clinic_codes, rng))
    return path


def _row(serial: int, today: date, clinic_codes: list[str], rng: random.Random) -> list[str]:
    day = today + timedelta(days=2 + serial % 12)
    slot = time(9 + serial % 8, 30 if serial % 2 else 0)
    age = 15 if serial % 75 == 0 else rng.randint(30, 90)  # two teenagers: phoned, not texted
    if serial % 19 == 0:
        mobile = ""  # no mobile on record: phoned
    elif serial % 37 == 0:
        mobile = f"020 7946 0{serial:03d}"  # a landline: phoned
    else:
        mobile = f"07400 1{serial:05d}"
    return [
        f"DEMO{serial:04d}",
        _test_nhs_number(serial),
        rng.choice(_GIVEN),
        rng.choice(_FAMILY),
        date(today.year - age, 1 + serial % 12, 1 + serial % 28).isoformat(),
        mobile,
        clinic_codes[(serial % 4 == 0) % len(clinic_codes)],  # a quarter in the second
        datetime.combine(day, slot, tzinfo=LONDON).isoformat(),
        "cancelled" if serial % 31 == 0 else "booked",
        rng.choice(["female", "male"]),
        rng.choice(_ETHNICITY),
        "en",
        str(rng.randint(1, 6)),
    ]


def _test_nhs_number(serial: int) -> str:
    """The first valid NHS number in the 999 test range at or after this serial."""
    for candidate in range(serial * 10, serial * 10 + 10):
        for check in range(10):
            number = f"999{candidate:06d}{check}"
            if normalise_nhs_number(number):
                return number
    raise ValueError(serial)


def send_time(now: datetime, quiet: bool) -> datetime:
    """When the demo 'runs' send-due: now, or 10:00 next morning during quiet hours."""
    if not quiet:
        return now
    local = now.astimezone(LONDON)
    day = local.date() if local.hour < 9 else local.date() + timedelta(days=1)
    return datetime.combine(day, time(10), tzinfo=LONDON)
