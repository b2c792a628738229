"""Whole numbers from outside: what `int` would refuse with an exception is None."""

from __future__ import annotations

import pytest

from screening.core.numbers import MAX_ID, whole_number


@pytest.mark.parametrize(
    ("text", "at_most", "expected"),
    [
        ("7", 10, 7),
        (" 10 ", 10, 10),
        ("0010", 10, 10),
        ("11", 10, None),
        ("", 10, None),
        (None, 10, None),
        ("²", 10, None),  # a digit to `str.isdigit`, not to `int`
        ("٣", 10, None),  # an Arabic-Indic three: a number, but not one a form sends
        ("-1", 10, None),
        ("1.5", 10, None),
        ("9" * 5000, MAX_ID, None),  # past Python's limit on converting digits
        (42, MAX_ID, 42),
    ],
)
def test_whole_numbers(text: object, at_most: int, expected: int | None) -> None:
    assert whole_number(text, at_most=at_most) == expected
