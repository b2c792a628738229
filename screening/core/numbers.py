"""Whole numbers from outside (a form, a query string, a CSV cell, a variable), read
without surprises: `str.isdigit` is true of "²" and of five thousand digits, both of
which `int` refuses with an exception."""

from __future__ import annotations

from collections.abc import Mapping

from .refusals import Problems

MAX_ID = 2**31 - 1  # a row id, a version: PostgreSQL's `integer`, which SQLite also holds
MAX_PAGE = 100_000  # the last page any list will show


def whole_number(text: object, *, at_most: int) -> int | None:
    """`text` as a whole number from 0 to `at_most`, or None if it is not one."""
    digits = str(text if text is not None else "").strip()
    if not digits or not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits.lstrip("0")) > len(str(at_most)):
        return None
    value = int(digits)
    return value if value <= at_most else None


def page_number(values: Mapping[str, str], problems: Problems) -> int:
    """A list's `page` parameter: 1 when absent; a page that is not one is a problem."""
    text = values.get("page", "").strip() or "1"
    page = whole_number(text, at_most=MAX_PAGE)
    if not page:
        problems.add("page", f"'{text}' is not a page number")
        return 1
    return page
