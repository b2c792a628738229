"""What one row of an appointment list changes: the patient's details and the appointment's.

Shared by the import's two ways of writing (`batch` for most rows, the models
for the rows whose rules need more of the database), so both follow the same rules.
"""

from __future__ import annotations

from typing import Any

from .reading import Row

PATIENT_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "mobile",
    "phone",
    "postcode",
    "sex",
    "ethnicity",
    "language",
    "imd_decile",
    "gp_practice",
)
EPISODE_SNAPSHOT = ("language", "age_band", "sex", "ethnicity", "imd_decile")


def update_patient(patient: Any, row: Row) -> bool:
    """The latest row for an NHS number updates the patient's details."""
    values = {
        "given_name": row.given_name,
        "family_name": row.family_name,
        "date_of_birth": row.date_of_birth,
        "mobile": row.mobile,
        **{k: v for k, v in row.optional.items() if v is not None},
    }
    if values.get("gp_practice") == "":
        values["gp_practice"] = None  # the list says the practice is not known
    return assign(patient, values)


def update_appointment(appointment: Any, row: Row, patient: Any) -> bool:
    values: dict[str, object] = {
        "clinic_code": row.clinic_code,
        "appointment_at": row.appointment_at,
        "patient": patient,
    }
    if row.status is not None:
        values["status"] = row.status
    return assign(appointment, values)


def assign(target: object, values: dict[str, object]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed
