"""The funnel's covering indexes of the episodes table (SPEC §7), and the computed
`stages_reached` they carry: the report reads each of its passes from one of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index
from sqlalchemy import text as sql_text

from ..core import constants as c

FUNNEL_STAGE_COLUMNS = (
    "invited_at",
    "delivered_at",
    "opened_at",
    "completed_at",
    "flagged_at",
    "wants_help_at",
    "contacted_at",
    "referred_at",
    "helped_at",
)
assert len(FUNNEL_STAGE_COLUMNS) == len(c.FUNNEL_STAGES)

# The funnel's breakdowns of the cohort: clinic, questionnaire and completion mode
# together (the totals fold from them), then each patient group of the episode's snapshot.
FUNNEL_BREAKDOWNS = {
    "cohort": ("clinic_code", "questionnaire_id", "mode"),
    "age_band": ("age_band",),
    "sex": ("sex",),
    "ethnicity": ("ethnicity",),
    "language": ("language",),
    "imd_decile": ("imd_decile",),
}

# Screening episodes: follow-up questionnaires (SPEC §11) are not in the funnel.
SCREENING_EPISODE = "follow_up_task_id IS NULL"


def stages_reached() -> str:
    """Bit i is set when the episode has reached FUNNEL_STAGES[i].

    One small integer that an index can carry beside a breakdown's columns, so the funnel
    reads each breakdown from an index alone, already in its GROUP BY order: without it
    SQLite sorts a million wide rows per breakdown.
    """
    return " + ".join(
        f"(CASE WHEN {name} IS NOT NULL THEN {1 << bit} ELSE 0 END)"
        for bit, name in enumerate(FUNNEL_STAGE_COLUMNS)
    )


def sqlite_day_key(column: str) -> str:
    """SQLite's key of the London day of a stored UTC time (see reports.queries._day_key):
    the UTC date, marked `+` in the 23:00 UTC hour. The same text in an index and a query
    is how SQLite knows the index serves the query."""
    return (
        f"substr({column}, 1, 10) || CASE WHEN substr({column}, 12, 2) = '23' THEN '+' ELSE '' END"
    )


# The report's clinic and questionnaire filters, at the end of each of its indexes: a report
# of one clinic reads the same index, only fewer of its entries count. Not the appointment's
# time: the import writes episodes in the list's order, and a time inside each key would
# scatter every new entry across the index and slow the import (README, Benchmarks: design
# measurements); within equal keys the entries run in the order written.
FUNNEL_FILTERS = ("clinic_code", "questionnaire_id")


def _funnel_index(
    name: str, *keys: Any, where: str = SCREENING_EPISODE, counts: tuple[str, ...] = ()
) -> Index:
    """A covering index of screening episodes for one of the funnel's grouped passes: its
    group keys, then what it counts (the stages reached, unless given), then the filters."""
    named = {key for key in keys if isinstance(key, str)}
    trailing = [f for f in FUNNEL_FILTERS if f not in named]
    return Index(
        f"ix_episodes_funnel_{name}",
        *keys,
        *(counts or ("stages_reached",)),
        *trailing,
        sqlite_where=sql_text(where),
        postgresql_where=sql_text(where),
    )


def funnel_indexes() -> tuple[Index, ...]:
    invited = f"{SCREENING_EPISODE} AND invited_at IS NOT NULL"
    contacted = f"{SCREENING_EPISODE} AND contacted_at IS NOT NULL"
    return (
        _funnel_index("totals"),
        *(_funnel_index(name, *keys) for name, keys in FUNNEL_BREAKDOWNS.items()),
        # The wait from completion to first contact, of those contacted.
        _funnel_index("contacted", where=contacted, counts=("completed_at", "contacted_at")),
        # The weekly trend groups by the day of invitation: SQLite by an expression it can
        # index, PostgreSQL (whose London day needs a time zone, which an index cannot
        # hold) hashing the days of an index of the times.
        _funnel_index("invited_day", sql_text(sqlite_day_key("invited_at")), where=invited).ddl_if(
            dialect="sqlite"
        ),
        _funnel_index("invited", "invited_at", where=invited).ddl_if(dialect="postgresql"),
    )
