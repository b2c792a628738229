"""The app's own words in the patient's language (Babel catalogues), `<html lang>` and `dir`.

Questionnaire texts come from the YAML; buttons, errors and the start and confirmation
pages come from gettext catalogues in `screening/core/translations/` (and any folders named in
`SCREENING_TRANSLATIONS_DIR`). Only English ships: a translation of clinical questions is
shipped only once it has been reviewed (SPEC: never ship unreviewed translations).
"""

from __future__ import annotations

from pathlib import Path

from babel import Locale, UnknownLocaleError
from flask import Flask, g
from flask_babel import Babel

TRANSLATIONS = Path(__file__).parent / "translations"
DEFAULT_LANGUAGE = "en"

babel = Babel()


def current_language() -> str:
    """The language of this request: the patient's, once their visit is known."""
    return g.get("language") or DEFAULT_LANGUAGE


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


def is_right_to_left(language: str) -> bool:
    try:
        return Locale.parse(language).character_order == "right-to-left"
    except (ValueError, UnknownLocaleError):
        return False


def language_name(code: str) -> str:
    """A language's name in itself ("English", "বাংলা"), so a patient can find their own."""
    try:
        name = Locale.parse(code).get_display_name(code)
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:] if name else code


def init_app(app: Flask, extra_directories: list[str]) -> None:
    directories = [str(TRANSLATIONS), *extra_directories]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(directories)
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANGUAGE
    babel.init_app(app, locale_selector=current_language)

    @app.context_processor
    def page_language() -> dict[str, object]:
        language = current_language()
        return {"html_lang": language, "html_dir": "rtl" if is_right_to_left(language) else None}
