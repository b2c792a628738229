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
from typing import Any

from sqlalchemy import ColumnDefault, Connection, Table, select
from sqlalchemy.orm import Session

from . import constants as c
from .clock import as_aware
from .config import Clinic, Config
from .identifiers import normalise_nhs_number, parse_uk_mobile
from .models import Appointment, Episode, OptOut, Patient

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
    # Most rows are ASCII, and an ASCII row holds no undecodable byte: one check, not 14.
    if not "".join(fields.values()).isascii() and any(map(_not_utf8, fields.values())):
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
#
# A batch is read in a handful of queries into plain records (`_Batch`), its rows are applied
# to the records in file order by the same rules the models follow (`place_booked` takes
# either), and what changed is written with one multi-row statement per table and kind. A
# row whose rules need more of the database (a cancelled appointment that owns an episode, a
# deceased patient) goes through the models on its own, between two parts of the batch.


def import_appointments(
    session: Session, config: Config, path: Path, report: Report, batch_size: int = BATCH_SIZE
) -> Counts:
    """Import the file in batches, each committed whole; return the counts."""
    counts = Counts()
    batch: list[Row] = []
    for row in read_rows(path, set(config.clinics), counts, report):
        batch.append(row)
        if len(batch) >= batch_size:
            _write_batch(session, config, batch, counts)
            batch = []
    if batch:
        _write_batch(session, config, batch, counts)
    return counts


def _write_batch(session: Session, config: Config, rows: list[Row], counts: Counts) -> None:
    session.flush()  # the statements below go round the session: leave nothing unwritten
    start = 0
    while start < len(rows):
        part = _Batch(session, config, rows[start:])
        start += part.apply(counts)
        part.write()
        if start < len(rows):
            session.expire_all()  # the models must see what the records just wrote
            _write_with_models(session, config, rows[start], counts)
            session.flush()
            start += 1
    session.commit()
    # Objects the caller holds were not updated by the statements: reload them on next use.
    session.expire_all()


def _write_with_models(session: Session, config: Config, row: Row, counts: Counts) -> None:
    """One row through the models, for the rules that need to query as they go."""
    from .invitations import place_in_episode

    patient = session.scalar(select(Patient).where(Patient.nhs_number == row.nhs_number))
    if patient is None:
        patient = Patient(nhs_number=row.nhs_number)
        session.add(patient)
    patient_changed = _update_patient(patient, row)
    appointment = session.scalar(
        select(Appointment).where(Appointment.external_id == row.appointment_id)
    )
    if appointment is None:
        appointment = Appointment(
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
    place_in_episode(session, config, appointment)


PATIENT_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "mobile",
    "postcode",
    "sex",
    "ethnicity",
    "language",
    "imd_decile",
)
EPISODE_SNAPSHOT = ("language", "age_band", "sex", "ethnicity", "imd_decile")


