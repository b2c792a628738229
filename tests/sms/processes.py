"""Workers as OS processes, for the tests that run several: seeding through the real path
(an imported clinic list, then `create_due_messages`), `screening send-due --now ...` with
the twilio backend pointed at a local fake, and reading back what each side holds."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.appointments.clinics import sync_clinics
from screening.appointments.importer import import_appointments
from screening.config.loaded import state
from screening.core.clock import LONDON, frozen_at
from screening.invitations.schedule import create_due_messages
from screening.models import Episode, OutboundMessage, Patient
from tests.appointment_lists import appointment, test_nhs_number, write_list
from tests.conftest import ROOT
from tests.fake_twilio import FakeTwilio, RecordedRequest

from .conftest import WORKERS_SECRET_KEY, twilio_environ

SCREENING = str(Path(sys.executable).with_name("screening"))
INVITE_TIME = datetime(2026, 12, 3, 9, 0, tzinfo=LONDON)
APPOINTMENT = "2026-12-10T10:30:00"
NEEDS_POSTGRESQL = (
    "two concurrent claimers need PostgreSQL (FOR UPDATE SKIP LOCKED); on SQLite one "
    "write statement holds the database lock, so one claimer at a time is the design"
)


def seed(session: Session, tmp_path: Path, count: int) -> None:
    """`count` patients with one pending invitation each, through import and scheduling."""
    config = state().config
    sync_clinics(session, config)
    session.commit()
    numbers: list[str] = []
    serial = 0
    while len(numbers) < count:  # some serials share a number (check digit 10 is skipped)
        serial += 1
        number = test_nhs_number(serial)
        if not numbers or numbers[-1] != number:
            numbers.append(number)
    rows = [
        appointment(position, nhs_number=number, appointment_at=APPOINTMENT)
        for position, number in enumerate(numbers, start=1)
    ]
    path = write_list(tmp_path / "clinic-list.csv", rows)
    counts = import_appointments(session, config, path, lambda _line: None)
    assert counts.imported == count
    with frozen_at(INVITE_TIME):
        assert create_due_messages(session, config, INVITE_TIME).invitations == count


def worker_environ(fake: FakeTwilio, database_url: str, tmp_path: Path) -> dict[str, str]:
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SCREENING_", "TWILIO_"))
    }
    environ.update(twilio_environ(fake, tmp_path / "worker-instance"))
    environ.update(
        SCREENING_DATABASE_URL=database_url,
        SCREENING_SECRET_KEY=WORKERS_SECRET_KEY,
        SCREENING_LOG_LEVEL="WARNING",
    )
    return environ


class Worker:
    """`screening send-due --now NOW` as an OS process; output goes to files, not pipes."""

    def __init__(self, environ: dict[str, str], now: datetime, log: Path, *options: str):
        self.out, self.err = log.with_suffix(".out"), log.with_suffix(".err")
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [SCREENING, "send-due", "--now", now.isoformat(), *options],
                env=environ,
                cwd=ROOT,
                stdout=out,
                stderr=err,
            )

    def finish(self, timeout: float = 120) -> str:
        """Wait for a clean exit; return stdout."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        assert code == 0, self.err.read_text()
        return self.out.read_text()

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL


def sent_count(summary: str) -> int:
    found = re.search(r"; sent (\d+),", summary)
    assert found is not None, summary
    return int(found[1])


def posts(fake: FakeTwilio) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/Messages.json")]


def stored(session: Session) -> list[tuple[str, str | None, str | None]]:
    """(status, provider_sid, mobile) of every message, as committed now."""
    session.commit()  # end any snapshot, so what the workers committed is seen
    session.expire_all()
    rows = session.execute(
        select(OutboundMessage.status, OutboundMessage.provider_sid, Patient.mobile)
        .join(Episode, OutboundMessage.episode_id == Episode.id)
        .join(Patient, Episode.patient_id == Patient.id)
    ).all()
    session.commit()
    return [tuple(row) for row in rows]


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)
