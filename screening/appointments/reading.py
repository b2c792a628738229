"""Reading and checking a clinic's appointment list (SPEC §4).

Each row is checked on its own: a bad row is rejected (`line N: reason`) and the rest still
import; a row with a missing or unusable mobile imports with a warning and its patient is
phoned instead. Rows come out in batches for `appointments` to write. A large file is read
and checked in a process of its own, beside the writing, which then no longer waits for
it (README, Benchmarks: design measurements).
"""

from __future__ import annotations

import csv
import multiprocessing
import re
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..core import constants as c
from ..core.clock import as_aware
from ..core.identifiers import normalise_nhs_number, parse_uk_mobile, parse_uk_phone
from ..core.numbers import whole_number

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
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ODS_CODE = re.compile(r"^[A-Z0-9]{3,8}$")
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


@dataclass(slots=True)
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
        try:
            yield from _checked_rows(path, reader, clinics, counts, report)
        except csv.Error as exc:
            # The csv module stops at what it cannot parse: a field past its size limit, a
            # NUL byte. Rows before it were imported, batch by batch.
            raise ImportRefused(
                f"{path}:{reader.line_num}: {_unreadable(exc)}; the rows before this line "
                "were imported, and importing again is safe"
            ) from None


def _unreadable(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (
            f"a field is longer than {csv.field_size_limit():,} characters: "
            "is this an appointment list?"
        )
    if "NUL" in text:
        return "the file holds a NUL byte, which CSV text never does: is it a spreadsheet?"
    return f"this is not CSV the list can be read as ({text})"


def _checked_rows(
    path: Path, reader: Any, clinics: set[str], counts: Counts, report: Report
) -> Iterator[Row]:
    header = [name.strip() for name in next(reader, [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ImportRefused(
            f"{path}: missing required column{'s' if len(missing) > 1 else ''}: "
            f"{', '.join(missing)}; nothing was imported"
        )
    index = {name: position for position, name in enumerate(header)}
    with _FirstLines() as first_lines:
        line = reader.line_num + 1
        for values in reader:
            start, line = line, reader.line_num + 1
            cells = [value.strip() for value in values]
            if not any(cells):
                continue
            fields = _fields(header, index, cells)
            row, problems, warnings = _check_row(start, fields, clinics, first_lines)
            for warning in warnings:
                counts.warnings += 1
                report(f"line {start}: warning: {warning}")
            if problems:
                counts.rejected += 1
                report(f"line {start}: {'; '.join(problems)}")
            elif row is not None:
                yield row


class _FirstLines:
    """The line each appointment_id was first seen on, for `repeats line N`.

    Kept in SQLite's private temporary database (the empty file name: a file of its own,
    deleted when closed, behind a few megabytes of cache), not in memory, where a dict of
    the ids grows with the file.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute("PRAGMA journal_mode = OFF")  # scratch: nothing to roll back
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE first_line (appointment_id TEXT PRIMARY KEY, line INTEGER NOT NULL) "
            "WITHOUT ROWID"
        )

    def __enter__(self) -> _FirstLines:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._db.close()

    def first(self, appointment_id: str, line: int) -> int | None:
        """The line `appointment_id` was first seen on; None if this is it (now recorded)."""
        added = self._db.execute(
            "INSERT OR IGNORE INTO first_line VALUES (?, ?)", (appointment_id, line)
        )
        if added.rowcount:
            return None
        (first,) = self._db.execute(
            "SELECT line FROM first_line WHERE appointment_id = ?", (appointment_id,)
        ).fetchone()
        return int(first)


def _fields(header: list[str], index: dict[str, int], cells: list[str]) -> dict[str, str]:
    """Each named column's cell, "" where the row is short."""
    if len(cells) >= len(header) == len(index):
        # The usual row: every column there, each name once. `zip` pairs them in one pass.
        return dict(zip(header, cells, strict=False))
    return {name: cells[at] if at < len(cells) else "" for name, at in index.items()}


def _check_row(
    line: int, fields: dict[str, str], clinics: set[str], first_lines: _FirstLines
) -> tuple[Row | None, list[str], list[str]]:
    problems: list[str] = []
    warnings: list[str] = []
    # Most rows are ASCII, and an ASCII row holds no undecodable byte: one check, not 14.
    if not "".join(fields.values()).isascii() and any(map(_not_utf8, fields.values())):
        return None, ["the row is not UTF-8 text"], []

    appointment_id = fields["appointment_id"]
    if not appointment_id:
        problems.append("appointment_id is blank")
    elif (first := first_lines.first(appointment_id, line)) is not None:
        problems.append(f"appointment_id {appointment_id} repeats line {first}")

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
    if fields.get("phone"):
        optional["phone"] = parse_uk_phone(fields["phone"]) or _drop(
            "phone", "a UK phone number", warnings
        )
    elif mobile.e164 is None and (landline := parse_uk_phone(fields["mobile"], landline_only=True)):
        optional["phone"] = landline  # no texts to a landline, but it is the number to call
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
    if "gp_practice" in fields:
        # The latest row wins, a blank one too: a patient who left a practice must not
        # keep its letters (SPEC §13). "" means "not known" (`rows.update_patient`).
        code = fields["gp_practice"].strip().upper()
        optional["gp_practice"] = (
            code
            if not code or _ODS_CODE.match(code)
            else _drop("gp_practice", "an ODS code of 3 to 8 letters and digits", warnings)
        )
    decile = fields.get("imd_decile", "")
    if decile:
        number = whole_number(decile, at_most=10)
        optional["imd_decile"] = (
            number if number else _drop("imd_decile", "a whole number from 1 to 10", warnings)
        )
    return status, optional


def _drop(name: str, expected: str, warnings: list[str]) -> None:
    # The value itself is not echoed: it may be patient data, and stderr ends up in logs.
    warnings.append(f"{name} is not valid (expected {expected}); dropped")


# --- batches, read here or in a process of their own ---------------------------------------

# From this size a file is read in a process of its own. Below it, starting the process
# (about half a second) would cost more than it saves.
READ_ASIDE_FROM_BYTES = 2_000_000


def read_batches(
    path: Path,
    clinics: set[str],
    batch_size: int,
    counts: Counts,
    report: Report,
) -> Iterator[list[Row]]:
    """Yield the valid rows in lists of `batch_size`; report and count the rest first.

    A batch's rejections and warnings are reported before the batch is yielded, as
    reading row by row would.
    """
    if _size(path) < READ_ASIDE_FROM_BYTES:
        yield from _in_lists(read_rows(path, clinics, counts, report), batch_size)
    else:
        yield from _read_aside(path, clinics, batch_size, counts, report)


def _size(path: Path) -> int:
    # A file that cannot be read is read here, where `read_rows` says why.
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _in_lists(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    try:
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
    except ImportRefused:
        # A file refused part-way (a line the csv module cannot read): the rows before it
        # are imported, as the refusal says, and the import then stops.
        if batch:
            yield batch
        raise
    if batch:
        yield batch


@dataclass
class _Read:
    """What the reading process sends for each batch."""

    rows: list[Row]
    reports: list[str]
    rejected: int
    warnings: int


def _read_aside(
    path: Path, clinics: set[str], batch_size: int, counts: Counts, report: Report
) -> Iterator[list[Row]]:
    """Read and check in a child process, a batch or two ahead of the writing.

    The pipe's buffer bounds how far ahead: once it is full the child waits, so memory
    stays a few batches whatever the file's length. Spawned, not forked: the importer may
    hold database connections and threads a fork would copy.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_read_in_child,
        args=(sender, path, sorted(clinics), batch_size),
        name="appointment-list-reader",
        daemon=True,
    )
    with _ctrl_c_ignored():
        child.start()  # ignoring it too, from its first instruction (see below)
    sender.close()  # the child's end: closed here, so its exit reads as end of file
    try:
        while True:
            try:
                kind, payload = receiver.recv()
            except EOFError:
                raise ImportRefused(
                    f"{path}: the process reading the file stopped unexpectedly; "
                    "the batches before it were imported, and importing again is safe"
                ) from None
            if kind == "done":
                return
            if kind == "refused":
                raise ImportRefused(payload)
            read: _Read = payload
            for line in read.reports:
                report(line)
            counts.rejected += read.rejected
            counts.warnings += read.warnings
            if read.rows:
                yield read.rows
    finally:
        receiver.close()  # a child still sending gets a broken pipe, and stops
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
            child.join()


@contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """Ignore SIGINT while a child starts, so the child ignores it throughout.

    Ctrl-C at the terminal reaches the whole process group. The importer decides what it
    means; the reading process ends when the importer closes the pipe, instead of
    printing a traceback of its own. A signal ignored at exec stays ignored, and Python
    then installs no handler of its own.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a worker thread has no terminal
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _read_in_child(sender: Connection, path: Path, clinics: list[str], batch_size: int) -> None:
    """The reading process: send each batch with its reports, then "done"."""
    counts, reports = Counts(), list[str]()

    def send_batch(rows: list[Row]) -> None:
        sender.send(("batch", _Read(rows, reports, counts.rejected, counts.warnings)))
        # Emptied in place: `read_rows` holds these two.
        reports.clear()
        counts.rejected = counts.warnings = 0

    try:
        for batch in _in_lists(read_rows(path, set(clinics), counts, reports.append), batch_size):
            send_batch(batch)
        send_batch([])  # the rejections and warnings after the last batch
        sender.send(("done", None))
    except ImportRefused as exc:
        sender.send(("refused", str(exc)))
    except BrokenPipeError:
        pass  # the importer stopped reading: nothing more to do
    except Exception as exc:
        sender.send(("refused", f"{path}: the file could not be read ({type(exc).__name__})"))
    finally:
        sender.close()
