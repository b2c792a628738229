"""Dates staff type (SPEC §8): the NHS date input's three boxes, or one ISO parameter
that wins; problems worded as the NHS service manual words them."""

from __future__ import annotations

from datetime import date

import pytest

from screening.core.dates import read_date


@pytest.mark.parametrize(
    ("iso", "day", "month", "year", "expected", "problem"),
    [
        ("", "14", "12", "2026", date(2026, 12, 14), None),
        ("", "1", "3", "2027", date(2027, 3, 1), None),
        ("", " 07 ", "03", "2027", date(2027, 3, 7), None),
        ("", "29", "2", "2028", date(2028, 2, 29), None),
        ("", "", "", "", None, None),  # nothing typed: no date, no problem
        ("", "31", "2", "2026", None, "Enter a real date"),
        ("", "29", "2", "2027", None, "Enter a real date"),
        ("", "0", "1", "2027", None, "Enter a real date"),
        ("", "1", "13", "2027", None, "Enter a real date"),
        ("", "one", "1", "2027", None, "Enter a real date"),
        ("", "²", "1", "2027", None, "Enter a real date"),
        ("", "9" * 5000, "1", "2027", None, "Enter a real date"),
        ("", "1", "99999999999999999999", "2026", None, "Enter a real date"),
        ("", "1", "1", "0001", None, "Enter a real date"),  # its day before is no date
        ("", "31", "12", "9999", None, "Enter a real date"),
        ("9999-12-31", "", "", "", None, "Enter a real date"),
        ("", "1", "1", "27", None, "Year must include 4 numbers"),
        ("", "1", "1", "02027", None, "Year must include 4 numbers"),
        ("", "", "1", "2027", None, "Start date must include a day"),
        ("", "1", "", "", None, "Start date must include a month and a year"),
        ("", "", "", "2027", None, "Start date must include a day and a month"),
        ("2026-12-14", "", "", "", date(2026, 12, 14), None),
        ("2026-12-14", "1", "1", "2027", date(2026, 12, 14), None),  # the parameter wins
        ("2026-02-30", "", "", "", None, "Enter a real date"),
        ("20261214", "", "", "", None, "Enter a real date"),
        ("soon", "1", "1", "2027", None, "Enter a real date"),
    ],
)
def test_reading_a_typed_date(
    iso: str, day: str, month: str, year: str, expected: date | None, problem: str | None
) -> None:
    typed = read_date(iso, day, month, year, label="Start date")
    assert (typed.day, typed.problem) == (expected, problem)
