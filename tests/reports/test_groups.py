"""Patient groups as the report's rows and sentences name them (SPEC §7; issue: a
non-statistician reads the equity tables without a code book)."""

from __future__ import annotations

import pytest

from screening.reports.groups import group_label, group_name


@pytest.mark.parametrize(
    ("dimension", "group", "name"),
    [
        ("ethnicity", "asian", "Asian or Asian British"),
        ("ethnicity", "black", "Black or Black British"),
        ("ethnicity", "not_stated", "Not stated"),
        ("ethnicity", "Irish Traveller", "Irish Traveller"),  # text the list gave, as given
        ("language", "bn", "Bengali"),
        ("language", "pl", "Polish"),
        ("imd_decile", "1", "1 (most deprived)"),
        ("imd_decile", "5", "5"),
        ("imd_decile", "10", "10 (least deprived)"),
        ("age_band", "under 16", "Under 16"),
        ("age_band", "16-24", "16 to 24"),
        ("age_band", "85+", "85 and over"),
        ("sex", "female", "Female"),
        ("sex", "unknown", "Not recorded"),
    ],
)
def test_each_group_reads_as_a_name(dimension: str, group: str, name: str) -> None:
    assert group_name(dimension, group) == name


def test_a_group_in_a_sentence_uses_its_name() -> None:
    assert group_label("language", "bn") == "Patients whose language is Bengali"
    assert group_label("imd_decile", "1") == "Patients in IMD decile 1 (most deprived)"
    assert group_label("ethnicity", "unknown") == "Ethnicity not recorded"
