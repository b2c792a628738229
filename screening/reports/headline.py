"""The report's headline: seven stages a cardiology lead reads first, each as a share of the
stage before it that matters, beside the reference rate where SPEC §6 gives one. The last
is the one the pathway exists for (SPEC §13: a referral is not help): those a service says
it helped, of those referred."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .statistics import percent


@dataclass(frozen=True)
class Tile:
    stage: str
    count: int | None  # None when suppressed
    rate: float | None  # a percentage of `base`
    rate_words: str  # what the rate is of, as the tile says it
    reference: float | None  # the reference rate for the same step, if there is one


# Each tile's stage, the stage its rate is of, and the words for that rate. The invited
# tile carries the first step (opening the link), which has the first reference rate.
_TILES = (
    ("invited", "engaged", "invited", "opened the link"),
    ("completed", "completed", "engaged", "of those who opened it"),
    ("flagged", "flagged", "completed", "of those who completed"),
    ("wants_help", "wants_help", "completed", "of those who completed"),
    ("contacted", "contacted", "wants_help", "of those who want help"),
    ("referred", "referred", "contacted", "of those reached"),
    ("helped", "helped", "referred", "of those referred"),
)


def headline(report: Mapping[str, Any]) -> list[Tile]:
    counts = {entry["stage"]: entry["count"] for entry in report["stages"]}
    references = {step["stage"]: step["reference"] for step in report["conversion"]}
    return [
        Tile(
            stage=stage,
            count=counts[stage],
            rate=percent(counts[step], counts[base]),
            rate_words=words,
            reference=references.get(step),
        )
        for stage, step, base, words in _TILES
    ]


def references_of_invited(report: Mapping[str, Any]) -> dict[str, float]:
    """Each reference rate as a share of those invited, for marking on the chart: the
    steps multiply (45% open the link and 50% of them complete: 22.5% of those invited)."""
    shares = {"invited": 100.0}
    for step in report["conversion"]:
        if step["reference"] is not None and step["of"] in shares:
            shares[step["stage"]] = shares[step["of"]] * step["reference"] / 100
    del shares["invited"]
    return shares
