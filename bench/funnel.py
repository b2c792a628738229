"""The funnel report over a million episodes, on SQLite and PostgreSQL.

Seeds `--episodes` screening episodes (default 1,000,000) over a year, at the Newham
pilot's rates, with their patients, appointments, messages, responses, answers, flags,
triage tasks, calls, sessions and referrals, written with bulk inserts. Then, in-process:
the whole report (every breakdown) timed over several runs, and in the same run one
hand-written SQL query for the stage counts against the report's own stage-count pass,
with their ratio; the report's peak Python memory for one clinic and for all of them
(flat means it does not grow with the episodes counted). Then through gunicorn (2 sync
workers) a signed-in clinician asks for `/reports/funnel` `--requests` times: p50/p95.

Targets: whole report <= 1 s at 1M episodes on both databases; stage counts within 1.5x
of the hand-written query; memory flat in the number of episodes.

    .venv/bin/python bench/funnel.py [--episodes N] [--requests N]
        [--database sqlite|postgresql|both] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from common import ROOT, create_postgres, drop_postgres
from sqlalchemy import insert, select, text
from triage import csrf_token, environment, serve

from screening import create_app
from screening.core import constants as c
from screening.core.extensions import db
from screening.models import (
    Answer,
    Appointment,
    ContactAttempt,
    Episode,
    Flag,
    OutboundMessage,
    Patient,
    Referral,
    Response,
    StaffUser,
    SupportSession,
    TriageTask,
)
from screening.reports import queries

BIN = Path(sys.executable).parent
EMAIL, PASSWORD = "clinician@bench.screening.invalid", "bench clinician password"
TARGET_REPORT_S = 1.0
TARGET_RATIO = 1.5
BATCH = 20_000
RUNS = 3
CLINICS = ("CARD-NUH", "CARD-RLH")
BARTS = (
    ("ends_meet", "financial", "yes"),
    ("missed_meals", "food", "yes"),
    ("stable_housing", "housing", "no"),
    ("support_network", "isolation", "no"),
    ("feel_unsafe", "safety", "yes"),
    ("carer_impact", "carer", "yes"),
)
AGES = ("16-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-84", "85+", None)
ETHNICITY = ("A", "A", "A", "B", "C", "D", "H", "J", "K", "K", "L", "M", "N", "R", "Z", "99", None)
LANGUAGES = ("en",) * 12 + ("bn", "ur", "pa", "gu", "pl", "ro", "so", "lt", None)
SERVICES = (
    ("citizens-advice", "Citizens Advice", "financial", False),
    ("newham-foodbank", "Newham Foodbank", "food", False),
    ("gp-social-prescribing", "GP practice social prescriber", "isolation", True),
)
# The ONS4 items the report's wellbeing pass asks for (SPEC §7 `outcomes.wellbeing`).
WELLBEING_ITEMS = ("life_satisfaction", "worthwhile", "happiness", "anxiety")
# The stage counts as anyone would write them: each stage's timestamps counted over the
# table. NOT INDEXED on SQLite, which otherwise reads the table through one of the funnel's
# partial indexes, row by row, eight times as long.
HAND_WRITTEN = (
    "SELECT count(invited_at), count(delivered_at), count(opened_at), count(completed_at), "
    "count(flagged_at), count(wants_help_at), count(contacted_at), count(referred_at), "
    "count(helped_at) FROM episodes{hint} WHERE follow_up_task_id IS NULL"
)


# --- seeding -------------------------------------------------------------------------------


def seed(env: dict[str, str], episodes: int) -> None:
    """Rows shaped as the real code writes them, at the pilot's rates (SPEC §1)."""
    from screening.appointments.clinics import sync_clinics
    from screening.questionnaire.frozen import freeze
    from screening.staff.accounts import create_user

    rng = random.Random(11)
    app = create_app(env)
    start_of_year = datetime(2025, 12, 1, 9, tzinfo=UTC)
    with app.app_context():
        session = db.session()
        loaded = app.extensions["screening"]
        sync_clinics(session, loaded.config)
        freeze(session, loaded.questionnaires.questionnaires["barts-social-welfare"])
        create_user(session, EMAIL, PASSWORD, c.ROLE_CLINICIAN)
        session.commit()
        user = session.scalar(select(StaffUser.id).where(StaffUser.email == EMAIL))
        ids = {"message": 0, "flag": 0, "attempt": 0}
        for start in range(0, episodes, BATCH):
            rows: dict[Any, list[dict[str, Any]]] = {
                model: []
                for model in (
                    Patient, Appointment, Episode, OutboundMessage, Response, Answer, Flag,
                    TriageTask, ContactAttempt, SupportSession, Referral,
                )
            }  # fmt: skip
            for s in range(start + 1, min(start + BATCH, episodes) + 1):
                _one(s, rng, start_of_year, rows, ids, user)
            for model, batch in rows.items():
                if batch:
                    session.execute(insert(model), batch)
            session.commit()
    analyze(env)


