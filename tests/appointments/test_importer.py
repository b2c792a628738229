"""Importing a clinic's appointment list (SPEC §4) and the episodes it creates (SPEC §6)."""

from __future__ import annotations

import multiprocessing
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm import Session

from screening.appointments import batch as appointment_batch
from screening.appointments import importer as appointments
from screening.appointments import reading as appointment_list
from screening.appointments.clinics import sync_clinics
from screening.appointments.importer import Counts, ImportRefused, import_appointments
from screening.config.loaded import state
from screening.core import constants as c
from screening.core.clock import frozen_at
from screening.models import Appointment, Episode, OptOut, OutboundMessage, Patient
from tests.appointment_lists import COLUMNS, appointment, test_nhs_number, write_list


@pytest.fixture
def load(app: Flask, session: Session, tmp_path: Path):
    """Import rows; return the counts and the report lines."""
    sync_clinics(session, state().config)
    session.commit()

    def load(
        rows: list[dict[str, str]], batch_size: int = appointments.BATCH_SIZE, **kwargs
    ) -> tuple[Counts, list[str]]:
        lines: list[str] = []
        path = write_list(tmp_path / "list.csv", rows, **kwargs)
        with frozen_at(datetime(2026, 11, 23, 12, tzinfo=UTC)):
            counts = import_appointments(
                session, state().config, path, lines.append, batch_size=batch_size
            )
        return counts, lines

    return load


def count(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_valid_rows_import_with_mobiles_as_e164(load, session: Session) -> None:
    counts, lines = load([appointment(1), appointment(2)])
    assert (counts.imported, counts.rejected, counts.warnings) == (2, 0, 0)
    assert lines == []
    patient = session.scalar(select(Patient).where(Patient.nhs_number == test_nhs_number(1)))
    assert patient is not None and patient.mobile == "+447400100001"
    stored = session.scalar(select(Appointment).where(Appointment.external_id == "APT00001"))
    assert stored is not None
    # Naive times are Europe/London: 10:30 GMT in December.
    assert stored.appointment_at == datetime(2026, 12, 10, 10, 30, tzinfo=UTC)
    assert count(session, Episode) == 2


def test_a_byte_order_mark_is_accepted(load, session: Session, tmp_path: Path) -> None:
    path = write_list(tmp_path / "bom.csv", [appointment(1)])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    lines: list[str] = []
    counts = import_appointments(session, state().config, path, lines.append)
    assert counts.imported == 1, lines


def test_a_missing_required_column_stops_the_import_before_any_write(
    load, session: Session
) -> None:
    columns = [name for name in COLUMNS if name not in ("mobile", "clinic_code")]
    with pytest.raises(ImportRefused, match="missing required columns: mobile, clinic_code"):
        load([appointment(1)], columns=columns)
    assert count(session, Appointment) == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"appointment_id": ""}, "appointment_id is blank"),
        ({"nhs_number": "9990000019"}, "nhs_number fails the modulus-11 check"),
        ({"date_of_birth": "17/05/1960"}, "date_of_birth is not a valid date"),
        ({"date_of_birth": "1960-02-30"}, "date_of_birth is not a valid date"),
        ({"appointment_at": "next Tuesday"}, "appointment_at is not a valid ISO 8601"),
        ({"clinic_code": "DERM-XX"}, "clinic_code 'DERM-XX' is not configured"),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_and_the_rest_import(
    load, session: Session, change: dict[str, str], reason: str
) -> None:
    counts, lines = load([appointment(1), appointment(2, **change), appointment(3)])
    assert (counts.imported, counts.rejected) == (2, 1)
    assert len(lines) == 1 and lines[0].startswith("line 3: ") and reason in lines[0]


def test_a_repeated_appointment_id_names_the_earlier_line(load) -> None:
    counts, lines = load(
        [appointment(1), appointment(2), appointment(3, appointment_id="APT00001")]
    )
    assert counts.rejected == 1
    assert lines == ["line 4: appointment_id APT00001 repeats line 2"]


