"""The funnel's passes read their own indexes (SQLite's query plans): a breakdown that
sorted a million episodes instead took ten times as long (bench/funnel.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.reports import Filters, build_report

from .test_funnel import build_cohort


@contextmanager
def statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the session's engine runs inside the block, with its parameters."""
    engine = session.get_bind()
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plans(session: Session, filters: Filters) -> dict[str, list[str]]:
    """The query plan of every statement of the report."""
    with statements(session) as seen:
        build_report(session, state(), filters)
    connection = session.connection()
    return {
        statement: [
            row[3]
            for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        ]
        for statement, parameters in seen
    }


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(clinic="CARD-NUH", date_from=date(2026, 6, 1), date_to=date(2026, 6, 30))],
    ids=["whole service", "one clinic and month"],
)
def test_every_pass_reads_episodes_through_a_funnel_index(
    session: Session, filters: Filters
) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's plans: PostgreSQL's depend on its statistics")
    build_cohort(session)
    grouped = 0
    for statement, plan in plans(session, filters).items():
        reads = [step for step in plan if re.search(r"\b(SCAN|SEARCH) episodes\b", step)]
        for step in reads:
            through_index = re.search(
                r"USING (COVERING )?INDEX ix_episodes_(funnel_|follow_ups)", step
            )
            # A period: the table read once, in its own order (see queries._through).
            whole_table = step == "SCAN episodes" and filters.date_from is not None
            assert through_index or whole_table, (statement, plan)
        if "stages_reached" in statement and "GROUP BY" in statement:
            grouped += 1
            if filters.date_from is None:
                # Read in GROUP BY order: a million episodes never sorted.
                assert not any("TEMP B-TREE" in step for step in plan), (statement, plan)
    assert grouped == 8  # the totals, six breakdowns and the days of invitation
