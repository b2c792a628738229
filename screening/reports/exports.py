"""The report's tables as CSV (SPEC §5, §8), read from the same dict as the JSON.

A suppressed count is written `[c]`, as on screen; a percentage with no denominator is an
empty cell. Each table's columns are fixed here, so a download keeps its shape whatever
the data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..core.constants import DECLINE_REASONS

SUPPRESSED = "[c]"
# A spreadsheet reads a cell that starts with one of these as a formula (OWASP's CSV
# injection list): a group or service name someone typed could run one in Excel.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def text_cell(value: str) -> str:
    """Text as a spreadsheet shows it and never runs: a leading quote makes it plain text."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def count_cell(entry: Mapping[str, Any], key: str = "count") -> str:
    """A count as published: None only ever means suppressed (percentages are not counts)."""
    return SUPPRESSED if entry.get("suppressed") or entry[key] is None else cell(entry[key])


def _stage_rows(stages: list[dict[str, Any]], *prefix: Any) -> Iterator[list[Any]]:
    for s in stages:
        yield [*prefix, s["stage"], count_cell(s), s["pct_of_previous"], s["pct_of_invited"]]


def _stages(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    yield from _stage_rows(report["stages"])


def _domains(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    for d in report["domains"]:
        yield [d["domain"], count_cell(d), d["pct_of_completed"], d["pct_of_flagged"]]


def _by_clinic(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    for clinic in report["by_clinic"]:
        yield from _stage_rows(clinic["stages"], clinic["clinic_code"])


def _groups(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    for dimension, groups in report["groups"].items():
        for group in groups:
            for s in group["stages"]:
                lo, hi = s["ci95"] or (None, None)
                yield [
                    dimension, group["group"], s["stage"], count_cell(s),
                    s["pct_of_invited"], lo, hi, s["vs_all"],
                ]  # fmt: skip


def _conversion(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    for step in report["conversion"]:
        yield [step["stage"], step["of"], step["pct"], step["reference"]]


def _modes(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    for mode in report["modes"]:
        yield [mode["mode"], count_cell(mode), mode["pct_of_completed"]]


def _declined_items(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    for item in report["declined_items"]:
        yield [
            item["questionnaire_id"], item["item_id"], count_cell(item, "answered"),
            count_cell(item, "declined"), item["pct_declined"],
        ]  # fmt: skip


def _process(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    process = report["process"]
    for name in ("sessions", "patients_with_sessions", "referrals", "referrals_to_pcn"):
        yield [name, "", _published(process[name])]
    yield ["median_working_days_to_contact", "", process["median_working_days_to_contact"]]
    for status, count in process["tasks"].items():
        yield ["tasks", status, _published(count)]
    for entry in process["tasks_closed_by_outcome"]:
        yield ["tasks_closed_by_outcome", entry["outcome"], count_cell(entry)]
    for entry in process["referrals_by_service"]:
        yield ["referrals_by_service", entry["service"], count_cell(entry)]
    for entry in process["referrals_by_domain"]:
        yield ["referrals_by_domain", entry["domain"], count_cell(entry)]


def _published(count: int | None) -> str:
    return SUPPRESSED if count is None else cell(count)


def _weekly(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    for week in report["weekly"]:
        yield from _stage_rows(week["stages"], week["week_starting"])


def _dropoff(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    for entry in report["dropoff"]:
        for page in entry["pages"]:
            yield [entry["questionnaire"], page["page"], _published(page["stopped"])]


def _outcomes(report: Mapping[str, Any]) -> Iterator[list[Any]]:
    """A row per service, then the all-services row, then a row per wellbeing item: one flat
    table whose `section` says which columns a row fills (the others are empty)."""
    blank_wellbeing = [""] * len(WELLBEING_COLUMNS)
    for entry in report["outcomes"]["referrals"]["by_service"]:
        yield ["service", entry["service"], *_referral_cells(entry), *blank_wellbeing]
    yield ["all_services", "", *_referral_cells(report["referrals_all_services"]),
           *blank_wellbeing]  # fmt: skip
    blank_referrals = [""] * len(REFERRAL_COLUMNS)
    for item in report["outcomes"]["wellbeing"]:
        lo, hi = item["ci95"] or (None, None)
        yield [
            "wellbeing", "", *blank_referrals, item["questionnaire"], item["item"],
            _published(item["pairs"]), item["mean_before"], item["mean_after"],
            item["mean_change"], lo, hi,
        ]  # fmt: skip


def _referral_cells(entry: Mapping[str, Any]) -> list[Any]:
    reasons = entry["declined_reasons"]
    return [
        _published(entry["made"]), _published(entry["accepted"]), _published(entry["declined"]),
        *(_published(reasons[reason]) for reason in DECLINE_REASONS),
        _published(entry["completed"]), _published(entry["helped"]),
        _published(entry["overdue"]), entry["median_days_to_response"],
    ]  # fmt: skip


REFERRAL_COLUMNS = [
    "made", "accepted", "declined", *(f"declined_{reason}" for reason in DECLINE_REASONS),
    "completed", "helped", "overdue", "median_days_to_response",
]  # fmt: skip
WELLBEING_COLUMNS = [
    "questionnaire", "item", "pairs", "mean_before", "mean_after", "mean_change", "ci95_lo",
    "ci95_hi",
]  # fmt: skip
STAGE_COLUMNS = ["stage", "count", "pct_of_previous", "pct_of_invited"]
TABLES: dict[str, tuple[list[str], Callable[[Mapping[str, Any]], Iterator[list[Any]]]]] = {
    "stages": (STAGE_COLUMNS, _stages),
    "domains": (["domain", "count", "pct_of_completed", "pct_of_flagged"], _domains),
    "by_clinic": (["clinic_code", *STAGE_COLUMNS], _by_clinic),
    "groups": (
        ["dimension", "group", "stage", "count", "pct_of_invited", "ci95_lo", "ci95_hi", "vs_all"],
        _groups,
    ),
    "conversion": (["stage", "of", "pct", "reference_pct"], _conversion),
    "modes": (["mode", "count", "pct_of_completed"], _modes),
    "declined_items": (
        ["questionnaire_id", "item_id", "answered", "declined", "pct_declined"],
        _declined_items,
    ),
    "process": (["measure", "category", "value"], _process),
    "weekly": (["week_starting", *STAGE_COLUMNS], _weekly),
    "dropoff": (["questionnaire", "page", "stopped"], _dropoff),
    "outcomes": (["section", "service", *REFERRAL_COLUMNS, *WELLBEING_COLUMNS], _outcomes),
}


def csv_table(report: Mapping[str, Any], table: str) -> str:
    header, rows = TABLES[table]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows(report):
        writer.writerow([text_cell(v) if isinstance(v, str) else cell(v) for v in row])
    return out.getvalue()


def text_table(report: Mapping[str, Any]) -> str:
    """`report funnel --format table`: the stages, the domains, and what rule applied."""
    lines = [f"{'stage':<12} {'count':>9} {'% of previous':>14} {'% of invited':>13}"]
    for s in report["stages"]:
        lines.append(
            f"{s['stage']:<12} {count_cell(s):>9} {_pct(s['pct_of_previous']):>14} "
            f"{_pct(s['pct_of_invited']):>13}"
        )
    lines += ["", f"{'domain':<12} {'count':>9} {'% of completed':>14} {'% of flagged':>13}"]
    for d in report["domains"]:
        lines.append(
            f"{d['domain']:<12} {count_cell(d):>9} {_pct(d['pct_of_completed']):>14} "
            f"{_pct(d['pct_of_flagged']):>13}"
        )
    lines += ["", report["disclosure"]]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