def analyze(env: dict[str, str]) -> None:
    """Statistics and (PostgreSQL) the visibility map, as a settled live database has them:
    index-only scans need the map, which adding a stored column clears."""
    app = create_app(env)
    with app.app_context(), db.engine.connect() as raw:
        if raw.dialect.name == "postgresql":
            raw.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            raw.exec_driver_sql("ANALYZE")
            raw.commit()


def _one(s: int, rng: random.Random, year: datetime, rows: dict, ids: dict, user: int) -> None:
    at = year + timedelta(days=rng.randint(0, 364), minutes=30 * rng.randint(0, 16))
    invited = at - timedelta(days=7)
    clinic = CLINICS[s % len(CLINICS)]
    mode = (
        c.MODE_SMS if s % 20 else (c.MODE_ASSISTED_PHONE if s % 40 else c.MODE_ASSISTED_IN_PERSON)
    )
    assisted = mode != c.MODE_SMS
    engaged = assisted or rng.random() < 0.45
    completed = engaged and (assisted or rng.random() < 0.50)
    raised = []
    if completed and rng.random() < 0.56:
        raised = ["financial"] if rng.random() < 0.68 else []
        raised += [d for _, d, _ in BARTS[1:] if rng.random() < (0.05 if d == "safety" else 0.2)]
        raised = raised or ["food"]
    wants_help = bool(raised) and rng.random() < 0.75
    rows[Patient].append({"id": s, "created_at": invited, "updated_at": invited})
    rows[Appointment].append(
        {
            "id": s, "external_id": f"F{s}", "patient_id": s, "clinic_code": clinic,
            "appointment_at": at, "status": "booked", "created_at": invited,
            "updated_at": invited, "episode_id": None,
        }
    )  # fmt: skip
    done_at = invited + timedelta(hours=rng.randint(1, 100)) if completed else None
    task_made = bool(raised) and (wants_help or "safety" in raised)
    reached = task_made and rng.random() < 0.6
    referred = reached and rng.random() < 0.5
    episode = {
        "id": s, "public_id": f"funnel{s:024d}", "patient_id": s, "appointment_id": s,
        "appointment_at": at, "clinic_code": clinic, "questionnaire_id": "barts-social-welfare",
        "questionnaire_version": 1, "mode": mode,
        "status": c.EPISODE_COMPLETED if completed else c.EPISODE_INVITED,
        "created_at": invited - timedelta(days=20), "invited_at": invited,
        "delivered_at": invited if assisted or rng.random() < 0.95 else None,
        "opened_at": invited + timedelta(hours=1) if engaged else None,
        "completed_at": done_at, "flagged_at": done_at if raised else None,
        "wants_help_at": done_at if wants_help else None,
        "contacted_at": done_at + timedelta(days=rng.randint(1, 6)) if reached else None,
        "referred_at": done_at + timedelta(days=7) if referred else None,
        # The service said it helped: the referral `_answered` completes as helped.
        "helped_at": done_at + timedelta(days=37) if referred and s % 5 == 3 else None,
        "dob_failures": 0, "age_band": rng.choice(AGES), "sex": rng.choice("FFMMMX2"),
        "ethnicity": rng.choice(ETHNICITY), "language": rng.choice(LANGUAGES),
        "imd_decile": rng.choice((1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, None)),
    }  # fmt: skip
    rows[Episode].append(episode)
    for kind in ("invite", "reminder") if not assisted else ():
        if kind == "reminder" and completed and done_at < invited + timedelta(days=4):
            continue
        ids["message"] += 1
        rows[OutboundMessage].append(
            {
                "id": ids["message"], "episode_id": s, "kind": kind, "status": "delivered",
                "due_at": invited, "attempts": 1, "created_at": invited, "sent_at": invited,
                "final_at": invited, "provider_sid": f"SM{ids['message']:032d}",
            }
        )  # fmt: skip
    if not completed:
        return
    rows[Response].append(
        {
            "id": s, "episode_id": s, "questionnaire_id": "barts-social-welfare",
            "questionnaire_version": 1, "mode": mode, "language": "en", "submitted_at": done_at,
        }
    )  # fmt: skip
    for item, domain, flag_value in BARTS:
        other = "no" if flag_value == "yes" else "yes"
        value = flag_value if domain in raised else ("decline" if rng.random() < 0.03 else other)
        rows[Answer].append(
            {"episode_id": s, "item_id": item, "value": value, "answered_at": done_at}
        )
        if domain in raised:
            rows[Flag].append(
                {
                    "response_id": s, "item_id": item, "domain": domain,
                    "priority": "urgent" if domain == "safety" else "routine",
                    "always_triage": domain == "safety",
                }
            )  # fmt: skip
    if raised:
        rows[Answer].append(
            {"episode_id": s, "item_id": "wants_help", "value": "yes" if wants_help else "no",
             "answered_at": done_at}
        )  # fmt: skip
    if not task_made:
        return
    closed = rng.random() < 0.8
    rows[TriageTask].append(
        {
            "id": s, "episode_id": s, "response_id": s,
            "status": c.TASK_CLOSED if closed else c.TASK_OPEN,
            "priority": "urgent" if "safety" in raised else "routine", "clinic_code": clinic,
            "domains": f" {' '.join(raised)} ", "created_at": done_at, "updated_at": done_at,
            "version": 1, "closed_at": done_at + timedelta(days=9) if closed else None,
            "outcome": (("referred" if referred else "support_arranged") if reached
                        else "unable_to_contact") if closed else None,
        }
    )  # fmt: skip
    for n in range(1 + (not reached)):
        rows[ContactAttempt].append(
            {
                "task_id": s, "episode_id": s, "by_user_id": user, "method": "phone",
                "attempted_at": done_at + timedelta(days=n + 1),
                "outcome": "reached" if reached and n == 0 else "no_answer",
            }
        )  # fmt: skip
    if reached:
        rows[SupportSession].append(
            {
                "task_id": s,
                "held_at": done_at + timedelta(days=3),
                "by_user_id": user,
                "minutes": 30,
            }
        )
    if referred:
        service, name, domain, to_pcn = SERVICES[s % len(SERVICES)]
        referred_at = done_at + timedelta(days=7)
        rows[Referral].append(
            {
                "task_id": s, "service_id": service, "service_name": name, "domain": domain,
                "to_pcn": to_pcn, "referred_at": referred_at, "by_user_id": user,
                **_answered(s, referred_at),
            }
        )  # fmt: skip


