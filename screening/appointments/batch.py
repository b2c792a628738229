"""One batch of the appointment import as plain records: read in a few queries, the rows
applied in file order by the same rules the models follow (`place_booked` takes either),
and what changed written with a few multi-row statements (`bulk`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Clinic, Config
from ..core import constants as c
from ..invitations.placement import new_episode_values, place_booked
from ..models import Appointment, Episode, OptOut, Patient
from .bulk import Bulk, NewRows
from .reading import Counts, Row
from .rows import EPISODE_SNAPSHOT, PATIENT_FIELDS, update_appointment, update_patient

# Records compare by identity (eq=False): there is one record per row, so a reference to a
# record is a reference to its row, and `changed` compares references that way. No repr:
# appointments and episodes refer to each other, and a generated repr would recurse.
_RECORD = dataclass(slots=True, eq=False, repr=False, kw_only=True)


@_RECORD
class _Record:
    """A row held by `Batch`, with the attribute names of its model."""

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
    gp_practice: str | None = None


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


class Batch:
    """Part of a batch as plain records: read in a few queries, written in a few statements.

    It is also the `EpisodeSource` of `place_booked`: every episode of the batch's patients
    is read up front, and episodes made while applying rows are added, so a row sees what
    the rows before it did, as a query after a flush would.
    """

    def __init__(self, session: Session, config: Config, rows: list[Row]):
        self.session, self.config, self.rows = session, config, rows
        self.connection = session.connection()
        self.bulk = Bulk(self.connection)
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
            patient_changed = update_patient(patient, row)
            appointment = existing
            if appointment is None:
                appointment = _AppointmentRecord(
                    external_id=row.appointment_id, status=row.status or c.APPOINTMENT_BOOKED
                )
                self.by_external[row.appointment_id] = appointment
                self.new_appointments.append(appointment)
                update_appointment(appointment, row, patient)
                counts.imported += 1
            elif update_appointment(appointment, row, patient) or patient_changed:
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
            NewRows(PATIENTS, "nhs_number", self.new_patients, _new_patient_values),
            NewRows(APPOINTMENTS, "external_id", self.new_appointments, _new_appointment_values),
            NewRows(EPISODES, "public_id", self.new_episodes, _episode_values),
        )
        if not self.bulk.postgresql:
            # SQLite inserted the appointments before the new episodes they belong to had
            # ids (see `Bulk.insert`): they get their episode now, the one column written.
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
