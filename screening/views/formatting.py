"""Template filters every staff page shares: NHS numbers, London times, phone numbers as
people write them, languages by their English name, ages, and clinics, needs and
questionnaires by the names the loaded configuration gives them."""

from __future__ import annotations

from datetime import date, datetime

from babel import Locale, UnknownLocaleError
from flask import Flask

from ..config.loaded import state
from ..core import clock
from ..core.identifiers import national_format
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


# Where CLDR's English name is not the one NHS records use (ISO 639-1 as the NHS Data
# Dictionary's language codes name them): CLDR says "Bangla" for `bn`.
NHS_LANGUAGE_NAMES = {"bn": "Bengali"}


def language_in_english(code: str | None) -> str:
    """`bn` as staff read it: "Bengali" (the patient's pages name it in itself)."""
    if not code:
        return ""
    if code in NHS_LANGUAGE_NAMES:
        return NHS_LANGUAGE_NAMES[code]
    try:
        return Locale.parse(code.replace("-", "_")).get_display_name("en") or code
    except (ValueError, UnknownLocaleError):
        return code


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
    names: dict[str, str] = {}
    for questionnaire in state().questionnaires.questionnaires.values():
        language = questionnaire.default_language
        for domain, label in questionnaire.domains.items():
            names.setdefault(domain, label[language])
    return names


def need_name(domain: str) -> str:
    return need_names().get(domain, domain)


def questionnaire_title(questionnaire_id: str) -> str:
    questionnaire = state().questionnaires.questionnaires.get(questionnaire_id)
    if questionnaire is None:
        return questionnaire_id
    return questionnaire.title[questionnaire.default_language]


def init_app(app: Flask) -> None:
    app.add_template_filter(nhs_number, "nhs_number")
    app.add_template_filter(london, "london")
    app.add_template_filter(national_format, "national_phone")
    app.add_template_filter(language_in_english, "language_name")
    app.add_template_filter(age, "age")
    app.add_template_filter(clinic_name, "clinic_name")
    app.add_template_filter(need_name, "need_name")
    app.add_template_filter(questionnaire_title, "questionnaire_title")
