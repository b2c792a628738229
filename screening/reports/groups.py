"""Patient groups of the equity breakdowns (SPEC §7), from the episode's coded snapshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.i18n import language_in_english

UNKNOWN = "unknown"

AGE_BANDS = (
    "under 16", "16-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-84", "85+", UNKNOWN,
)  # fmt: skip

# SPEC §4: the list's `sex`, case-insensitive.
_SEX = {
    **dict.fromkeys(("f", "2", "female"), "female"),
    **dict.fromkeys(("m", "1", "male"), "male"),
    **dict.fromkeys(("9", "i", "other", "indeterminate"), "other"),
    **dict.fromkeys(("", "x", "0", "unknown"), UNKNOWN),
}
SEX_GROUPS = ("female", "male", "other", UNKNOWN)

# NHS Data Dictionary ETHNIC CATEGORY letters to the five broad groups (SPEC §7).
_ETHNICITY = {
    **dict.fromkeys("ABC", "white"),
    **dict.fromkeys("DEFG", "mixed"),
    **dict.fromkeys("HJKL", "asian"),
    **dict.fromkeys("MNP", "black"),
    **dict.fromkeys("RS", "other"),
    "Z": "not_stated",
}
ETHNICITY_GROUPS = ("white", "mixed", "asian", "black", "other", "not_stated")
# The groups' headings in the NHS Data Dictionary's ETHNIC CATEGORY.
ETHNICITY_NAMES = {
    "white": "White",
    "mixed": "Mixed",
    "asian": "Asian or Asian British",
    "black": "Black or Black British",
    "other": "Other ethnic groups",
    "not_stated": "Not stated",
}
SEX_NAMES = {"female": "Female", "male": "Male", "other": "Other"}
# The Index of Multiple Deprivation's deciles run from the most to the least deprived.
IMD_ENDS = {"1": "1 (most deprived)", "10": "10 (least deprived)"}

# The report's dimensions: the label staff read, and the column of the cohort pass.
DIMENSIONS = {
    "age_band": "Age band",
    "sex": "Sex",
    "ethnicity": "Ethnicity",
    "language": "Language",
    "imd_decile": "Deprivation (IMD decile)",
}


def age_group(band: str | None) -> str:
    return band if band in AGE_BANDS else UNKNOWN


def sex_group(value: str | None) -> str:
    text = (value or "").strip()
    # Text that is none of the codes is kept as given, as for ethnicity.
    return _SEX.get(text.lower(), text)


def ethnicity_group(value: str | None) -> str:
    text = (value or "").strip()
    if text in ("", "99"):
        return UNKNOWN
    return _ETHNICITY.get(text.upper(), text) if len(text) == 1 else text


def language_group(value: str | None) -> str:
    return (value or "").strip().lower() or UNKNOWN


def imd_group(value: int | None) -> str:
    return UNKNOWN if value is None else str(value)


GROUPERS: dict[str, Callable[[Any], str]] = {
    "age_band": age_group,
    "sex": sex_group,
    "ethnicity": ethnicity_group,
    "language": language_group,
    "imd_decile": imd_group,
}


def group_order(dimension: str, group: str) -> tuple[int, Any]:
    """Known groups in their natural order, other text after them, `unknown` last."""
    if group == UNKNOWN:
        return (3, "")
    if dimension == "age_band":
        return (0, AGE_BANDS.index(group))
    if dimension == "imd_decile":
        return (0, int(group))
    known = {"sex": SEX_GROUPS, "ethnicity": ETHNICITY_GROUPS}.get(dimension, ())
    if group in known:
        return (0, known.index(group))
    return (1, group)


def group_name(dimension: str, group: str) -> str:
    """A group as a table row names it: "Asian or Asian British", "Bengali", "85 and over"."""
    if group == UNKNOWN:
        return "Not recorded"
    if dimension == "age_band":
        return _age_name(group)
    if dimension == "imd_decile":
        return IMD_ENDS.get(group, group)
    if dimension == "language":
        return language_in_english(group)
    if dimension == "ethnicity":
        return ETHNICITY_NAMES.get(group, group)
    return SEX_NAMES.get(group, group)


def _age_name(band: str) -> str:
    if band == "under 16":
        return "Under 16"
    if band.endswith("+"):
        return f"{band[:-1]} and over"
    return band.replace("-", " to ")


def group_label(dimension: str, group: str) -> str:
    """How a group reads in a sentence on screen."""
    name = group_name(dimension, group)
    if group == UNKNOWN:
        return f"{DIMENSIONS[dimension]} not recorded"
    if dimension == "age_band":
        return "Patients under 16" if group == "under 16" else f"Patients aged {name}"
    if dimension == "imd_decile":
        return f"Patients in IMD decile {name}"
    if dimension == "language":
        return f"Patients whose language is {name}"
    if dimension == "ethnicity":
        return f"Ethnic group: {name}"
    return f"Sex: {name.lower()}"
