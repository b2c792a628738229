"""Every benchmark runs end to end at a tiny size, so none can rot unseen (their figures
at full size are README's; these runs check only that each script still works and still
prints the figures it promises)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import POSTGRES, ROOT

DATABASE = "both" if POSTGRES else "sqlite"
NO_POSTGRES = [] if POSTGRES else ["--no-postgres"]

BENCHES = {
    "engine": (["--evaluations", "200"], ["ratio engine/hand-written:"]),
    # Part 2 (two paced workers, one killed) needs PostgreSQL.
    "dispatch": (
        ["--messages", "60", "--latency", "0.05", "--cap", "40", *NO_POSTGRES],
        [
            "ratio outbox/bare",
            *(["ratio to cap:", "duplicates after the sweep"] if POSTGRES else []),
        ],
    ),
    "import_appointments": (["--rows", "300", *NO_POSTGRES], ["rows/s"]),
    "triage": (
        ["--tasks", "300", "--to-call", "20", "--requests", "5", "--database", DATABASE],
        ["p95"],
    ),
    "funnel": (
        ["--episodes", "2000", "--requests", "3", "--database", DATABASE],
        ["ratio"],
    ),
    # --profile always takes the path where py-spy may be missing, which once crashed.
    "patient_flow": (
        [
            "--database",
            DATABASE,
            "--seconds",
            "1",
            "--patients",
            "60",
            "--rate",
            "20",
            "--profile",
            "always",
        ],
        ["ratio"],
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_the_benchmark_runs_end_to_end_at_a_tiny_size(name: str) -> None:
    options, expected = BENCHES[name]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *options],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stdout, done.stdout[-2000:]
