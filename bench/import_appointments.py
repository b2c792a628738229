"""Appointment import speed and memory: the real import against validation alone, in one run.

Generates an appointment list (default 1,000,000 rows: valid 999-range NHS numbers, UK
mobiles 07400xxxxxx, the configured clinics, about one row in five a repeat patient) in a
temporary folder, then measures, each in its own child process:

(a) validation only: csv reading + `parse_uk_mobile` + `normalise_nhs_number`, no database;
(b) `screening.appointments.importer.import_appointments` into a fresh SQLite file;
(c) the same into a fresh PostgreSQL database (created and dropped here).

Prints rows/s, the peak RSS of each child (its own VmHWM from /proc, so the figure is that
process's alone, plus the peak of the process the import reads a large list in) and the
ratio import/validation, beside the targets (printed, never asserted): >= 10,000 rows/s,
peak RSS < 250 MB, ratio >= 0.5.

    .venv/bin/python bench/import_appointments.py --rows 50000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

from common import ROOT, create_postgres, drop_postgres, nhs_numbers

from tests.appointment_lists import COLUMNS  # the SPEC §4 columns, in the tests' order

TARGET_RATE = 10_000
TARGET_RSS_MB = 250
TARGET_RATIO = 0.5
REPEAT_SHARE = 0.2
GIVEN = ["Alex", "Sam", "Priya", "Mohammed", "Grace", "Tomasz", "Aisha", "John", "Mei", "Ola"]
FAMILY = ["Example", "Khan", "Smith", "Begum", "Okafor", "Nowak", "Patel", "Jones", "Chen"]
ETHNICITY = ["Bangladeshi", "White British", "Black African", "Indian", "Pakistani", "Other"]
POSTCODES = ["E13 8SL", "E1 1BB", "E15 4HT", "E6 2RT", "E3 4AA", "E14 0LG"]
LANGUAGES = ["en", "en", "en", "bn", "ur", "pl", "so"]


# --- the list ------------------------------------------------------------------------------


def clinic_codes() -> list[str]:
    import yaml

    with (ROOT / "config" / "clinics.yaml").open(encoding="utf-8") as handle:
        return [clinic["code"] for clinic in yaml.safe_load(handle)["clinics"]]


def write_list(path: Path, rows: int, seed: int = 20261203) -> dict[str, int]:
    """Write `rows` appointment rows; return how many distinct patients they name."""
    rng = random.Random(seed)
    clinics = clinic_codes()
    numbers = nhs_numbers()
    patients: list[tuple[str, str, str, str, str]] = []
    first_day = datetime(2026, 1, 5, 8, 0)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for serial in range(rows):
            if patients and rng.random() < REPEAT_SHARE:
                nhs, given, family, born, mobile = rng.choice(patients)
            else:
                index = len(patients)
                born = (date(1930, 1, 1) + timedelta(days=rng.randrange(29_000))).isoformat()
                patient = (
                    next(numbers),
                    rng.choice(GIVEN),
                    rng.choice(FAMILY),
                    born,
                    # One patient in 200 has no mobile: imported with a warning, phoned.
                    "" if index % 200 == 199 else f"07400 {index:06d}",
                )
                patients.append(patient)
                nhs, given, family, born, mobile = patient
            at = first_day + timedelta(days=rng.randrange(360), minutes=15 * rng.randrange(36))
            roll = rng.random()
            status = (
                "cancelled" if roll < 0.02 else "attended" if roll < 0.025 else "dna"
                if roll < 0.03 else "booked"
            )  # fmt: skip
            writer.writerow(
                [
                    f"BENCH{serial:07d}",
                    nhs,
                    given,
                    family,
                    born,
                    mobile,
                    clinics[serial % len(clinics)] if rng.random() < 0.5 else clinics[0],
                    at.isoformat(timespec="minutes"),
                    status,
                    rng.choice(["female", "male"]),
                    rng.choice(ETHNICITY),
                    rng.choice(LANGUAGES),
                    rng.choice(POSTCODES),
                    str(rng.randint(1, 10)),
                ]
            )
    return {"patients": len(patients)}


# --- children ---------------------------------------------------------------------------------


def child_validate(path: Path) -> dict[str, float]:
    from screening.core.identifiers import normalise_nhs_number, parse_uk_mobile

    start = time.perf_counter()
    rows = valid = 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        nhs_at, mobile_at = header.index("nhs_number"), header.index("mobile")
        for values in reader:
            rows += 1
            nhs = normalise_nhs_number(values[nhs_at].strip())
            mobile = parse_uk_mobile(values[mobile_at].strip())
            valid += nhs is not None and mobile.e164 is not None
    seconds = time.perf_counter() - start
    return {"rows": rows, "valid": valid, "seconds": seconds, "peak_rss_mb": _rss_mb("VmHWM")}


def child_import(path: Path, database_url: str, instance: Path) -> dict[str, object]:
    from screening import create_app
    from screening.appointments.clinics import sync_clinics
    from screening.appointments.importer import import_appointments
    from screening.core.extensions import db

    app = create_app(
        {
            "SCREENING_ENV": "test",
            "SCREENING_DATABASE_URL": database_url,
            "SCREENING_INSTANCE_DIR": str(instance),
            "SCREENING_CONFIG_DIR": str(ROOT / "config"),
            "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
            "SCREENING_SMS_BACKEND": "console",
        }
    )
    with app.app_context():
        session = db.session()
        config = app.extensions["screening"].config
        sync_clinics(session, config)
        session.commit()
        baseline = _rss_mb()
        reports = 0

        def report(_line: str) -> None:
            nonlocal reports
            reports += 1

        start = time.perf_counter()
        counts = import_appointments(session, config, path, report)
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "summary": counts.summary(),
        "rows": counts.imported + counts.updated + counts.unchanged + counts.rejected,
        "reports": reports,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _rss_mb("VmHWM"),
        # The process that reads a large list beside the writing (`screening.appointments.reading`):
        # the largest child this one has waited for, in MB (Linux gives kB).
        "reader_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS) or its peak so far (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(args: list[str], workdir: Path) -> tuple[dict, float]:
    """Run this script as a child; return its JSON result and its own peak RSS in MB.

    The peak is the child's VmHWM, read by the child itself from /proc at the end: its
    `ru_maxrss` (from `wait4` or RUSAGE_CHILDREN) is no use here, as Linux starts a forked
    child's high-water mark at the parent's size, which writing the list made large.
    """
    out = workdir / f"child-{uuid.uuid4().hex}.json"
    with out.open("w") as handle:
        code = subprocess.run(
            [sys.executable, __file__, "--child", *args], stdout=handle, cwd=ROOT
        ).returncode
    if code != 0:
        raise SystemExit(f"child {args[0]} failed with exit code {code}")
    result = json.loads(out.read_text())
    return result, result["peak_rss_mb"]


# --- databases --------------------------------------------------------------------------------


def migrate(url: str) -> None:
    from screening.core.db import make_engine
    from screening.models.migrate import upgrade_to_head

    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "validate":
            result = child_validate(Path(rest[0]))
        else:
            result = child_import(Path(rest[0]), rest[1], Path(rest[2]))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        workdir = Path(folder)
        path = workdir / "appointments.csv"
        start = time.perf_counter()
        made = write_list(path, args.rows)
        print(
            f"wrote {args.rows:,} rows ({made['patients']:,} patients, "
            f"{path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s"
        )

        validation, validation_rss = run_child(["validate", str(path)], workdir)
        validation_rate = validation["rows"] / validation["seconds"]
        print(
            f"validation only: {validation_rate:10,.0f} rows/s  "
            f"({validation['seconds']:.1f} s, peak RSS {validation_rss:.0f} MB)"
        )

        targets: list[tuple[str, str]] = [("sqlite", f"sqlite:///{workdir / 'bench.db'}")]
        if not args.no_postgres:
            url = create_postgres("bench_import")
            if url is not None:
                targets.append(("postgresql", url))
        try:
            for name, url in targets:
                migrate(url)
                result, rss = run_child(["import", str(path), url, str(workdir)], workdir)
                rate = args.rows / result["seconds"]
                print(
                    f"import {name:<10}: {rate:10,.0f} rows/s  (target >= {TARGET_RATE:,})  "
                    f"{result['seconds']:.1f} s; {result['summary']}"
                )
                reader = result["reader_peak_rss_mb"]
                print(
                    f"  peak RSS {rss + reader:6.0f} MB (target < {TARGET_RSS_MB}): "
                    f"{rss:.0f} MB writing ({result['baseline_rss_mb']:.0f} MB before the "
                    f"import started) + {reader:.0f} MB reading the list"
                )
                print(
                    f"  ratio import/validation {rate / validation_rate:.2f} "
                    f"(target >= {TARGET_RATIO})"
                )
        finally:
            for name, url in targets:
                if name == "postgresql":
                    drop_postgres(url)


if __name__ == "__main__":
    main()
