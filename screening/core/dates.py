"""Dates staff type: the NHS date input's three boxes, or one ISO 8601 parameter from a
link, a bookmark or a script (which wins when both come). Errors are worded as the NHS
service manual words them, naming what to fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from .refusals import Problems

PARTS = ("day", "month", "year")
REAL_DATE = "Enter a real date"
# Any date a screening service needs, with room: and a day before and after each stays a
# date Python can hold (year 1 or 9999 would overflow the clinic day's arrows).
YEARS = range(1900, 2201)


@dataclass(frozen=True)
class TypedDate:
    """A date as typed: the date, or the problem with it (neither when nothing was typed)."""

    day: date | None = None
    problem: str | None = None


def read_date(iso: str, day: str, month: str, year: str, *, label: str) -> TypedDate:
    iso = iso.strip()
    if iso:
        return _from_iso(iso)
    return _from_parts({"day": day.strip(), "month": month.strip(), "year": year.strip()}, label)


def iso_date_in(values: Mapping[str, str | None], name: str, problems: Problems) -> date | None:
    """The ISO 8601 date `values[name]` (a filter's, an option's), None when blank; a
    date that is not one is added to `problems` in words that show the form to use."""
    text = (values.get(name) or "").strip()
    if not text:
        return None
    typed = _from_iso(text)
    if typed.problem:
        problems.add(name, f"'{text}' is not a date: use YYYY-MM-DD, like 2026-12-03")
    return typed.day


def _from_iso(text: str) -> TypedDate:
    # Only the extended form, as a link writes it: `20261214` is more likely a typo.
    if len(text) != 10:
        return TypedDate(problem=REAL_DATE)
    try:
        return _in_range(date.fromisoformat(text))
    except ValueError:
        return TypedDate(problem=REAL_DATE)


def _from_parts(parts: dict[str, str], label: str) -> TypedDate:
    if not any(parts.values()):
        return TypedDate()
    missing = [name for name in PARTS if not parts[name]]
    if missing:
        return TypedDate(problem=f"{label} must include a {' and a '.join(missing)}")
    if not all(value.isascii() and value.isdigit() for value in parts.values()):
        return TypedDate(problem=REAL_DATE)
    if len(parts["year"]) != 4:
        return TypedDate(problem="Year must include 4 numbers")
    if len(parts["day"]) > 2 or len(parts["month"]) > 2:
        return TypedDate(problem=REAL_DATE)
    try:
        return _in_range(date(int(parts["year"]), int(parts["month"]), int(parts["day"])))
    except ValueError:
        return TypedDate(problem=REAL_DATE)


def _in_range(day: date) -> TypedDate:
    return TypedDate(day=day) if day.year in YEARS else TypedDate(problem=REAL_DATE)
