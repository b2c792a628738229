"""Template filters every staff page shares: NHS numbers and London times."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask

from ..core import clock


def nhs_number(value: str | None) -> str:
    """485 777 3456: three groups with plain spaces, as SPEC §8 and the NHS style have it."""
    if not value or len(value) != 10:
        return value or ""
    return f"{value[:3]} {value[3:6]} {value[6:]}"


def london(moment: datetime | date | None, pattern: str = "%-d %b %Y %H:%M") -> str:
    """A moment as a London wall-clock time (stored times are UTC), or a date as given."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = moment.astimezone(clock.LONDON)
    return moment.strftime(pattern)


def init_app(app: Flask) -> None:
    app.add_template_filter(nhs_number, "nhs_number")
    app.add_template_filter(london, "london")
