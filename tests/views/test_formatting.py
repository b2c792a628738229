"""How staff pages write a patient's details (SPEC §8): numbers as people in the UK write
them, languages by their English name, ages in whole years."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from screening.core.clock import frozen_at
from screening.core.i18n import language_in_english
from screening.core.identifiers import national_format
from screening.views.formatting import age


@pytest.mark.parametrize(
    ("e164", "written"),
    [
        ("+447400100030", "07400 100030"),
        ("+442079460000", "020 7946 0000"),
        ("+441632960123", "01632 960123"),
        ("not a number", "not a number"),
    ],
)
def test_numbers_are_written_in_the_uk_national_format(e164: str, written: str) -> None:
    assert national_format(e164) == written


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("bn", "Bengali"),
        ("en", "English"),
        ("ur", "Urdu"),
        ("pl", "Polish"),
        ("", ""),
        ("zz", "zz"),
    ],  # fmt: skip
)
def test_languages_are_named_in_english(code: str, name: str) -> None:
    assert language_in_english(code) == name


def test_age_is_whole_years_on_the_london_day() -> None:
    born = date(1960, 5, 17)
    with frozen_at(datetime(2026, 5, 16, 22, 59, tzinfo=UTC)):  # 23:59 on the 16th in London
        assert age(born) == 65
    with frozen_at(datetime(2026, 5, 16, 23, 0, tzinfo=UTC)):  # midnight: the birthday
        assert age(born) == 66
    assert age(None) is None