def test_a_large_file_is_read_in_a_process_of_its_own_with_the_same_outcome(
    load, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        appointment(1),
        appointment(2, nhs_number="9990000019"),  # rejected
        appointment(3, mobile="020 7946 0000"),  # imported with a warning, phoned
        appointment(4, imd_decile="11"),  # imported, the decile dropped with a warning
        appointment(5, appointment_id="APT00001"),  # rejected: repeats line 2
        *(appointment(serial) for serial in range(6, 12)),
        appointment(12, clinic_code="DERM-XX"),  # rejected, after the last full batch
    ]
    path = write_list(tmp_path / "here.csv", rows)
    expected, expected_lines = Counts(), list[str]()
    clinics = set(state().config.clinics)
    valid = list(appointment_list.read_rows(path, clinics, expected, expected_lines.append))
    monkeypatch.setattr(appointment_list, "READ_ASIDE_FROM_BYTES", 0)  # every file aside

    counts, lines = load(rows, batch_size=3)

    assert lines == expected_lines and len(lines) == 5
    assert (counts.imported, counts.rejected, counts.warnings) == (len(valid), 3, 2) == (9, 3, 2)
    assert count(session, Appointment) == 9
    assert not multiprocessing.active_children()  # the reading process has finished


def test_a_file_read_aside_is_refused_as_one_read_here(
    load, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appointment_list, "READ_ASIDE_FROM_BYTES", 0)
    columns = [name for name in COLUMNS if name != "nhs_number"]
    with pytest.raises(ImportRefused, match="missing required column: nhs_number"):
        load([appointment(1)], columns=columns)
    assert count(session, Appointment) == 0
    assert not multiprocessing.active_children()


def test_line_numbers_are_physical_lines(load) -> None:
    rows = [appointment(1, family_name="Two\nLines"), appointment(2, nhs_number="123")]
    _, lines = load(rows)
    assert lines[0].startswith("line 4: ")


@pytest.mark.parametrize(
    ("mobile", "reason"),
    [
        ("", "mobile is blank"),
        ("020 7946 0000", "landline"),
        ("07000 123456", "070 personal number"),
        ("07640 123456", "076 pager"),
        ("not a number", "not a phone number"),
    ],
)
def test_an_unusable_mobile_imports_with_a_warning_and_a_phone_call(
    load, session: Session, mobile: str, reason: str
) -> None:
    counts, lines = load([appointment(1, mobile=mobile)])
    assert (counts.imported, counts.warnings, counts.rejected) == (1, 1, 0)
    assert lines[0].startswith("line 2: warning: ") and reason in lines[0]
    episode = session.scalar(select(Episode))
    assert episode is not None
    assert (episode.status, episode.needs_call_reason) == (c.EPISODE_NEEDS_CALL, "no_mobile")


@pytest.mark.parametrize("batch_size", [1000, 1], ids=["bulk", "row-by-row"])
def test_a_landline_or_a_phone_column_is_kept_as_the_number_to_call(
    load, session: Session, batch_size: int
) -> None:
    rows = [
        appointment(1, mobile="020 7946 0000"),  # a landline where the mobile should be
        appointment(2, phone="0161 496 0000"),
        appointment(3, mobile="", phone="07400 100777"),
        appointment(4, phone="call my daughter"),
    ]
    counts, lines = load(rows, batch_size=batch_size, columns=[*COLUMNS, "phone"])
    phones = dict(session.execute(select(Patient.nhs_number, Patient.phone)).all())
    assert phones == {
        test_nhs_number(1): "+442079460000",
        test_nhs_number(2): "+441614960000",
        test_nhs_number(3): "+447400100777",
        test_nhs_number(4): None,
    }
    assert "line 5: warning: phone is not valid (expected a UK phone number); dropped" in lines
    assert all("daughter" not in line for line in lines)


