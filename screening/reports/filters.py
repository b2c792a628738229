"""The report's filters (SPEC §5: `--clinic`, `--from`, `--to`, `--questionnaire`), parsed
the same way from the command line and from the page's query string."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from ..core.dates import iso_date_in
from ..core.refusals import Problems, Refused


@dataclass(frozen=True)
class Filters:
    """Appointment dates are London calendar days, both inclusive."""

    clinic: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    questionnaire: str | None = None

    def as_params(self) -> dict[str, str]:
        """The query string that shows these filters (the page's links and downloads)."""
        params = {
            "clinic": self.clinic,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "questionnaire": self.questionnaire,
        }
        return {name: value for name, value in params.items() if value}


class BadFilter(Refused):
    """Filters the report cannot use; each problem names its filter and how to fix it."""


def parse_filters(
    values: Mapping[str, str | None],
    *,
    clinics: Collection[str],
    questionnaires: Collection[str],
) -> Filters:
    """Refuse what the report does not know rather than show an empty report that looks
    like a real one: a mistyped clinic code must not read as "nobody was invited"."""
    problems = Problems()
    clinic = _text(values, "clinic")
    if clinic is not None and clinic not in clinics:
        known = ", ".join(sorted(clinics)) or "none are configured"
        problems.add("clinic", f"'{clinic}' is not a clinic code (known: {known})")
    questionnaire = _text(values, "questionnaire")
    if questionnaire is not None and questionnaire not in questionnaires:
        known = ", ".join(sorted(questionnaires)) or "none are loaded"
        problems.add(
            "questionnaire", f"'{questionnaire}' is not a questionnaire id (known: {known})"
        )
    date_from, date_to = iso_date_in(values, "from", problems), iso_date_in(values, "to", problems)
    if date_from and date_to and date_from > date_to:
        problems.add("to", "The end date must be the same as or after the start date")
    problems.refuse(BadFilter)
    return Filters(clinic=clinic, date_from=date_from, date_to=date_to, questionnaire=questionnaire)


def _text(values: Mapping[str, str | None], name: str) -> str | None:
    return (values.get(name) or "").strip() or None
