"""The appointment import under arbitrary files: random bytes, wrong encodings, huge fields,
ten thousand columns. Whatever the file, the import either counts its rows (reporting each
rejection by line) or refuses it in one message naming the file; never another exception,
and a refusal that says nothing was imported leaves the database as it was."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening.appointments.clinics import sync_clinics
from screening.appointments.importer import Counts, ImportRefused, import_appointments
from screening.config.loaded import state
from screening.core.clock import frozen_at
from screening.models import Appointment, Episode, Patient
from tests.appointment_lists import COLUMNS, appointment

HEADER = ",".join(COLUMNS)
GOOD_ROW = ",".join(appointment(1).values())

FILES = st.one_of(
    st.binary(max_size=3000),
    st.binary(max_size=3000).map(lambda b: HEADER.encode() + b"\n" + b),
    st.lists(
        st.lists(st.text(max_size=40), max_size=len(COLUMNS) + 3), max_size=8
    ).map(lambda rows: (HEADER + "\n" + "\n".join(",".join(r) for r in rows)).encode("utf-8",
        "surrogatepass")),
    st.sampled_from(["latin-1", "utf-16", "cp1252"]).map(
        lambda codec: (HEADER + "\n" + GOOD_ROW.replace("Alex", "Renée") + "\n").encode(codec)
    ),
)  # fmt: skip


def stored(session: Session) -> tuple[int, int, int]:
    session.commit()
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Patient, Appointment, Episode)
    )


def run_import(session: Session, path: Path) -> tuple[Counts | ImportRefused, list[str]]:
    lines: list[str] = []
    with frozen_at(datetime(2026, 11, 23, 12, tzinfo=UTC)):
        try:
            return import_appointments(session, state().config, path, lines.append), lines
        except ImportRefused as refused:
            return refused, lines


@pytest.fixture
def clinics(session: Session) -> Session:
    sync_clinics(session, state().config)
    session.commit()
    return session


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=FILES)
def test_any_file_is_imported_row_by_row_or_refused_in_one_message(
    clinics: Session, tmp_path: Path, content: bytes
) -> None:
    session = clinics
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    before = stored(session)
    outcome, lines = run_import(session, path)
    if isinstance(outcome, ImportRefused):
        message = str(outcome)
        assert message.startswith(str(path)) and "\n" not in message
        if "nothing was imported" in message:
            assert stored(session) == before
    else:
        assert all(line.startswith("line ") for line in lines), lines
        assert outcome.rejected + outcome.imported + outcome.updated + outcome.unchanged >= 0


def test_a_huge_field_is_refused_naming_its_line_and_keeping_the_rows_before(
    clinics: Session, tmp_path: Path
) -> None:
    path = tmp_path / "huge.csv"
    huge = ",".join(appointment(2, given_name="A" * 200_000).values())
    path.write_text(f"{HEADER}\n{GOOD_ROW}\n{huge}\n")
    outcome, _ = run_import(
        clinics,
        path,
    )
    assert isinstance(outcome, ImportRefused)
    assert str(outcome).startswith(f"{path}:3: a field is longer than 131,072 characters")
    assert stored(clinics)[1] == 1  # the row before it was imported


def test_ten_thousand_columns_import_the_known_ones(clinics: Session, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    extra = [f"extra_{n}" for n in range(10_000)]
    path.write_text(
        ",".join([*COLUMNS, *extra]) + "\n" + ",".join([GOOD_ROW, *("v" * len(extra))]) + "\n"
    )
    outcome, lines = run_import(clinics, path)
    assert isinstance(outcome, Counts) and outcome.imported == 1, lines


def test_a_row_in_another_encoding_is_rejected_by_line(clinics: Session, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(f"{HEADER}\n{GOOD_ROW.replace('Alex', 'Renée')}\n".encode("latin-1"))
    outcome, lines = run_import(clinics, path)
    assert isinstance(outcome, Counts) and outcome.rejected == 1
    assert lines == ["line 2: the row is not UTF-8 text"]
