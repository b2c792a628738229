"""Import a clinic's appointment list (SPEC §4): writing the rows `appointment_list` reads.

The file is streamed in batches, each committed whole, so memory does not grow with its
length. Re-importing is idempotent by `appointment_id`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    ARRAY,
    ColumnDefault,
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.orm import Session

from . import clock
from . import constants as c
from .appointment_list import Counts, ImportRefused, Report, Row, read_batches
from .config import Clinic, Config
from .invitations import new_episode_values, place_booked, place_in_episode
from .models import Appointment, Episode, OptOut, Patient

__all__ = ["BATCH_SIZE", "Counts", "ImportRefused", "import_appointments"]

BATCH_SIZE = 1000


# --- writing -------------------------------------------------------------------------------
#
# A batch is read in a handful of queries into plain records (`_Batch`), its rows are applied
# to the records in file order by the same rules the models follow (`place_booked` takes
# either), and what changed is written with a few multi-row statements (`_Bulk`). A
# row whose rules need more of the database (a cancelled appointment that owns an episode, a
# deceased patient) goes through the models on its own, between two parts of the batch.


def import_appointments(
    session: Session, config: Config, path: Path, report: Report, batch_size: int = BATCH_SIZE
) -> Counts:
    """Import the file in batches, each committed whole; return the counts."""
    counts = Counts()
    batches = read_batches(path, set(config.clinics), batch_size, counts, report)
    # Closed on the way out whatever happens (Ctrl-C included), so a reading process
    # stops with the import rather than when the interpreter gets round to it.
    with _sqlite_checkpoints_every(session, IMPORT_CHECKPOINT_PAGES), closing(batches):
        for batch in batches:
            _write_batch(session, config, batch, counts)
    return counts


# SQLite copies its write-ahead log into the database file, and syncs it (a checkpoint), once
# the log passes 1,000 pages by default. A batch's rows land on pages all over the indexes of
# scattered keys (patients.nhs_number, appointments.external_id), so at that rate the log
# filled every batch or two, and each checkpoint rewrote pages the next batches changed
# again: at 200,000 rows, commits took a third of the import. A longer log writes such a
# page once for several batches (commits took half as long); 10,000 pages is about 40 MB of
# log, on disk.
IMPORT_CHECKPOINT_PAGES = 10_000


@contextmanager
def _sqlite_checkpoints_every(session: Session, pages: int) -> Iterator[None]:
    """Checkpoint SQLite's log every `pages` pages during the import, then as before."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    # The driver's connection, not the session's: this setting is the connection's own, and
    # the session hands its connection back to the pool at each commit.
    driver = session.connection().connection.driver_connection
    (before,) = driver.execute("PRAGMA wal_autocheckpoint").fetchone()
    driver.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
    try:
        yield
    finally:
        # Closed if SQLAlchemy discarded it, interrupted mid-statement (Ctrl-C): the setting
        # went with it, and raising here would hide the interruption.
        with suppress(sqlite3.ProgrammingError):
            driver.execute(f"PRAGMA wal_autocheckpoint = {int(before)}")


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
    "phone",
    "postcode",
    "sex",
    "ethnicity",
    "language",
    "imd_decile",
)
EPISODE_SNAPSHOT = ("language", "age_band", "sex", "ethnicity", "imd_decile")


# Records compare by identity (eq=False): there is one record per row, so a reference to a
# record is a reference to its row, and `changed` compares references that way. No repr:
# appointments and episodes refer to each other, and a generated repr would recurse.
_RECORD = dataclass(slots=True, eq=False, repr=False, kw_only=True)


@_RECORD
class _Record:
    """A row held by `_Batch`, with the attribute names of its model."""

    FIELDS: ClassVar[tuple[str, ...]] = ()
    id: int | None = None
    stored: tuple[Any, ...] | None = None

    def keep_as_stored(self) -> None:
        self.stored = self.current()

    def current(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def changed(self) -> bool:
        return self.stored is not None and self.current() != self.stored


@_RECORD
class _PatientRecord(_Record):
    FIELDS: ClassVar[tuple[str, ...]] = PATIENT_FIELDS
    nhs_number: str
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    mobile: str | None = None
    phone: str | None = None
    postcode: str | None = None
    sex: str | None = None
    ethnicity: str | None = None
    language: str | None = None
    imd_decile: int | None = None


@_RECORD
class _AppointmentRecord(_Record):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "patient",
        "clinic_code",
        "appointment_at",
        "status",
        "episode",
    )
    external_id: str
    patient: _PatientRecord | None = None
    clinic_code: str | None = None
    appointment_at: datetime | None = None
    status: str | None = None
    episode: _EpisodeRecord | None = None