class _Record:
    """A row held by `_Batch`, with the attribute names of its model."""

    __slots__ = ("id", "stored")
    FIELDS: tuple[str, ...] = ()

    def __init__(self, **values: Any) -> None:
        self.id: int | None = None
        for name, value in values.items():
            setattr(self, name, value)
        self.stored: tuple[Any, ...] | None = None

    def keep_as_stored(self) -> None:
        self.stored = self.current()

    def current(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def changed(self) -> bool:
        # References compare as objects: one record per row, so identity is the row's.
        return self.stored is not None and self.current() != self.stored


class _PatientRecord(_Record):
    __slots__ = ("nhs_number", *PATIENT_FIELDS)
    FIELDS = PATIENT_FIELDS


class _AppointmentRecord(_Record):
    __slots__ = ("external_id", "patient", "clinic_code", "appointment_at", "status", "episode")
    FIELDS = ("patient", "clinic_code", "appointment_at", "status", "episode")


class _EpisodeRecord(_Record):
    __slots__ = (
        "patient",
        "questionnaire_id",
        "status",
        "needs_call_reason",
        "appointment",
        "clinic_code",
        "window_ends_at",
        *EPISODE_SNAPSHOT,
    )
    FIELDS = ("status", "needs_call_reason", "appointment", "clinic_code", "window_ends_at")


def _id(record: _Record | None) -> int | None:
    return None if record is None else record.id


class _Batch:
    """Part of a batch as plain records: read in a few queries, written in a few statements.

    It is also the `EpisodeSource` of `place_booked`: every episode of the batch's patients
    is read up front, and episodes made while applying rows are added, so a row sees what
    the rows before it did, as a query after a flush would.
    """

    def __init__(self, session: Session, config: Config, rows: list[Row]):
        self.session, self.config, self.rows = session, config, rows
        self.connection = session.connection()
        self.patients: dict[int, _PatientRecord] = {}
        self.by_nhs: dict[str, _PatientRecord] = {}
        self.appointments: dict[int, _AppointmentRecord] = {}
        self.by_external: dict[str, _AppointmentRecord] = {}
        self.episodes: dict[int, _EpisodeRecord] = {}
        self.windows: dict[tuple[_PatientRecord, str], list[_EpisodeRecord]] = {}
        self.new_patients: list[_PatientRecord] = []
        self.new_appointments: list[_AppointmentRecord] = []
        self.new_episodes: list[_EpisodeRecord] = []
        self.checked_phones: set[str] = set()
        self.opted_out: set[str] = set()
        self._read()

    # --- reading -------------------------------------------------------------------------

    def _read(self) -> None:
        for record in self._patients(PATIENTS.c.nhs_number.in_({r.nhs_number for r in self.rows})):
            self.by_nhs[record.nhs_number] = record
        batch_patient_ids = set(self.patients)
        external_ids = {r.appointment_id for r in self.rows}
        found = self.connection.execute(
            select(*APPOINTMENT_COLUMNS).where(APPOINTMENTS.c.external_id.in_(external_ids))
        ).all()
        self._patients_by_id({row.patient_id for row in found})
        episodes = (
            self.connection.execute(
                select(*EPISODE_COLUMNS).where(EPISODES.c.patient_id.in_(batch_patient_ids))
            ).all()
            if batch_patient_ids
            else []
        )
        # An appointment's episode is its patient's, unless the row changed its patient.
        other = {row.episode_id for row in found} - {None} - {row.id for row in episodes}
        if other:
            episodes += self.connection.execute(
                select(*EPISODE_COLUMNS).where(EPISODES.c.id.in_(other))
            ).all()
        episodes.sort(key=lambda row: row.id)
        self._patients_by_id({row.patient_id for row in episodes})
        owners = {row.appointment_id for row in episodes} - {None} - {row.id for row in found}
        if owners:
            found += self.connection.execute(
                select(*APPOINTMENT_COLUMNS).where(APPOINTMENTS.c.id.in_(owners))
            ).all()
        for row in found:
            appointment = _AppointmentRecord(
                external_id=row.external_id,
                patient=self.patients.get(row.patient_id),  # an owner's may not be read
                clinic_code=row.clinic_code,
                appointment_at=row.appointment_at,
                status=row.status,
                episode=None,
            )
            appointment.id = row.id
            self.appointments[row.id] = appointment
            if row.external_id in external_ids:
                self.by_external[row.external_id] = appointment
        for row in episodes:
            episode = _EpisodeRecord(
                patient=self.patients[row.patient_id],
                questionnaire_id=row.questionnaire_id,
                status=row.status,
                needs_call_reason=row.needs_call_reason,
                appointment=self.appointments.get(row.appointment_id),
                clinic_code=row.clinic_code,
                window_ends_at=row.window_ends_at,
            )
            episode.id = row.id
            self.episodes[row.id] = episode
            self.windows.setdefault((episode.patient, row.questionnaire_id), []).append(episode)
        for row in found:
            if row.episode_id is not None:
                self.appointments[row.id].episode = self.episodes[row.episode_id]
        records: list[_Record] = [*self.patients.values(), *self.appointments.values()]
        for record in (*records, *self.episodes.values()):
            record.keep_as_stored()
        self._check_opt_outs({r.mobile for r in self.rows if r.mobile})

    def _patients(self, condition: Any) -> list[_PatientRecord]:
        records = []
        for row in self.connection.execute(select(*PATIENT_COLUMNS).where(condition)):
            record = self.patients.get(row.id)
            if record is None:
                record = _PatientRecord(
                    nhs_number=row.nhs_number,
                    **{name: getattr(row, name) for name in PATIENT_FIELDS},
                )
                record.id = row.id
                self.patients[row.id] = record
            records.append(record)
        return records

    def _patients_by_id(self, ids: set[int]) -> None:
        missing = ids - set(self.patients)
        if missing:
            self._patients(PATIENTS.c.id.in_(missing))

    def _check_opt_outs(self, phones: set[str]) -> None:
        phones = phones - self.checked_phones
        if not phones:
            return
        self.checked_phones |= phones
        self.opted_out.update(
            self.connection.execute(
                select(OptOut.phone).where(OptOut.phone.in_(phones), OptOut.lifted_at.is_(None))
            ).scalars()
        )

    # --- applying rows (the rules are `_write_with_models`'s, on records) ---------------

    def apply(self, counts: Counts) -> int:
        """Apply rows in order up to one that needs the models; return how many were applied."""
        from .invitations import place_booked

        for position, row in enumerate(self.rows):
            existing = self.by_external.get(row.appointment_id)
            status = row.status or (existing.status if existing else c.APPOINTMENT_BOOKED)
            if status == c.APPOINTMENT_DECEASED or (
                status == c.APPOINTMENT_CANCELLED
                and existing is not None
                and existing.episode is not None
            ):
                return position
            patient = self.by_nhs.get(row.nhs_number)
            if patient is None:
                patient = _PatientRecord(nhs_number=row.nhs_number, **dict.fromkeys(PATIENT_FIELDS))
                self.by_nhs[row.nhs_number] = patient
                self.new_patients.append(patient)
            patient_changed = _update_patient(patient, row)
            appointment = existing
            if appointment is None:
                appointment = _AppointmentRecord(
                    external_id=row.appointment_id,
                    patient=None,
                    clinic_code=None,
                    appointment_at=None,
                    status=row.status or c.APPOINTMENT_BOOKED,
                    episode=None,
                )
                self.by_external[row.appointment_id] = appointment
                self.new_appointments.append(appointment)
                _update_appointment(appointment, row, patient)
                counts.imported += 1
            elif _update_appointment(appointment, row, patient) or patient_changed:
                counts.updated += 1
            else:
                counts.unchanged += 1
            # A cancelled appointment owning no episode, attended and dna change nothing else.
            if appointment.status == c.APPOINTMENT_BOOKED:
                place_booked(self.config, appointment, self)
        return len(self.rows)

    def in_window(self, appointment: _AppointmentRecord, clinic: Clinic) -> _EpisodeRecord | None:
        # The newest first, as `ORDER BY id DESC`: stored episodes were read in id order and
        # new ones are appended in the order their ids will be given.
        for episode in reversed(self.windows.get((appointment.patient, clinic.questionnaire), ())):
            if (
                episode.status != c.EPISODE_CANCELLED
                and episode.window_ends_at is not None
                and episode.window_ends_at > appointment.appointment_at
            ):
                return episode
        return None

    def new(self, appointment: _AppointmentRecord, clinic: Clinic) -> _EpisodeRecord:
        from .invitations import new_episode_values

        episode = _EpisodeRecord(
            patient=appointment.patient,
            appointment=appointment,
            needs_call_reason=None,
            **new_episode_values(appointment, clinic),
        )
        self.windows.setdefault((episode.patient, episode.questionnaire_id), []).append(episode)
        self.new_episodes.append(episode)
        return episode

    def is_opted_out(self, phone: str | None) -> bool:
        if phone is None:
            return False
        self._check_opt_outs({phone})  # read already, unless it is not one of the batch's
        return phone in self.opted_out

    # --- writing --------------------------------------------------------------------------

    def write(self) -> None:
        """Insert the new rows and update the changed ones, a statement per table and kind."""
        bulk = _Bulk(self.connection)
        if self.new_patients:
            ids = bulk.insert(
                PATIENTS,
                "nhs_number",
                [
                    {"nhs_number": p.nhs_number, **{n: getattr(p, n) for n in PATIENT_FIELDS}}
                    for p in self.new_patients
                ],
            )
            for patient, new_id in zip(self.new_patients, ids, strict=True):
                patient.id = new_id
        bulk.update(
            PATIENTS,
            [
                {"id": p.id, **{n: getattr(p, n) for n in PATIENT_FIELDS}}
                for p in self.patients.values()
                if p.changed()
            ],
        )
        # Appointments and episodes refer to each other: new appointments go in first
        # without their episode, which the update below then sets (as the ORM does).
        if self.new_appointments:
            ids = bulk.insert(
                APPOINTMENTS,
                "external_id",
                [
                    {
                        "external_id": a.external_id,
                        "patient_id": a.patient.id,
                        "clinic_code": a.clinic_code,
                        "appointment_at": a.appointment_at,
                        "status": a.status,
                    }
                    for a in self.new_appointments
                ],
            )
            for appointment, new_id in zip(self.new_appointments, ids, strict=True):
                appointment.id = new_id
        if self.new_episodes:
            ids = bulk.insert(
                EPISODES,
                "public_id",  # filled in from the model's default, like created_at
                [
                    {
                        "patient_id": e.patient.id,
                        "appointment_id": _id(e.appointment),
                        "questionnaire_id": e.questionnaire_id,
                        "status": e.status,
                        "needs_call_reason": e.needs_call_reason,
                        "clinic_code": e.clinic_code,
                        "window_ends_at": e.window_ends_at,
                        **{n: getattr(e, n) for n in EPISODE_SNAPSHOT},
                    }
                    for e in self.new_episodes
                ],
            )
            for episode, new_id in zip(self.new_episodes, ids, strict=True):
                episode.id = new_id
        bulk.update(
            APPOINTMENTS,
            [
                {
                    "id": a.id,
                    "patient_id": a.patient.id,
                    "clinic_code": a.clinic_code,
                    "appointment_at": a.appointment_at,
                    "status": a.status,
                    "episode_id": _id(a.episode),
                }
                for a in self.by_external.values()
                if a.changed() or (a.stored is None and a.episode is not None)
            ],
        )
        bulk.update(
            EPISODES,
            [
                {
                    "id": e.id,
                    "status": e.status,
                    "needs_call_reason": e.needs_call_reason,
                    "appointment_id": _id(e.appointment),
                    "clinic_code": e.clinic_code,
                    "window_ends_at": e.window_ends_at,
                }
                for e in self.episodes.values()
                if e.changed()
            ],
        )


class _Bulk:
    """Multi-row INSERT and UPDATE in the fastest form each database offers.

    PostgreSQL takes one array per column through `unnest`, so a statement's text stays
    short whatever the number of rows (a thousand-row VALUES list costs more to build and
    parse than to run). SQLite runs one prepared statement over the rows (`executemany`).
    Values go through their column type's conversion (UTCDateTime's to UTC) and Python-side
    column defaults (created_at, public_id...) are filled in, as a Core statement would.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        self.dialect = connection.dialect
        self.postgresql = self.dialect.name == "postgresql"

    def insert(self, table: Table, key: str, rows: list[dict[str, Any]]) -> list[int]:
        """Insert `rows` (all with the same columns); return their new ids, in order.

        `key` is a unique column, given in every row or filled in by its default, by which
        the new rows are matched to their ids.
        """
        rows = _with_defaults(table, rows)
        names = list(rows[0])
        columns = self._columns(table, names, rows)
        quoted = self._quote(table.name)
        if self.postgresql:
            found = self.connection.exec_driver_sql(
                f"INSERT INTO {quoted} ({self._names(names)}) "
                f"SELECT * FROM unnest({self._arrays(table, names)}) "
                f"RETURNING {self._quote(key)}, id",
                columns,
            )
        else:
            self.connection.exec_driver_sql(
                f"INSERT INTO {quoted} ({self._names(names)}) "
                f"VALUES ({', '.join('?' * len(names))})",
                list(zip(*columns.values(), strict=True)),
            )
            column = table.c[key]
            found = self.connection.execute(
                select(column, table.c.id).where(column.in_([row[key] for row in rows]))
            )
        ids = dict(found.all())
        return [ids[row[key]] for row in rows]

    def update(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Set the given columns of each row, found by its `id` (all rows give the same)."""
        if not rows:
            return
        names = [name for name in rows[0] if name != "id"]
        quoted = self._quote(table.name)
        if self.postgresql:
            assignments = ", ".join(f"{self._quote(n)} = v.{self._quote(n)}" for n in names)
            self.connection.exec_driver_sql(
                f"UPDATE {quoted} SET {assignments} "
                f"FROM unnest({self._arrays(table, ['id', *names])}) "
                f"AS v({self._names(['id', *names])}) WHERE {quoted}.id = v.id",
                self._columns(table, ["id", *names], rows),
            )
            return
        self.connection.exec_driver_sql(
            f"UPDATE {quoted} SET {', '.join(f'{self._quote(n)} = ?' for n in names)} WHERE id = ?",
            list(zip(*self._columns(table, [*names, "id"], rows).values(), strict=True)),
        )

    def _quote(self, name: str) -> str:
        return self.dialect.identifier_preparer.quote(name)

    def _names(self, names: list[str]) -> str:
        return ", ".join(self._quote(name) for name in names)

    def _arrays(self, table: Table, names: list[str]) -> str:
        return ", ".join(
            f"CAST(%({name})s AS {table.c[name].type.compile(dialect=self.dialect)}[])"
            for name in names
        )

    def _columns(
        self, table: Table, names: list[str], rows: list[dict[str, Any]]
    ) -> dict[str, list[Any]]:
        """Each column's values, converted by its type for this database."""
        columns = {}
        for name in names:
            # The dialect's own form of the type: SQLite stores datetimes as text in
            # exactly one format, which comparisons depend on.
            convert = table.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect)
            values = [row[name] for row in rows]
            columns[name] = [convert(v) for v in values] if convert else values
        return columns