def _answered(s: int, referred_at: datetime) -> dict[str, Any]:
    """The service's answer (SPEC §13), in turn by the episode's number (no random draw, so
    the rest of the cohort is as before): still waiting, accepted, declined, completed
    having helped, completed not having helped."""
    answered = referred_at + timedelta(days=4)
    done = referred_at + timedelta(days=30)
    return [
        {"status": c.REFERRAL_MADE},
        {"status": c.REFERRAL_ACCEPTED, "accepted_at": answered},
        {"status": c.REFERRAL_DECLINED, "declined_at": answered, "reason": "no_capacity"},
        {"status": c.REFERRAL_COMPLETED, "accepted_at": answered, "completed_at": done,
         "outcome": c.REFERRAL_HELPED},
        {"status": c.REFERRAL_COMPLETED, "accepted_at": answered, "completed_at": done,
         "outcome": c.REFERRAL_NOT_HELPED},
    ][s % 5]  # fmt: skip


# --- in-process timings ----------------------------------------------------------------------


def measure(env: dict[str, str]) -> dict[str, Any]:
    from screening.reports import Filters, build_report

    app = create_app(env)
    with app.app_context():
        session = db.session()
        loaded = app.extensions["screening"]
        build_report(session, loaded, Filters())  # warm the cache, as a live service is
        report_s = _best(lambda: build_report(session, loaded, Filters()))
        passes = _pass_times(session, Filters(), _declining(loaded))
        ours = _best(lambda: queries.stage_totals(session, Filters()))
        hint = " NOT INDEXED" if session.get_bind().dialect.name == "sqlite" else ""
        hand = _best(lambda: session.execute(text(HAND_WRITTEN.format(hint=hint))).one())
        memory = {}
        for name, filters in (("one clinic", Filters(clinic=CLINICS[0])), ("all", Filters())):
            tracemalloc.start()
            report = build_report(session, loaded, filters)
            memory[name] = (tracemalloc.get_traced_memory()[1] / 1024, report["stages"][0]["count"])
            tracemalloc.stop()
        dated = _best(
            lambda: build_report(
                session, loaded, Filters(clinic=CLINICS[0], date_from=datetime(2026, 3, 1).date(),
                                         date_to=datetime(2026, 5, 31).date())
            )
        )  # fmt: skip
        whole = build_report(session, loaded, Filters())
    return {
        "report_s": report_s, "dated_s": dated, "passes": passes, "ours_s": ours,
        "hand_s": hand, "memory": memory, "stages": [s["count"] for s in whole["stages"]],
    }  # fmt: skip


