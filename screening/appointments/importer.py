"""Import a clinic's appointment list (SPEC §4): writing the rows `reading` reads.

The file is streamed in batches, each committed whole, so memory does not grow with its
length. Re-importing is idempotent by `appointment_id`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..invitations.placement import place_in_episode
from ..models import Appointment, Patient
from .batch import Batch
from .deaths import stop_everything_for
from .reading import Counts, ImportRefused, Report, Row, read_batches
from .rows import update_appointment, update_patient

__all__ = ["BATCH_SIZE", "Counts", "ImportRefused", "import_appointments"]

BATCH_SIZE = 1000


# --- writing -------------------------------------------------------------------------------
#
# A batch is read in a handful of queries into plain records (`batch.Batch`),
# its rows are applied to the records in file order by the same rules the models follow
# (`place_booked` takes either), and what changed is written with a few multi-row
# statements (`bulk.Bulk`). A row whose rules need more of the database (a cancelled
# appointment that owns an episode, a deceased patient) goes through the models on its own,
# between two parts of the batch.


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
# again. A longer log writes such a page once for several batches (README, Benchmarks:
# design measurements); 10,000 pages of 4 KiB make a log of about 40 MB on disk.
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
        part = Batch(session, config, rows[start:])
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
    patient_changed = update_patient(patient, row)
    appointment = session.scalar(
        select(Appointment).where(Appointment.external_id == row.appointment_id)
    )
    if appointment is None:
        appointment = Appointment(
            external_id=row.appointment_id, status=row.status or c.APPOINTMENT_BOOKED
        )
        update_appointment(appointment, row, patient)
        session.add(appointment)
        counts.imported += 1
    elif update_appointment(appointment, row, patient) or patient_changed:
        counts.updated += 1
    else:
        counts.unchanged += 1
    session.flush()
    if appointment.status == c.APPOINTMENT_DECEASED:
        stop_everything_for(session, patient)
    else:
        place_in_episode(session, config, appointment)