def test_a_bad_optional_value_is_dropped_with_a_warning_that_does_not_echo_it(
    load, session: Session
) -> None:
    counts, lines = load([appointment(1, imd_decile="11", postcode="NOT A CODE")])
    assert (counts.imported, counts.warnings) == (1, 2)
    assert all("NOT A CODE" not in line for line in lines)
    patient = session.scalar(select(Patient))
    assert patient is not None and patient.imd_decile is None and patient.postcode is None


def test_reimporting_is_idempotent_and_counts_changes(load, session: Session) -> None:
    load([appointment(1), appointment(2)])
    counts, _ = load([appointment(1), appointment(2, appointment_at="2026-12-11T09:00:00")])
    assert (counts.imported, counts.updated, counts.unchanged) == (0, 1, 1)
    assert count(session, Appointment) == 2 and count(session, Episode) == 2


def test_the_latest_row_for_an_nhs_number_updates_the_patient(load, session: Session) -> None:
    nhs = test_nhs_number(1)
    load([appointment(1), appointment(2, nhs_number=nhs, mobile="07400 999999")])
    patient = session.scalar(select(Patient).where(Patient.nhs_number == nhs))
    assert patient is not None and patient.mobile == "+447400999999"
    assert count(session, Patient) == 1


def test_the_gp_practice_follows_the_latest_row_a_blank_one_too(load, session: Session) -> None:
    """A patient who moved practice must not keep the old one's letters (SPEC §4, §13)."""
    nhs = test_nhs_number(1)
    columns = [*COLUMNS, "gp_practice"]

    def practice() -> str | None:
        session.expire_all()
        return session.scalar(select(Patient.gp_practice).where(Patient.nhs_number == nhs))

    load([appointment(1, gp_practice="f84003")], columns=columns)
    assert practice() == "F84003"
    counts, lines = load([appointment(1, gp_practice="F8-4003!")], columns=columns)
    assert practice() == "F84003" and counts.warnings == 1  # a bad code is dropped
    assert lines == [
        "line 2: warning: gp_practice is not valid (expected an ODS code of 3 to 8 letters "
        "and digits); dropped"
    ]
    load([appointment(1)], columns=COLUMNS)  # a list without the column says nothing
    assert practice() == "F84003"
    load([appointment(1, gp_practice="")], columns=columns)
    assert practice() is None


def test_a_later_appointment_inside_the_window_joins_the_same_episode(
    load, session: Session
) -> None:
    nhs = test_nhs_number(1)
    load(
        [
            appointment(1),
            appointment(2, nhs_number=nhs, appointment_at="2027-03-01T10:00:00"),
            appointment(3, nhs_number=nhs, appointment_at="2028-01-10T10:00:00"),
        ]
    )
    episodes = session.scalars(select(Episode).order_by(Episode.id)).all()
    assert len(episodes) == 2
    owners = [e.appointment.external_id for e in episodes if e.appointment]
    assert owners == ["APT00001", "APT00003"]
    second = session.scalar(select(Appointment).where(Appointment.external_id == "APT00002"))
    assert second is not None and second.episode_id == episodes[0].id


def test_a_new_appointment_joins_the_newest_episode_whose_window_covers_it(
    load, session: Session
) -> None:
    nhs = test_nhs_number(1)
    load(
        [
            appointment(1, appointment_at="2026-12-10T10:00:00"),  # window to December 2027
            appointment(2, nhs_number=nhs, appointment_at="2028-01-10T10:00:00"),  # a new one
            appointment(3, nhs_number=nhs, appointment_at="2027-11-30T10:00:00"),  # in both
        ]
    )
    episodes = session.scalars(select(Episode).order_by(Episode.id)).all()
    third = session.scalar(select(Appointment).where(Appointment.external_id == "APT00003"))
    assert len(episodes) == 2 and third is not None and third.episode_id == episodes[1].id


def test_under_the_sms_age_is_phoned(load, session: Session) -> None:
    load([appointment(1, date_of_birth="2011-01-01")])
    episode = session.scalar(select(Episode))
    assert episode is not None
    assert (episode.status, episode.needs_call_reason) == (c.EPISODE_NEEDS_CALL, "under_sms_age")