def _best(run: Any) -> float:
    """The median of RUNS timed runs, in seconds."""
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _declining(loaded: Any) -> list[tuple[str, str]]:
    """The items the report asks the answers pass about: those offering "decline"."""
    barts = loaded.questionnaires.questionnaires["barts-social-welfare"]
    return [(barts.id, item.id) for item in barts.items if queries.DECLINE_VALUE in item.values]


def _pass_times(session: Any, filters: Any, declining: list[tuple[str, str]]) -> dict[str, float]:
    passes = {
        "totals": lambda: queries.stage_totals(session, filters),
        "breakdowns": lambda: list(queries.breakdown_rows(session, filters)),
        "weekly": lambda: list(queries.invitation_days(session, filters)),
        "domains": lambda: queries.domain_counts(session, filters),
        "declined": lambda: queries.item_answers(session, filters, declining),
        "sessions": lambda: queries.support_sessions(session, filters),
        "referrals": lambda: list(queries.referral_rows(session, filters)),
        "waits": lambda: list(queries.completion_to_contact_days(session, filters)),
        "tasks": lambda: list(queries.task_outcomes(session, filters)),
        "follow-ups": lambda: queries.follow_up_counts(session, filters),
        "services' answers": lambda: queries.referral_outcomes(
            session, filters, made_before=datetime.now(UTC)
        ),
        "answer waits": lambda: list(queries.referral_response_days(session, filters)),
        "wellbeing": lambda: queries.follow_up_answers(session, filters, WELLBEING_ITEMS),
    }
    return {name: _best(run) * 1000 for name, run in passes.items()}