def _with_defaults(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each Python-side column default not given (the same for every row)."""
    defaults = [
        (column.name, column.default)
        for column in table.columns
        if column.name not in rows[0]
        and isinstance(column.default, ColumnDefault)
        and not column.primary_key
    ]
    if not defaults:
        return rows
    return [
        {
            **row,
            **{
                name: default.arg(None) if default.is_callable else default.arg
                for name, default in defaults
            },
        }
        for row in rows
    ]


PATIENTS = Patient.__table__
APPOINTMENTS = Appointment.__table__
EPISODES = Episode.__table__
PATIENT_COLUMNS = (PATIENTS.c.id, PATIENTS.c.nhs_number, *(PATIENTS.c[n] for n in PATIENT_FIELDS))
APPOINTMENT_COLUMNS = (
    APPOINTMENTS.c.id,
    APPOINTMENTS.c.external_id,
    APPOINTMENTS.c.patient_id,
    APPOINTMENTS.c.clinic_code,
    APPOINTMENTS.c.appointment_at,
    APPOINTMENTS.c.status,
    APPOINTMENTS.c.episode_id,
)
EPISODE_COLUMNS = (
    EPISODES.c.id,
    EPISODES.c.patient_id,
    EPISODES.c.questionnaire_id,
    EPISODES.c.status,
    EPISODES.c.needs_call_reason,
    EPISODES.c.appointment_id,
    EPISODES.c.clinic_code,
    EPISODES.c.window_ends_at,
)


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
