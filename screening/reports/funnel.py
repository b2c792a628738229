"""The funnel report (SPEC §7) as one JSON-shaped dict: the CLI prints it, the page and the
CSV downloads read it, so every view of the numbers is the same numbers.

The queries (`queries.py`) answer grouped counts; this module folds them into the report's
breakdowns and applies the statistics (`statistics.py`) once, to those few rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..core import constants as c
from ..questionnaire.model import Questionnaire
from ..triage.service_levels import working_days_between
from . import queries
from .filters import Filters
from .groups import DIMENSIONS, GROUPERS, group_label, group_order
from .outcomes import outcomes
from .queries import DECLINE_VALUE
from .statistics import (
    DISCLOSURE_RULE,
    INTERVAL_METHOD,
    ci95,
    compare,
    median_of,
    percent,
    publish,
)

STAGES = c.FUNNEL_STAGES
INVITED, COMPLETED, FLAGGED = (STAGES.index(s) for s in ("invited", "completed", "flagged"))
# Each reference rate of SPEC §6 is a stage as a share of an earlier one.
REFERENCE_BASES = {"engaged": "invited", "completed": "engaged", "flagged": "completed"}
PILOT_RATES = {"engaged": 45.0, "completed": 50.0, "flagged": 56.0}
GAPS_SHOWN = 3

Counts = list[int]


def _zero() -> Counts:
    return [0] * len(STAGES)


def _add(into: Counts, counts: Sequence[int]) -> None:
    for position, count in enumerate(counts):
        into[position] += count


def funnel_report(
    session: Session,
    filters: Filters,
    *,
    questionnaires: Mapping[str, Questionnaire],
    clinic_names: Mapping[str, str] | None = None,
    reference_rates: Mapping[str, float] | None = None,
    referral_response_working_days: int,
    suppress: bool = False,
) -> dict[str, Any]:
    """Everything the report shows, for one clinic and period (SPEC §7's JSON, and more)."""
    shown = publish if suppress else _exact
    by_clinic, by_mode, by_group, in_scope = _fold_breakdowns(
        queries.breakdown_rows(session, filters)
    )
    totals = queries.stage_totals(session, filters)
    stages = stage_entries(totals, shown)
    published = [entry["count"] for entry in stages]
    completed, flagged = published[COMPLETED], published[FLAGGED]
    names = clinic_names or {}
    report: dict[str, Any] = {
        "filters": {
            "clinic": filters.clinic,
            "from": filters.date_from.isoformat() if filters.date_from else None,
            "to": filters.date_to.isoformat() if filters.date_to else None,
            "questionnaire": filters.questionnaire,
        },
        "suppressed": suppress,
        "disclosure": (
            f"All counts: {DISCLOSURE_RULE}."
            if suppress
            else f"Patient groups: {DISCLOSURE_RULE}. Other counts are exact."
        ),
        "interval_method": INTERVAL_METHOD,
        "stages": stages,
        "conversion": _conversion(published, reference_rates or PILOT_RATES),
        "domains": _domains(
            queries.domain_counts(session, filters),
            in_scope,
            questionnaires,
            shown,
            completed,
            flagged,
        ),
        "by_clinic": [
            {
                "clinic_code": code,
                "name": names.get(code, code),
                "stages": stage_entries(counts, shown),
            }
            for code, counts in sorted(by_clinic.items())
        ],
        "modes": [
            {
                "mode": mode,
                "count": shown(by_mode.get(mode, 0)),
                "pct_of_completed": percent(shown(by_mode.get(mode, 0)), completed),
            }
            for mode in c.MODES
        ],
        "declined_items": _declined_items(session, filters, questionnaires, in_scope, shown),
        "dropoff": _dropoff(
            queries.stopped_counts(session, filters), in_scope, questionnaires, shown
        ),
        "process": _process(session, filters, shown),
        "weekly": _weekly(queries.invitation_days(session, filters), shown),
        "follow_ups": _follow_ups(session, filters, shown),
        "groups": _groups(by_group, published),
    }
    report["outcomes"], report["referrals_all_services"] = outcomes(
        session,
        filters,
        questionnaires=questionnaires,
        response_working_days=referral_response_working_days,
        shown=shown,
    )
    report["completion_gaps"] = completion_gaps(report)
    return report


def _exact(count: int) -> int:
    return count


def stages_only(session: Session, filters: Filters) -> list[dict[str, Any]]:
    """The report's first table alone, exact (the home page's line per stage)."""
    return stage_entries(queries.stage_totals(session, filters))


# --- the cohort pass, folded -------------------------------------------------------------


def _fold_breakdowns(
    rows: Iterable[tuple[str, tuple, tuple]],
) -> tuple[dict[str, Counts], dict[str, int], dict[str, dict[str, Counts]], set[str]]:
    by_clinic: dict[str, Counts] = defaultdict(_zero)
    by_mode: dict[str, int] = defaultdict(int)
    by_group: dict[str, dict[str, Counts]] = {d: defaultdict(_zero) for d in DIMENSIONS}
    in_scope: set[str] = set()
    for breakdown, keys, counts in rows:
        if breakdown == "cohort":
            clinic, questionnaire_id, mode = keys
            _add(by_clinic[clinic or "none"], counts)
            by_mode[mode] += counts[COMPLETED]
            in_scope.add(questionnaire_id)
        else:
            _add(by_group[breakdown][GROUPERS[breakdown](keys[0])], counts)
    return by_clinic, by_mode, by_group, in_scope


def stage_entries(counts: Sequence[int], shown: Any = _exact) -> list[dict[str, Any]]:
    """SPEC §7's stage objects; under disclosure control the percentages use the shown counts."""
    published = [shown(count) for count in counts]
    entries = []
    for position, stage in enumerate(STAGES):
        count = published[position]
        entry: dict[str, Any] = {
            "stage": stage,
            "count": count,
            "pct_of_previous": None if position == 0 else percent(count, published[position - 1]),
            "pct_of_invited": percent(count, published[INVITED]),
        }
        if count is None:
            entry["suppressed"] = True
        entries.append(entry)
    return entries


def _conversion(published: Sequence[int | None], reference: Mapping[str, float]) -> list[dict]:
    steps = []
    for stage, base in REFERENCE_BASES.items():
        steps.append(
            {
                "stage": stage,
                "of": base,
                "pct": percent(published[STAGES.index(stage)], published[STAGES.index(base)]),
                "reference": reference.get(stage),
            }
        )
    return steps


# --- patient groups (always under disclosure control) -----------------------------------


def _groups(
    by_group: Mapping[str, Mapping[str, Counts]], totals: Sequence[int | None]
) -> dict[str, list[dict[str, Any]]]:
    """Each group's stages, published, with Wilson intervals and the funnel comparison
    against the whole report's rate at that stage (SPEC §7)."""
    overall = [
        None if count is None or not totals[INVITED] else count / totals[INVITED]
        for count in totals
    ]
    return {
        dimension: [
            {"group": group, "stages": group_stages(groups[group], overall)}
            for group in sorted(groups, key=lambda g, d=dimension: group_order(d, g))
        ]
        for dimension, groups in by_group.items()
    }


def group_stages(counts: Sequence[int], overall: Sequence[float | None]) -> list[dict[str, Any]]:
    published = [publish(count) for count in counts]
    n = published[INVITED]
    entries = []
    for position, stage in enumerate(STAGES):
        x = published[position]
        # Stages need not nest (SPEC §7): a rate above 100% has no interval to give.
        beyond = x is not None and n is not None and x > n
        entry: dict[str, Any] = {
            "stage": stage,
            "count": x,
            "pct_of_invited": percent(x, n),
            "ci95": None if beyond else ci95(x, n),
            "vs_all": None if beyond else compare(x, n, overall[position]),
        }
        if x is None:
            entry["suppressed"] = True
        entries.append(entry)
    return entries


def completion_gaps(report: Mapping[str, Any], limit: int = GAPS_SHOWN) -> list[dict[str, Any]]:
    """The groups whose completion (of those invited) is furthest from the whole report's,
    largest first: the inequity the page calls out in words."""
    overall = report["stages"][COMPLETED]["pct_of_invited"]
    if overall is None:
        return []
    gaps = []
    for dimension, groups in report["groups"].items():
        for group in groups:
            completed = group["stages"][COMPLETED]
            if completed["pct_of_invited"] is None or completed["vs_all"] is None:
                continue
            gaps.append(
                {
                    "dimension": dimension,
                    "group": group["group"],
                    "label": group_label(dimension, group["group"]),
                    "pct_of_invited": completed["pct_of_invited"],
                    "ci95": completed["ci95"],
                    "vs_all": completed["vs_all"],
                    "overall": overall,
                    "gap": abs(completed["pct_of_invited"] - overall),
                }
            )
    gaps.sort(key=lambda gap: (gap["vs_all"] == "similar", -gap["gap"], gap["label"]))
    return gaps[:limit]


# --- where patients stop -------------------------------------------------------------------


def _dropoff(
    stopped: Mapping[tuple[str, str], int],
    in_scope: set[str],
    questionnaires: Mapping[str, Questionnaire],
    shown: Any,
) -> list[dict[str, Any]]:
    """Each questionnaire in the report, its pages in the order a patient meets them: the
    start page, each question, then "check your answers", every one listed even at 0. A
    page a later version dropped keeps its count, after the questions, so the counts
    still add up to the unfinished episodes."""
    by_questionnaire: dict[str, dict[str, int]] = {questionnaire: {} for questionnaire in in_scope}
    for (questionnaire_id, page), count in stopped.items():
        by_questionnaire.setdefault(questionnaire_id, {})[page] = count
    entries = []
    for questionnaire_id, counts in sorted(by_questionnaire.items()):
        questionnaire = questionnaires.get(questionnaire_id)
        asked = [item.id for item in questionnaire.items if item.asks] if questionnaire else []
        retired = sorted(set(counts) - {*asked, c.PAGE_START, c.PAGE_CHECK})
        pages = [c.PAGE_START, *asked, *retired, c.PAGE_CHECK]
        entries.append(
            {
                "questionnaire": questionnaire_id,
                "pages": [_stopped(page, shown(counts.get(page, 0))) for page in pages],
            }
        )
    return entries


def _stopped(page: str, count: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"page": page, "stopped": count}
    if count is None:
        entry["suppressed"] = True
    return entry


# --- what patients need ------------------------------------------------------------------


def _domains(
    counts: Mapping[str, int],
    in_scope: set[str],
    questionnaires: Mapping[str, Questionnaire],
    shown: Any,
    completed: int | None,
    flagged: int | None,
) -> list[dict[str, Any]]:
    """Every domain the questionnaires in the report declare, in their order, then any
    others that were flagged (a questionnaire since retired)."""
    labels: dict[str, str] = {}
    for questionnaire_id in sorted(in_scope):
        questionnaire = questionnaires.get(questionnaire_id)
        if questionnaire is not None:
            for domain, label in questionnaire.domains.items():
                labels.setdefault(domain, _text(label, questionnaire))
    for domain in sorted(set(counts) - set(labels)):
        labels[domain] = domain
    entries = []
    for domain, label in labels.items():
        count = shown(counts.get(domain, 0))
        entries.append(
            {
                "domain": domain,
                "label": label,
                "count": count,
                "pct_of_completed": percent(count, completed),
                "pct_of_flagged": percent(count, flagged),
            }
        )
    return entries


def _text(value: Any, questionnaire: Questionnaire) -> str:
    if isinstance(value, Mapping):
        return str(value.get(questionnaire.default_language) or next(iter(value.values())))
    return str(value)


def _declined_items(
    session: Session,
    filters: Filters,
    questionnaires: Mapping[str, Questionnaire],
    in_scope: set[str],
    shown: Any,
) -> list[dict[str, Any]]:
    """ "I don't want to answer" per item that offers it, among completers who answered."""
    offering = [
        (questionnaires[questionnaire_id], item)
        for questionnaire_id in sorted(in_scope & questionnaires.keys())
        for item in questionnaires[questionnaire_id].items
        if DECLINE_VALUE in item.values
    ]
    rows = queries.item_answers(
        session, filters, [(questionnaire.id, item.id) for questionnaire, item in offering]
    )
    entries = []
    for (questionnaire, item), row in zip(offering, rows, strict=True):
        if not row.answered:
            continue  # no completer was asked it
        total, declined = shown(row.answered), shown(row.declined)
        entries.append(
            {
                "questionnaire_id": questionnaire.id,
                "item_id": item.id,
                "text": _text(item.text, questionnaire),
                "answered": total,
                "declined": declined,
                "pct_declined": percent(declined, total),
            }
        )
    return entries


# --- what the social prescriber did ------------------------------------------------------


def _process(session: Session, filters: Filters, shown: Any) -> dict[str, Any]:
    sessions, with_session = queries.support_sessions(session, filters)
    by_service: dict[tuple[str, str], int] = defaultdict(int)
    by_domain: dict[str, int] = defaultdict(int)
    to_pcn = total = 0
    for row in queries.referral_rows(session, filters):
        by_service[(row.service_id, row.service_name or row.service_id)] += row.count
        by_domain[row.domain or "not given"] += row.count
        to_pcn += row.count if row.to_pcn else 0
        total += row.count
    statuses: dict[str, int] = defaultdict(int)
    closed_by_outcome: dict[str, int] = defaultdict(int)
    for status, outcome, count in queries.task_outcomes(session, filters):
        statuses[status] += count
        if outcome is not None:
            closed_by_outcome[outcome] += count
    waits: dict[int, int] = defaultdict(int)
    for completed, contacted, count in queries.completion_to_contact_days(session, filters):
        wait = working_days_between(queries.london_day(completed), queries.london_day(contacted))
        waits[wait] += count
    return {
        "sessions": shown(sessions),
        "patients_with_sessions": shown(with_session),
        "referrals": shown(total),
        "referrals_to_pcn": shown(to_pcn),
        "referrals_by_service": [
            {"service": service, "name": name, "count": shown(count)}
            for (service, name), count in sorted(by_service.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "referrals_by_domain": [
            {"domain": domain, "count": shown(count)}
            for domain, count in sorted(by_domain.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "median_working_days_to_contact": median_of(waits),
        "tasks": {status: shown(statuses.get(status, 0)) for status in c.TASK_STATUSES},
        "tasks_closed_by_outcome": [
            {"outcome": outcome, "count": shown(closed_by_outcome.get(outcome, 0))}
            for outcome in c.TASK_OUTCOMES
        ],
    }


def _follow_ups(session: Session, filters: Filters, shown: Any) -> dict[str, int | None]:
    invited, completed = queries.follow_up_counts(session, filters)
    return {"invited": shown(invited), "completed": shown(completed)}


# --- the trend ---------------------------------------------------------------------------


def week_starting(day: date) -> date:
    return day - timedelta(days=day.weekday())  # ISO weeks start on Monday


def _weekly(days: Iterable[tuple[date, Sequence[int]]], shown: Any) -> list[dict[str, Any]]:
    weeks: dict[date, Counts] = defaultdict(_zero)
    for day, counts in days:
        _add(weeks[week_starting(day)], counts)
    return [
        {"week_starting": week.isoformat(), "stages": stage_entries(counts, shown)}
        for week, counts in sorted(weeks.items())
    ]