@_RECORD
class _EpisodeRecord(_Record):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "status",
        "needs_call_reason",
        "appointment",
        "clinic_code",
        "window_ends_at",
        "appointment_at",
    )
    patient: _PatientRecord
    questionnaire_id: str
    status: str
    needs_call_reason: str | None = None
    appointment: _AppointmentRecord | None = None
    clinic_code: str | None = None
    window_ends_at: datetime | None = None
    appointment_at: datetime | None = None
    language: str | None = None
    age_band: str | None = None
    sex: str | None = None
    ethnicity: str | None = None
    imd_decile: int | None = None


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
        self.bulk = _Bulk(self.connection)
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
        among = self.bulk.among
        nhs_numbers = {r.nhs_number for r in self.rows}
        for record in self._patients(among(PATIENTS.c.nhs_number, nhs_numbers)):
            self.by_nhs[record.nhs_number] = record
        batch_patient_ids = set(self.patients)
        external_ids = {r.appointment_id for r in self.rows}
        found = self.connection.execute(
            select(*APPOINTMENT_COLUMNS).where(among(APPOINTMENTS.c.external_id, external_ids))
        ).all()
        self._patients_by_id({row.patient_id for row in found})
        episodes = (
            self.connection.execute(
                select(*EPISODE_COLUMNS).where(among(EPISODES.c.patient_id, batch_patient_ids))
            ).all()
            if batch_patient_ids
            else []
        )
        # An appointment's episode is its patient's, unless the row changed its patient.
        other = {row.episode_id for row in found} - {None} - {row.id for row in episodes}
        if other:
            episodes += self.connection.execute(
                select(*EPISODE_COLUMNS).where(among(EPISODES.c.id, other))
            ).all()
        episodes.sort(key=lambda row: row.id)
        self._patients_by_id({row.patient_id for row in episodes})
        owners = {row.appointment_id for row in episodes} - {None} - {row.id for row in found}
        if owners:
            found += self.connection.execute(
                select(*APPOINTMENT_COLUMNS).where(among(APPOINTMENTS.c.id, owners))
            ).all()
        for row in found:
            appointment = _AppointmentRecord(
                id=row.id,
                external_id=row.external_id,
                patient=self.patients.get(row.patient_id),  # an owner's may not be read
                clinic_code=row.clinic_code,
                appointment_at=row.appointment_at,
                status=row.status,
            )
            self.appointments[row.id] = appointment
            if row.external_id in external_ids:
                self.by_external[row.external_id] = appointment
        for row in episodes:
            episode = _EpisodeRecord(
                id=row.id,
                patient=self.patients[row.patient_id],
                questionnaire_id=row.questionnaire_id,
                status=row.status,
                needs_call_reason=row.needs_call_reason,
                appointment=self.appointments.get(row.appointment_id),
                clinic_code=row.clinic_code,
                window_ends_at=row.window_ends_at,
                appointment_at=row.appointment_at,
            )
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
                    id=row.id,
                    nhs_number=row.nhs_number,
                    **{name: getattr(row, name) for name in PATIENT_FIELDS},
                )
                self.patients[row.id] = record
            records.append(record)
        return records

    def _patients_by_id(self, ids: set[int]) -> None:
        missing = ids - set(self.patients)
        if missing:
            self._patients(self.bulk.among(PATIENTS.c.id, missing))

    def _check_opt_outs(self, phones: set[str]) -> None:
        phones = phones - self.checked_phones
        if not phones:
            return
        self.checked_phones |= phones
        self.opted_out.update(
            self.connection.execute(
                select(OptOut.phone).where(
                    self.bulk.among(OptOut.phone, phones), OptOut.lifted_at.is_(None)
                )
            ).scalars()
        )

    # --- applying rows (the rules are `_write_with_models`'s, on records) ---------------

    def apply(self, counts: Counts) -> int:
        """Apply rows in order up to one that needs the models; return how many were applied."""
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
                patient = _PatientRecord(nhs_number=row.nhs_number)
                self.by_nhs[row.nhs_number] = patient
                self.new_patients.append(patient)
            patient_changed = _update_patient(patient, row)
            appointment = existing
            if appointment is None:
                appointment = _AppointmentRecord(
                    external_id=row.appointment_id, status=row.status or c.APPOINTMENT_BOOKED
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
        episode = _EpisodeRecord(
            patient=appointment.patient,
            appointment=appointment,
            **new_episode_values(appointment, clinic),
        )
        self.windows.setdefault((episode.patient, episode.questionnaire_id), []).append(episode)
        self.new_episodes.append(episode)
        return episode

    def is_opted_out(self, phone: str | None) -> bool:
        if phone is None:
            return False
        if phone not in self.checked_phones:  # the batch's phones were read with it
            self._check_opt_outs({phone})
        return phone in self.opted_out

    # --- writing --------------------------------------------------------------------------

    def write(self) -> None:
        """Insert the new rows and update the changed ones, a statement per table and kind."""
        self.bulk.insert(
            _New(PATIENTS, "nhs_number", self.new_patients, _new_patient_values),
            _New(APPOINTMENTS, "external_id", self.new_appointments, _new_appointment_values),
            _New(EPISODES, "public_id", self.new_episodes, _episode_values),
        )
        if not self.bulk.postgresql:
            # SQLite inserted the appointments before the new episodes they belong to had
            # ids (see `_Bulk.insert`): they get their episode now, the one column written.
            new_episodes = set(self.new_episodes)
            self.bulk.update(
                APPOINTMENTS,
                [
                    {"id": a.id, "episode_id": _id(a.episode)}
                    for a in self.new_appointments
                    if a.episode in new_episodes
                ],
            )
        self.bulk.update(
            PATIENTS,
            [
                {"id": p.id, **{n: getattr(p, n) for n in PATIENT_FIELDS}}
                for p in self.patients.values()
                if p.changed()
            ],
        )
        self.bulk.update(
            APPOINTMENTS,
            [
                {"id": a.id, **_appointment_values(a)}
                for a in self.by_external.values()
                if a.changed()
            ],
        )
        self.bulk.update(
            EPISODES,
            [
                {
                    "id": e.id,
                    "status": e.status,
                    "needs_call_reason": e.needs_call_reason,
                    "appointment_id": _id(e.appointment),
                    "clinic_code": e.clinic_code,
                    "window_ends_at": e.window_ends_at,
                    "appointment_at": e.appointment_at,
                }
                for e in self.episodes.values()
                if e.changed()
            ],
        )


def _new_patient_values(patient: _PatientRecord) -> dict[str, Any]:
    return {"nhs_number": patient.nhs_number, **{n: getattr(patient, n) for n in PATIENT_FIELDS}}


def _new_appointment_values(appointment: _AppointmentRecord) -> dict[str, Any]:
    return {"external_id": appointment.external_id, **_appointment_values(appointment)}


def _appointment_values(appointment: _AppointmentRecord) -> dict[str, Any]:
    """The columns a row sets, besides the key it is found by (`external_id`)."""
    return {
        "patient_id": _id(appointment.patient),
        "clinic_code": appointment.clinic_code,
        "appointment_at": appointment.appointment_at,
        "status": appointment.status,
        "episode_id": _id(appointment.episode),
    }


def _episode_values(episode: _EpisodeRecord) -> dict[str, Any]:
    return {
        "patient_id": _id(episode.patient),
        "appointment_id": _id(episode.appointment),
        "questionnaire_id": episode.questionnaire_id,
        "status": episode.status,
        "needs_call_reason": episode.needs_call_reason,
        "clinic_code": episode.clinic_code,
        "window_ends_at": episode.window_ends_at,
        "appointment_at": episode.appointment_at,
        **{n: getattr(episode, n) for n in EPISODE_SNAPSHOT},
    }


@dataclass(frozen=True)
class _New:
    """A table's new records, and how each becomes a row of it.

    `key` is a unique column, given by `values` or filled in by its default, by which SQLite's
    new ids are matched back to the records.
    """

    table: Table
    key: str
    records: Sequence[_Record]
    values: Callable[[Any], dict[str, Any]]


# Columns whose default is `clock.now`: `_Bulk` gives the rows of a batch the same moment.
STAMPED = frozenset({"created_at", "updated_at"})


class _Bulk:
    """Multi-row reads and writes in the fastest form each database offers.

    PostgreSQL takes a list of values as one array: a key list through `= ANY`, each column
    of new or changed rows through `unnest`. So a statement's text is the same whatever the
    number of rows, and is parsed and planned as such (a thousand-row VALUES or IN list costs
    more to build and parse than to run). SQLite reads a key list from JSON (`among`), and
    runs one prepared statement over the rows (`executemany`).

    Values go through their column type's conversion for this database where it has one (the
    dialect's own form of the type: SQLite stores datetimes as text in exactly one format,
    which comparisons depend on), and the model's Python-side defaults are filled in, as a
    Core statement would.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        self.dialect = connection.dialect
        self.postgresql = self.dialect.name == "postgresql"

    def among(self, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
        """`column IN values`, the values given as one parameter, whatever their number.

        PostgreSQL takes an array (`= ANY`); SQLite, which has none, a JSON list read by its
        `json_each` table function (the index on `column` is still used). One placeholder per
        value would make a statement to compile for every batch, which cost more than the
        query.
        """
        if self.postgresql:
            return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        listed = func.json_each(bindparam(None, json.dumps(list(values)))).table_valued("value")
        return column.in_(select(listed.c.value))

    def insert(self, *tables: _New) -> None:
        """Insert each table's new records and set their ids.

        The tables are given in the order their references run: a record's references to
        records of earlier tables are known when its row is made. PostgreSQL takes every
        table in one statement, with the ids drawn first, so references to later tables are
        known too (an appointment's new episode): foreign keys are checked at the end of the
        statement, when every row is in. SQLite takes one table at a time and gives the ids
        as it goes, so such a reference is left empty, for the caller to set after.
        """
        tables = tuple(new for new in tables if new.records)
        if not tables:
            return
        moment = clock.now()  # one created_at for the batch, as it is written together
        if self.postgresql:
            self._insert_together(tables, moment)
        else:
            for new in tables:
                self._insert_table(new, moment)

    def _insert_table(self, new: _New, moment: datetime) -> None:
        """SQLite: one table's rows, their new ids then read back by `key`."""
        rows = [new.values(record) for record in new.records]
        same = self._defaults(new.table, rows, moment)
        columns = self._columns(new.table, rows, same)
        self.connection.exec_driver_sql(
            f"INSERT INTO {self._quote(new.table.name)} ({self._names(list(columns))}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            list(zip(*columns.values(), strict=True)),
        )
        key = new.table.c[new.key]
        found = self.connection.execute(
            select(key, new.table.c.id).where(self.among(key, columns[new.key]))
        )
        ids = dict(found.all())
        for record, value in zip(new.records, columns[new.key], strict=True):
            record.id = ids[value]

    def _insert_together(self, tables: tuple[_New, ...], moment: datetime) -> None:
        """PostgreSQL: ids first, then every table in one statement, one CTE per table."""
        for new, ids in zip(tables, self._draw_ids(tables), strict=True):
            for record, new_id in zip(new.records, ids, strict=True):
                record.id = new_id
        inserts: list[str] = []
        parameters: dict[str, list[Any]] = {}
        for position, new in enumerate(tables):
            rows = [{"id": record.id, **new.values(record)} for record in new.records]
            same = self._defaults(new.table, rows, moment)
            columns = self._columns(new.table, rows, same)
            prefix = f"t{position}_"  # parameter names of one table, apart from the others'
            inserts.append(
                f"INSERT INTO {self._quote(new.table.name)} ({self._names(list(columns))}) "
                f"SELECT * FROM unnest({self._arrays(new.table, list(columns), prefix)})"
            )
            parameters.update({prefix + name: values for name, values in columns.items()})
        *first, last = inserts
        ctes = ", ".join(f"t{position} AS ({sql})" for position, sql in enumerate(first))
        self.connection.exec_driver_sql(f"WITH {ctes} {last}" if ctes else last, parameters)

    def _draw_ids(self, tables: tuple[_New, ...]) -> list[list[int]]:
        """New ids from each table's sequence, as many as it has new records, ascending.

        Ascending, like the ids an INSERT would give in the order of the records: the
        batch's newest episode is the one with the highest id.
        """
        arrays = ", ".join(
            f"ARRAY(SELECT nextval(CAST(seq AS regclass)) "
            f"FROM generate_series(1, %(count{position})s), "
            f"pg_get_serial_sequence(%(table{position})s, 'id') AS seq)"
            for position in range(len(tables))
        )
        parameters: dict[str, Any] = {}
        for position, new in enumerate(tables):
            parameters[f"count{position}"] = len(new.records)
            parameters[f"table{position}"] = new.table.name
        drawn = self.connection.exec_driver_sql(f"SELECT {arrays}", parameters).one()
        return [sorted(ids) for ids in drawn]

    def update(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Set the given columns of each row, found by its `id` (all rows give the same)."""
        if not rows:
            return
        names = [name for name in rows[0] if name != "id"]
        quoted = self._quote(table.name)
        columns = self._columns(table, rows, {})
        if self.postgresql:
            assignments = ", ".join(f"{self._quote(n)} = v.{self._quote(n)}" for n in names)
            self.connection.exec_driver_sql(
                f"UPDATE {quoted} SET {assignments} "
                f"FROM unnest({self._arrays(table, list(columns))}) "
                f"AS v({self._names(list(columns))}) WHERE {quoted}.id = v.id",
                columns,
            )
            return
        ids = columns.pop("id")
        self.connection.exec_driver_sql(
            f"UPDATE {quoted} SET {', '.join(f'{self._quote(n)} = ?' for n in names)} WHERE id = ?",
            list(zip(*columns.values(), ids, strict=True)),
        )

    def _quote(self, name: str) -> str:
        return self.dialect.identifier_preparer.quote(name)

    def _names(self, names: list[str]) -> str:
        return ", ".join(self._quote(name) for name in names)

    def _arrays(self, table: Table, names: list[str], prefix: str = "") -> str:
        # `%(...)b`: psycopg sends the arrays in binary. Their text form escapes every
        # element with regular expressions, which took longer than the server's insert.
        return ", ".join(
            f"CAST(%({prefix}{name})b AS {table.c[name].type.compile(dialect=self.dialect)}[])"
            for name in names
        )

    def _columns(
        self, table: Table, rows: list[dict[str, Any]], same: dict[str, Any]
    ) -> dict[str, list[Any]]:
        """Each column's values, converted for this database; `same` gives every row one."""
        columns = {}
        for name in rows[0]:
            convert = self._converter(table, name)
            values = [row[name] for row in rows]
            columns[name] = list(map(convert, values)) if convert else values
        for name, value in same.items():
            convert = self._converter(table, name)
            columns[name] = [convert(value) if convert else value] * len(rows)
        return columns

    def _converter(self, table: Table, name: str) -> Callable[[Any], Any] | None:
        return table.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect)

    @staticmethod
    def _defaults(table: Table, rows: list[dict[str, Any]], moment: datetime) -> dict[str, Any]:
        """Fill in the Python-side defaults the rows do not give; return those the same for all.

        created_at and updated_at take the batch's moment, computed and converted once where
        the model would call `clock.now()` for each row. A function default (public_id) is
        called for each row, into the rows; a plain value is the same for every row.
        """
        same: dict[str, Any] = {}
        for column in table.columns:
            default = column.default
            if column.name in rows[0] or column.primary_key:
                continue
            if column.name in STAMPED:
                same[column.name] = moment
            elif isinstance(default, ColumnDefault) and default.is_callable:
                for row in rows:
                    row[column.name] = default.arg(None)
            elif isinstance(default, ColumnDefault):
                same[column.name] = default.arg
        return same


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
    EPISODES.c.appointment_at,
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