def test_an_opted_out_number_gets_no_sms(load, session: Session) -> None:
    session.add(OptOut(phone="+447400100001", source=c.OPT_OUT_REPLY))
    session.commit()
    load([appointment(1)])
    episode = session.scalar(select(Episode))
    assert episode is not None and episode.status == c.EPISODE_OPTED_OUT


def pending_message(session: Session, episode: Episode, kind: str = c.MESSAGE_REMINDER) -> int:
    message = OutboundMessage(
        episode_id=episode.id, kind=kind, due_at=datetime(2026, 12, 7, 9, tzinfo=UTC)
    )
    session.add(message)
    session.commit()
    return message.id


def test_a_cancelled_appointment_stops_its_unsent_messages(load, session: Session) -> None:
    load([appointment(1)])
    episode = session.scalar(select(Episode))
    assert episode is not None
    message_id = pending_message(session, episode)
    load([appointment(1, status="cancelled")])
    session.expire_all()
    assert session.get(OutboundMessage, message_id).status == c.MESSAGE_CANCELLED
    assert session.get(Episode, episode.id).status == c.EPISODE_CANCELLED


def test_a_deceased_patient_gets_no_further_message_of_any_episode(load, session: Session) -> None:
    nhs = test_nhs_number(1)
    load([appointment(1), appointment(2, nhs_number=nhs, clinic_code="CARD-RLH")])
    ids = [pending_message(session, e) for e in session.scalars(select(Episode)).all()]
    load([appointment(1, status="deceased")])
    session.expire_all()
    assert {session.get(OutboundMessage, i).status for i in ids} == {c.MESSAGE_CANCELLED}


def test_attended_and_dna_are_recorded(load, session: Session) -> None:
    load([appointment(1), appointment(2)])
    load([appointment(1, status="attended"), appointment(2, status="dna")])
    statuses = dict(session.execute(select(Appointment.external_id, Appointment.status)).all())
    assert statuses == {"APT00001": "attended", "APT00002": "dna"}


# --- the batch writer against the models, row by row ----------------------------------------

MOMENTS = [
    "2026-11-20T10:00:00",  # already past at the frozen clock
    "2026-12-10T10:30:00",
    "2027-02-01T09:00:00",
    "2027-11-30T09:00:00",  # inside the window of an episode opened in December 2026
    "2028-01-10T10:00:00",  # outside it
]
STATUSES = ["booked"] * 5 + ["", "cancelled", "cancelled", "attended", "dna", "deceased"]


def mixed_lists(seed: int) -> list[list[dict[str, str]]]:
    """Successive lists over a few patients: moves between patients, windows, every status."""
    rng = random.Random(seed)
    lists = []
    for _ in range(4):
        rows = []
        for _ in range(rng.randint(4, 14)):
            patient = rng.randint(1, 3)
            rows.append(
                appointment(
                    rng.randint(1, 10),
                    nhs_number=test_nhs_number(patient),
                    appointment_at=rng.choice(MOMENTS),
                    clinic_code=rng.choice(["CARD-NUH", "CARD-NUH", "CARD-RLH"]),
                    status=rng.choice(STATUSES),
                    mobile=rng.choice(
                        [f"07400 1{patient:05d}", "07400 999999", "", "020 7946 0000"]
                    ),
                    date_of_birth=rng.choice(["1960-05-17", "1960-05-17", "2012-03-01"]),
                    language=rng.choice(["en", "bn", ""]),
                    imd_decile=rng.choice(["2", "7", ""]),
                    sex=rng.choice(["female", "male", ""]),
                )
            )
        lists.append(rows)
    return lists


