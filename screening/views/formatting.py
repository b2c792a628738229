"""Template filters every staff page shares: NHS numbers, London times, phone numbers as
people write them, languages by their English name, ages, and clinics, needs and
questionnaires by the names the loaded configuration gives them."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask

from ..config.loaded import state
from ..core import clock
from ..core import constants as c
from ..core.i18n import language_in_english
from ..core.identifiers import national_format
from ..core.names import referral_answer
from ..questionnaire import model
from ..reports.groups import group_name
from ..triage.service_levels import today


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


def age(born: date | None) -> int | None:
    """Whole years old today, in London."""
    if born is None:
        return None
    on = today()
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def clinic_name(code: str | None) -> str:
    """A clinic as staff name it: the clinic and its hospital (the code if unknown)."""
    clinic = state().config.clinics.get(code or "")
    return f"{clinic.name}, {clinic.hospital}" if clinic else (code or "")


def need_names() -> dict[str, str]:
    """Each flag domain by the need it names, from every loaded questionnaire."""
    return model.need_names(state().questionnaires.questionnaires.values())


def need_name(domain: str) -> str:
    return need_names().get(domain, domain)


def questionnaire_title(questionnaire_id: str) -> str:
    questionnaire = state().questionnaires.questionnaires.get(questionnaire_id)
    if questionnaire is None:
        return questionnaire_id
    return questionnaire.title[questionnaire.default_language]


def page_name(page: str, questionnaire_id: str) -> str:
    """A page of a questionnaire as the report's drop-off names it: the question's words."""
    if page == c.PAGE_START:
        return "Start page, before the first question"
    if page == c.PAGE_CHECK:
        return "Check your answers"
    questionnaire = state().questionnaires.questionnaires.get(questionnaire_id)
    items = {item.id: item for item in questionnaire.items} if questionnaire else {}
    if page not in items:
        return f"A question no longer asked ({page})"
    return items[page].text[questionnaire.default_language]


def week_label(week_starting: str) -> str:
    """A report week as the NHS style guide writes a date: "7 Dec 2026"."""
    day = date.fromisoformat(week_starting)
    return f"{day.day} {day:%b %Y}"


def group_named(group: str, dimension: str) -> str:
    """`group | group_name(dimension)` in a template: a patient group by its name."""
    return group_name(dimension, group)


def init_app(app: Flask) -> None:
    app.add_template_filter(nhs_number, "nhs_number")
    app.add_template_filter(london, "london")
    app.add_template_filter(national_format, "national_phone")
    app.add_template_filter(language_in_english, "language_name")
    app.add_template_filter(age, "age")
    app.add_template_filter(clinic_name, "clinic_name")
    app.add_template_filter(need_name, "need_name")
    app.add_template_filter(referral_answer, "referral_answer")
    app.add_template_filter(questionnaire_title, "questionnaire_title")
    app.add_template_filter(week_label, "week_label")
    app.add_template_filter(page_name, "page_name")
    app.add_template_filter(group_named, "group_name")
