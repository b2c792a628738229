"""Engine speed: `evaluate` + `triage_decision` on the Barts tool, against a hand-written
evaluation of the same rules (the least a generic engine could cost), in one run.

Prints evaluations per second for both and their ratio. The form calls the engine on every
page and the submission once, so it must stay a small fraction of a request.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from screening.questionnaire import evaluate, load_file, triage_decision

ROOT = Path(__file__).resolve().parent.parent
N = 50_000
FLAG_ON = {
    "ends_meet": "yes",
    "missed_meals": "yes",
    "stable_housing": "no",
    "support_network": "no",
    "feel_unsafe": "yes",
    "carer_impact": "yes",
}


def answer_sets(count: int) -> list[dict[str, str]]:
    rng = random.Random(7)
    items = [*FLAG_ON, "wants_help"]
    return [{item: rng.choice(["yes", "no", "decline"]) for item in items} for _ in range(count)]


def by_hand(answers: dict[str, str]) -> tuple[list[str], str | None]:
    flagged = [item for item, value in FLAG_ON.items() if answers.get(item) == value]
    if not flagged:
        return [], None
    consent = answers.get("wants_help")
    urgent = "feel_unsafe" in flagged
    if consent is not None and consent != "yes" and not urgent:
        return flagged, "declined"
    return flagged, "open"


def rate(function, sets) -> float:
    start = time.perf_counter()
    for answers in sets:
        function(answers)
    return len(sets) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=N)
    args = parser.parse_args()
    barts = load_file(ROOT / "questionnaires" / "barts-social-welfare.yaml")
    sets = answer_sets(args.evaluations)

    def engine(answers: dict[str, str]) -> object:
        return triage_decision(barts, evaluate(barts, answers))

    start = time.perf_counter()
    for _ in range(20):
        load_file(ROOT / "questionnaires" / "barts-social-welfare.yaml")
    load_ms = (time.perf_counter() - start) / 20 * 1000

    engine_rate = rate(engine, sets)
    hand_rate = rate(by_hand, sets)
    print(f"load + validate barts-social-welfare.yaml: {load_ms:.1f} ms")
    print(f"engine:       {engine_rate:12,.0f} evaluations/s")
    print(f"hand-written: {hand_rate:12,.0f} evaluations/s")
    print(f"ratio engine/hand-written: {engine_rate / hand_rate:.2f}")
    print(f"engine cost per evaluation: {1e6 / engine_rate:.1f} µs")


if __name__ == "__main__":
    main()
