"""Appointment list CSVs for tests: valid by default, one keyword per change."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = [
    "appointment_id",
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "mobile",
    "clinic_code",
    "appointment_at",
    "status",
    "sex",
    "ethnicity",
    "language",
    "postcode",
    "imd_decile",
]


def test_nhs_number(serial: int) -> str:
    """A valid NHS number from the 999 test range (never a real patient's)."""
    stem = f"999{serial:06d}"
    for _ in range(100):
        total = sum(int(d) * w for d, w in zip(stem, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return stem + str(check)
        serial += 1
        stem = f"999{serial:06d}"
    raise ValueError(serial)


test_nhs_number.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def appointment(serial: int = 1, **changes: str) -> dict[str, str]:
    row = {
        "appointment_id": f"APT{serial:05d}",
        "nhs_number": test_nhs_number(serial),
        "given_name": "Alex",
        "family_name": "Example",
        "date_of_birth": "1960-05-17",
        "mobile": f"07400 1{serial:05d}",
        "clinic_code": "CARD-NUH",
        "appointment_at": "2026-12-10T10:30:00",
        "status": "booked",
        "sex": "female",
        "ethnicity": "Bangladeshi",
        "language": "en",
        "postcode": "E13 8SL",
        "imd_decile": "2",
    }
    row.update(changes)
    return row


def write_list(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or COLUMNS
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