def page_latency(port: int, count: int) -> dict[str, float]:
    base = f"http://127.0.0.1:{port}"
    browser = requests.Session()
    page = browser.get(f"{base}/login").text
    signed = browser.post(
        f"{base}/login",
        data={"csrf_token": csrf_token(page), "email": EMAIL, "password": PASSWORD},
        allow_redirects=False,
    )
    assert signed.status_code == 302, signed.status_code
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        reply = browser.get(f"{base}/reports/funnel")
        timings.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200, reply.status_code
    # The 95th percentile between measured values: with few requests, not the fastest one.
    p95 = statistics.quantiles(timings, n=20, method="inclusive")[18]
    return {"p50": statistics.median(timings), "p95": p95}


# --- one database --------------------------------------------------------------------------


def run(kind: str, args: argparse.Namespace) -> None:
    workdir, url, seeded = _database(kind, args.keep)
    if url is None:
        return
    env = environment(url, workdir / "instance")
    try:
        started = time.perf_counter()
        subprocess.run(
            [str(BIN / "screening"), "init-db"], env={**os.environ, **env}, cwd=ROOT, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        migrated = time.perf_counter() - started
        if seeded:
            analyze(env)
            print(f"\n=== {kind}: the kept database in {workdir}; migrated in {migrated:.0f} s ===")
        else:
            started = time.perf_counter()
            seed(env, args.episodes)
            if args.keep is not None:
                (workdir / "seeded").write_text(url)
            print(
                f"\n=== {kind}: {args.episodes:,} episodes; "
                f"seeded in {time.perf_counter() - started:.0f} s ==="
            )
        result = measure(env)
        process, port = serve(env, workdir)
        try:
            latency = page_latency(port, args.requests)
        finally:
            process.terminate()
            process.wait(timeout=20)
        report(result, latency)
        if args.json:
            print(json.dumps({"database": kind, **result, "page": latency}))
    finally:
        if kind == "postgresql" and args.keep is None:
            drop_postgres(url)


def _database(kind: str, keep: Path | None) -> tuple[Path, str | None, bool]:
    """(its directory, its URL, whether it is seeded already): a fresh database, or with
    `--keep DIR` the one an earlier run seeded there, migrated to the current schema."""
    workdir = (
        Path(tempfile.mkdtemp(prefix=f"bench-funnel-{kind}-")) if keep is None else keep / kind
    )
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "seeded").exists():
        return workdir, (workdir / "seeded").read_text(), True
    if kind == "sqlite":
        return workdir, f"sqlite:///{workdir / 'funnel.db'}", False
    return workdir, create_postgres("bench_funnel"), False


def report(result: dict[str, Any], latency: dict[str, float]) -> None:
    ratio = result["ours_s"] / result["hand_s"]
    print("stages:", ", ".join(f"{n:,}" for n in result["stages"]))
    print(
        f"whole report: {result['report_s'] * 1000:.0f} ms "
        f"(target <= {TARGET_REPORT_S * 1000:.0f}) "
        f"{'met' if result['report_s'] <= TARGET_REPORT_S else 'MISSED'}; one clinic over three "
        f"months: {result['dated_s'] * 1000:.0f} ms"
    )
    print("  passes (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result["passes"].items()))
    print(
        f"stage counts: report's pass {result['ours_s'] * 1000:.0f} ms, hand-written SQL "
        f"{result['hand_s'] * 1000:.0f} ms, ratio {ratio:.2f} (target <= {TARGET_RATIO}) "
        f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}"
    )
    (one_kb, one_n), (all_kb, all_n) = result["memory"].values()
    print(
        f"peak Python memory: {one_kb:.0f} KB for {one_n:,} invited (one clinic), {all_kb:.0f} KB "
        f"for {all_n:,} (all): ratio {all_kb / one_kb:.2f} for {all_n / one_n:.1f}x the episodes"
    )
    print(
        f"/reports/funnel through gunicorn: p50 {latency['p50']:.0f} ms, "
        f"p95 {latency['p95']:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="Also print the figures as JSON.")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR",
        help="Keep the seeded databases in DIR; a later run migrates and measures them again.",
    )  # fmt: skip
    args = parser.parse_args()
    for kind in ("sqlite", "postgresql") if args.database == "both" else (args.database,):
        run(kind, args)


if __name__ == "__main__":
    main()