def stored_state(session: Session) -> dict[str, list[tuple]]:
    """What the import left, by natural keys (ids may differ between the two routes)."""
    session.expire_all()
    nhs = dict(session.execute(select(Patient.id, Patient.nhs_number)).all())
    external = dict(session.execute(select(Appointment.id, Appointment.external_id)).all())
    episode_names = {}
    seen: dict[tuple, int] = {}
    for episode in session.scalars(select(Episode).order_by(Episode.id)):
        key = (nhs[episode.patient_id], episode.questionnaire_id)
        seen[key] = seen.get(key, 0) + 1
        episode_names[episode.id] = (*key, seen[key])
    return {
        "patients": sorted(
            (
                p.nhs_number,
                p.given_name,
                p.family_name,
                p.date_of_birth,
                p.mobile,
                p.postcode,
                p.sex,
                p.ethnicity,
                p.language,
                p.imd_decile,
            )
            for p in session.scalars(select(Patient))
        ),
        "appointments": sorted(
            (
                a.external_id,
                nhs[a.patient_id],
                a.clinic_code,
                a.appointment_at,
                a.status,
                episode_names.get(a.episode_id),
            )
            for a in session.scalars(select(Appointment))
        ),
        "episodes": sorted(
            (
                episode_names[e.id],
                e.status,
                e.needs_call_reason,
                external.get(e.appointment_id),
                e.clinic_code,
                e.window_ends_at,
                e.language,
                e.age_band,
                e.sex,
                e.imd_decile,
                e.cancelled_at,
            )
            for e in session.scalars(select(Episode))
        ),
    }


def import_all(load, session: Session, lists: list[list[dict[str, str]]], **kwargs) -> tuple:
    """Each list in turn: the counts and report lines of each, and what was stored at the end."""
    return [load(rows, **kwargs) for rows in lists], stored_state(session)


def empty_tables(session: Session) -> None:
    session.execute(update(Appointment).values(episode_id=None))
    for model in (Episode, Appointment, Patient):
        session.execute(delete(model))
    session.commit()


@pytest.mark.parametrize("seed", range(16))
def test_the_batch_writer_leaves_what_the_models_leave_row_by_row(
    load, session: Session, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    session.add(OptOut(phone="+447400999999", source=c.OPT_OUT_REPLY))
    session.commit()
    lists = mixed_lists(seed)
    batched = import_all(load, session, lists, batch_size=3)
    empty_tables(session)
    # Every row through `_write_with_models`: the batch applies none of them itself.
    monkeypatch.setattr(appointment_batch.Batch, "apply", lambda _self, _counts: 0)
    assert import_all(load, session, lists) == batched


def test_the_import_leaves_sqlite_checkpoints_as_it_found_them(
    load, session: Session, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a setting of SQLite's connections")
    driver = session.connection().connection.driver_connection
    before = driver.execute("PRAGMA wal_autocheckpoint").fetchone()
    load([appointment(1), appointment(2)])
    assert driver.execute("PRAGMA wal_autocheckpoint").fetchone() == before


def test_ctrl_c_inside_a_statement_stops_the_import_after_its_last_whole_batch(
    load, session: Session
) -> None:
    # Interrupted inside the driver, SQLAlchemy discards the connection; the import must
    # still end with the interruption itself (the CLI's "Aborted!"), not an error of its own
    # from tidying up that connection.
    engine = session.get_bind()
    reads = 0

    def interrupt_the_second_batch(_cursor, statement, _parameters, _context) -> None:
        nonlocal reads
        if "patients.given_name" in statement:  # each batch begins by reading its patients
            reads += 1
            if reads == 2:
                raise KeyboardInterrupt

    event.listen(engine, "do_execute", interrupt_the_second_batch)
    try:
        with pytest.raises(KeyboardInterrupt):
            load([appointment(n) for n in range(1, 5)], batch_size=2)
    finally:
        event.remove(engine, "do_execute", interrupt_the_second_batch)
    session.rollback()
    stored = session.scalars(select(Appointment.external_id).order_by(Appointment.external_id))
    assert stored.all() == ["APT00001", "APT00002"]
    counts, _ = load([appointment(n) for n in range(1, 5)])
    assert (counts.imported, counts.unchanged) == (2, 2)
