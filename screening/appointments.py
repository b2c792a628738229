"""Import a clinic's appointment list (SPEC §4).

The file is streamed in batches, so memory does not grow with its length. Each row is
checked on its own: a bad row is rejected (`line N: reason`) and the rest still import; a
row with a missing or unusable mobile imports with a warning and its patient is phoned
instead. Re-importing is idempotent by `appointment_id`.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import constants as c
from .clock import as_aware
from .config import Config
from .identifiers import normalise_nhs_number, parse_uk_mobile
from .models import Appointment, Patient

REQUIRED_COLUMNS = (
    "appointment_id",
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "mobile",
    "clinic_code",
    "appointment_at",
)
BATCH_SIZE = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")

Report = Callable[[str], None]


class ImportRefused(Exception):
    """The file cannot be imported at all; nothing was written."""


@dataclass
class Counts:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0

    def summary(self) -> str:
        return (
            f"imported {self.imported}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected}, warnings {self.warnings}"
        )


@dataclass
class Row:
    """One valid row, normalised."""

    line: int
    appointment_id: str
    nhs_number: str
    given_name: str | None
    family_name: str | None
    date_of_birth: date
    mobile: str | None  # E.164, or None when the patient must be phoned
    clinic_code: str
    appointment_at: datetime  # aware, UTC
    status: str | None  # None: not given (or dropped), so keep what is stored
    optional: dict[str, str | int | None] = field(default_factory=dict)


# --- reading and checking rows ---------------------------------------------------------------


def read_rows(path: Path, clinics: set[str], counts: Counts, report: Report) -> Iterator[Row]:
    """Yield each valid row; report rejections and warnings as they are found."""
    try:
        handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise ImportRefused(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise ImportRefused(
                f"{path}: missing required column{'s' if len(missing) > 1 else ''}: "
                f"{', '.join(missing)}; nothing was imported"
            )
        index = {name: position for position, name in enumerate(header)}
        # 64-bit digests rather than the ids themselves keep a million-row file's
        # duplicate check to tens of megabytes.
        seen: dict[int, int] = {}
        line = reader.line_num + 1
        for values in reader:
            start, line = line, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            fields = {name: _cell(values, at) for name, at in index.items()}
            row, problems, warnings = _check_row(start, fields, clinics, seen)
            for warning in warnings:
                counts.warnings += 1
                report(f"line {start}: warning: {warning}")
            if problems:
                counts.rejected += 1
                report(f"line {start}: {'; '.join(problems)}")
            elif row is not None:
                yield row


def _cell(values: list[str], at: int) -> str:
    return values[at].strip() if at < len(values) else ""


def _check_row(
    line: int, fields: dict[str, str], clinics: set[str], seen: dict[int, int]
) -> tuple[Row | None, list[str], list[str]]:
    problems: list[str] = []
    warnings: list[str] = []
    if any(_not_utf8(value) for value in fields.values()):
        return None, ["the row is not UTF-8 text"], []

    appointment_id = fields["appointment_id"]
    if not appointment_id:
        problems.append("appointment_id is blank")
    else:
        key = int.from_bytes(hashlib.blake2b(appointment_id.encode(), digest_size=8).digest())
        if key in seen:
            problems.append(f"appointment_id {appointment_id} repeats line {seen[key]}")
        else:
            seen[key] = line

    nhs_number = normalise_nhs_number(fields["nhs_number"])
    if nhs_number is None:
        problems.append("nhs_number fails the modulus-11 check")
    date_of_birth = _date(fields["date_of_birth"])
    if date_of_birth is None:
        problems.append("date_of_birth is not a valid date (YYYY-MM-DD)")
    appointment_at = _moment(fields["appointment_at"])
    if appointment_at is None:
        problems.append("appointment_at is not a valid ISO 8601 date and time")
    clinic_code = fields["clinic_code"]
    if clinic_code not in clinics:
        problems.append(f"clinic_code '{clinic_code}' is not configured in clinics.yaml")

    mobile = parse_uk_mobile(fields["mobile"])
    if mobile.e164 is None:
        warnings.append(f"{mobile.problem}: the patient will be phoned instead of texted")
    status, optional = _optional_fields(fields, warnings)
    if problems:
        return None, problems, warnings
    assert nhs_number and date_of_birth and appointment_at
    return (
        Row(
            line=line,
            appointment_id=appointment_id,
            nhs_number=nhs_number,
            given_name=fields["given_name"] or None,
            family_name=fields["family_name"] or None,
            date_of_birth=date_of_birth,
            mobile=mobile.e164,
            clinic_code=clinic_code,
            appointment_at=appointment_at,
            status=status,
            optional=optional,
        ),
        [],
        warnings,
    )


def _not_utf8(value: str) -> bool:
    # Undecodable bytes arrive as lone surrogates (errors="surrogateescape").
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _date(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _moment(text: str) -> datetime | None:
    try:
        return as_aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def _optional_fields(
    fields: dict[str, str], warnings: list[str]
) -> tuple[str | None, dict[str, str | int | None]]:
    """Optional columns: a bad value is dropped with a warning (SPEC §4)."""
    optional: dict[str, str | int | None] = {}
    status = fields.get("status", "").lower() or None
    if status is not None and status not in c.APPOINTMENT_STATUSES:
        warnings.append(
            f"status '{fields['status']}' is not one of {', '.join(c.APPOINTMENT_STATUSES)}; "
            "ignored"
        )
        status = None
    for name, limit in (("sex", 40), ("ethnicity", 80)):
        value = fields.get(name, "")
        if value:
            optional[name] = (
                value
                if len(value) <= limit
                else _drop(name, f"at most {limit} characters", warnings)
            )
    language = fields.get("language", "").lower()
    if language:
        optional["language"] = (
            language
            if _LANGUAGE.match(language)
            else _drop("language", "an ISO 639-1 code such as en", warnings)
        )
    postcode = " ".join(fields.get("postcode", "").upper().split())
    if postcode:
        optional["postcode"] = (
            postcode if _POSTCODE.match(postcode) else _drop("postcode", "a UK postcode", warnings)
        )
    decile = fields.get("imd_decile", "")
    if decile:
        optional["imd_decile"] = (
            int(decile)
            if decile.isdigit() and 1 <= int(decile) <= 10
            else _drop("imd_decile", "a whole number from 1 to 10", warnings)
        )
    return status, optional


def _drop(name: str, expected: str, warnings: list[str]) -> None:
    # The value itself is not echoed: it may be patient data, and stderr ends up in logs.
    warnings.append(f"{name} is not valid (expected {expected}); dropped")


# --- writing -------------------------------------------------------------------------------


def import_appointments(
    session: Session, config: Config, path: Path, report: Report, batch_size: int = BATCH_SIZE
) -> Counts:
    """Import the file in batches, each committed whole; return the counts."""
    from .invitations import place_in_episode

    counts = Counts()
    batch: list[Row] = []
    for row in read_rows(path, set(config.clinics), counts, report):
        batch.append(row)
        if len(batch) >= batch_size:
            _write_batch(session, config, batch, counts, place_in_episode)
            batch = []
    if batch:
        _write_batch(session, config, batch, counts, place_in_episode)
    return counts


def _write_batch(session: Session, config: Config, rows: list[Row], counts: Counts, place) -> None:
    patients = {
        p.nhs_number: p
        for p in session.scalars(
            select(Patient).where(Patient.nhs_number.in_({r.nhs_number for r in rows}))
        )
    }
    appointments = {
        a.external_id: a
        for a in session.scalars(
            select(Appointment).where(Appointment.external_id.in_({r.appointment_id for r in rows}))
        )
    }
    for row in rows:
        patient = patients.get(row.nhs_number)
        if patient is None:
            patient = patients[row.nhs_number] = Patient(nhs_number=row.nhs_number)
            session.add(patient)
        patient_changed = _update_patient(patient, row)
        appointment = appointments.get(row.appointment_id)
        if appointment is None:
            appointment = appointments[row.appointment_id] = Appointment(
                external_id=row.appointment_id, status=row.status or c.APPOINTMENT_BOOKED
            )
            _update_appointment(appointment, row, patient)
            session.add(appointment)
            counts.imported += 1
        elif _update_appointment(appointment, row, patient) or patient_changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
        session.flush()
        place(session, config, appointment)
    session.commit()


def _update_patient(patient: Patient, row: Row) -> bool:
    """The latest row for an NHS number updates the patient's details."""
    values = {
        "given_name": row.given_name,
        "family_name": row.family_name,
        "date_of_birth": row.date_of_birth,
        "mobile": row.mobile,
        **{k: v for k, v in row.optional.items() if v is not None},
    }
    return _assign(patient, values)


def _update_appointment(appointment: Appointment, row: Row, patient: Patient) -> bool:
    values: dict[str, object] = {
        "clinic_code": row.clinic_code,
        "appointment_at": row.appointment_at,
        "patient": patient,
    }
    if row.status is not None:
        values["status"] = row.status
    return _assign(appointment, values)


def _assign(target: object, values: dict[str, object]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed
