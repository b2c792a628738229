"""What difference it made (SPEC §7 `outcomes`, §13): what the services said of the
cohort's referrals, and the wellbeing of patients asked the same follow-up questions
before and after support.

Referrals are counted in SQL, one grouped row per service; only the waits for an answer
come back as (service, day made, day answered) rows, for the median in working days. The
wellbeing pairs are worked out in Python from the follow-ups' scale answers: a few per
task, far fewer than the episodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from math import isfinite
from statistics import fmean
from typing import Any

from sqlalchemy.orm import Session

from ..core import clock
from ..core import constants as c
from ..questionnaire.model import Questionnaire
from ..triage.service_levels import made_before_is_overdue, working_days_between
from . import queries
from .filters import Filters
from .statistics import mean_interval, median_of, round_half_up

# SPEC §7: pairs are first and latest follow-ups at least this far apart, and fewer pairs
# than this are too few to publish a mean of.
PAIRED_DAYS_APART = 28
FEWEST_PAIRS = 8

SPEC_TOTALS = ("made", "accepted", "declined", "completed", "overdue")
SERVICE_COUNTS = (*SPEC_TOTALS, "helped", *c.DECLINE_REASONS)


def outcomes(
    session: Session,
    filters: Filters,
    *,
    questionnaires: Mapping[str, Questionnaire],
    response_working_days: int,
    shown: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """SPEC §7's `outcomes`, and the all-services row of its table by service (SPEC's
    totals have no helped, reasons or median: the page and the CSV show them all the
    same). Every count goes through `shown`: exact, or under the disclosure rule."""
    by_service, all_services = _referrals(session, filters, response_working_days, shown)
    referrals = {key: all_services[key] for key in SPEC_TOTALS}
    referrals["by_service"] = by_service
    return {
        "referrals": referrals,
        "wellbeing": _wellbeing(session, filters, questionnaires, shown),
    }, all_services


# --- referrals ------------------------------------------------------------------------------


def _referrals(
    session: Session, filters: Filters, working_days: int, shown: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    today = clock.now().astimezone(clock.LONDON).date()
    # The chaser's rule (SPEC §13), so the report's overdue are the ones the home page
    # counts and the services are reminded of.
    rows = queries.referral_outcomes(
        session, filters, made_before=made_before_is_overdue(today, working_days)
    )
    waits = _waits_by_service(queries.referral_response_days(session, filters))
    all_waits: dict[int, int] = defaultdict(int)
    for histogram in waits.values():
        for days, count in histogram.items():
            all_waits[days] += count
    totals = {name: sum(getattr(row, name) for row in rows) for name in SERVICE_COUNTS}
    # Services in the order of their ids: a stable order for scripts and spreadsheets.
    by_service = [
        _service(row.service_id, row._mapping, waits.get(row.service_id, {}), shown)
        for row in sorted(rows, key=lambda row: row.service_id)
    ]
    return by_service, _service(None, totals, all_waits, shown)


def _service(
    service: str | None, counts: Mapping[str, int], waits: Mapping[int, int], shown: Any
) -> dict[str, Any]:
    return {
        "service": service,
        "made": shown(counts["made"]),
        "accepted": shown(counts["accepted"]),
        "declined": shown(counts["declined"]),
        "declined_reasons": {reason: shown(counts[reason]) for reason in c.DECLINE_REASONS},
        "completed": shown(counts["completed"]),
        "helped": shown(counts["helped"]),
        "overdue": shown(counts["overdue"]),
        "median_days_to_response": median_of(dict(waits)),
    }


def _waits_by_service(rows: Iterable[Any]) -> dict[str, dict[int, int]]:
    """{service: {working days from made to the first answer: referrals}}."""
    waits: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for service, made, answered, count in rows:
        wait = working_days_between(queries.london_day(made), queries.london_day(answered))
        waits[service][wait] += count
    return waits


# --- wellbeing before and after ------------------------------------------------------------


@dataclass
class _FollowUp:
    completed_at: datetime
    episode_id: int
    answers: dict[str, Any] = field(default_factory=dict)


def _scale_items(questionnaire: Questionnaire) -> list[str]:
    return [item.id for item in questionnaire.items if item.type == "scale"]


def _wellbeing(
    session: Session,
    filters: Filters,
    questionnaires: Mapping[str, Questionnaire],
    shown: Any,
) -> list[dict[str, Any]]:
    """Each scale item of a follow-up questionnaire with at least one pair, in the
    questionnaire's order. A questionnaire no longer loaded is left out: which of its
    items were scales is not known."""
    scales = {qid: _scale_items(q) for qid, q in questionnaires.items() if _scale_items(q)}
    if not scales:
        return []
    rows = queries.follow_up_answers(
        session, filters, {item for items in scales.values() for item in items}
    )
    pairs = _pairs(_follow_ups_by_task(rows, scales), scales)
    return [
        _item_change(questionnaire_id, item_id, pairs[(questionnaire_id, item_id)], shown)
        for questionnaire_id in sorted(scales)
        for item_id in scales[questionnaire_id]
        if pairs.get((questionnaire_id, item_id))
    ]


def _follow_ups_by_task(
    rows: Iterable[Any], scales: Mapping[str, list[str]]
) -> dict[tuple[int, str], list[_FollowUp]]:
    """{(task, questionnaire): its completed follow-ups, each with its scale answers}."""
    found: dict[tuple[int, str], dict[int, _FollowUp]] = defaultdict(dict)
    for row in rows:
        if row.questionnaire_id not in scales:
            continue
        follow_up = found[(row.task_id, row.questionnaire_id)].setdefault(
            row.episode_id, _FollowUp(row.completed_at, row.episode_id)
        )
        if row.item_id is not None:
            follow_up.answers[row.item_id] = row.value
    return {key: list(episodes.values()) for key, episodes in found.items()}


def _pairs(
    follow_ups: Mapping[tuple[int, str], list[_FollowUp]], scales: Mapping[str, list[str]]
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """{(questionnaire, item): (before, after) for each patient with both answers}."""
    pairs: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for (_, questionnaire_id), found in follow_ups.items():
        paired = _first_and_latest(found)
        if paired is None:
            continue
        first, latest = paired
        for item_id in scales[questionnaire_id]:
            before, after = _score(first.answers.get(item_id)), _score(latest.answers.get(item_id))
            if before is not None and after is not None:
                pairs[(questionnaire_id, item_id)].append((before, after))
    return pairs


def _first_and_latest(found: Iterable[_FollowUp]) -> tuple[_FollowUp, _FollowUp] | None:
    """A task's first and latest completed follow-ups of one questionnaire, when they were
    completed at least 28 London calendar days apart (a 12-week follow-up answered a day
    early, or at an earlier hour, still pairs)."""
    ordered = sorted(found, key=lambda f: (f.completed_at, f.episode_id))
    first, latest = ordered[0], ordered[-1]
    apart = _london_date(latest.completed_at) - _london_date(first.completed_at)
    return (first, latest) if apart.days >= PAIRED_DAYS_APART else None


def _london_date(at: datetime) -> date:
    return at.astimezone(clock.LONDON).date()


def _score(value: Any) -> float | None:
    """A scale answer (stored as the integer's text) as a number; none if unanswered."""
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if isfinite(score) else None


def _item_change(
    questionnaire_id: str, item_id: str, pairs: list[tuple[float, float]], shown: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "questionnaire": questionnaire_id,
        "item": item_id,
        "pairs": shown(len(pairs)),
        "mean_before": None,
        "mean_after": None,
        "mean_change": None,
        "ci95": None,
    }
    if len(pairs) < FEWEST_PAIRS:
        return entry  # too few to publish
    changes = [after - before for before, after in pairs]
    lo, hi = mean_interval(changes)
    entry.update(
        mean_before=_one_decimal(fmean(before for before, _ in pairs)),
        mean_after=_one_decimal(fmean(after for _, after in pairs)),
        mean_change=_one_decimal(fmean(changes)),
        ci95=[_one_decimal(lo), _one_decimal(hi)],
    )
    return entry


def _one_decimal(value: float) -> float:
    """Half up, like the percentages, and symmetric about 0 (-1.25 is -1.3, as 1.25 is
    1.3); a change that rounds to nothing is 0.0, never -0.0."""
    return round_half_up(value) + 0.0
