"""The prescriber's pages under a year of work, on SQLite and PostgreSQL.

Seeds `--tasks` triage tasks (default 200,000; a tenth of them active) with their patients,
appointments, episodes, responses, answers, flags, contact attempts and referrals, plus
`--to-call` invited episodes that have not answered (the to-call list's source), written
with bulk inserts. Then, through gunicorn serving the real `create_app()` (2 sync workers),
a signed-in prescriber asks `--requests` times each for: the home page (its counts and the
90 days' funnel), the first queue page, a filtered queue page, the first and the third
page of the to-call list, the tasks with a referral overdue for its service's answer, and
one task page. Prints p50/p95 per page, the SQL
statements each page runs (counted in-process, at two page sizes, so an N+1 shows as a
difference), and the query plans of the queue's statements.

Target: p95 < 100 ms for every page on both databases; a fixed number of statements per
page whatever the page size.

    .venv/bin/python bench/triage.py [--tasks N] [--requests N] [--overdue-worst]
        [--database sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from common import ROOT, create_postgres, drop_postgres, nhs_numbers

BIN = Path(sys.executable).parent
SECRET_KEY = "bench-triage-fixed-secret-key-not-for-production-0123456789abcdef"
EMAIL, PASSWORD = "sp@bench.screening.invalid", "bench prescriber password"
TARGET_P95_MS = 100.0
BATCH = 5_000
BARTS = (
    "ends_meet",
    "missed_meals",
    "stable_housing",
    "support_network",
    "feel_unsafe",
    "carer_impact",
    "wants_help",
)
DOMAINS = ("financial", "food", "housing", "isolation", "safety", "carer")


def environment(database_url: str, instance: Path) -> dict[str, str]:
    return {
        "SCREENING_ENV": "demo",
        "SCREENING_DATABASE_URL": database_url,
        "SCREENING_SECRET_KEY": SECRET_KEY,
        "SCREENING_INSTANCE_DIR": str(instance),
        "SCREENING_CONFIG_DIR": str(ROOT / "config"),
        "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
        "SCREENING_SMS_BACKEND": "console",
        "SCREENING_RATELIMIT_STORAGE_URL": "memory://",
    }


# --- seeding -------------------------------------------------------------------------------


def seed(env: dict[str, str], tasks: int, to_call: int, worst: bool = False) -> dict[str, Any]:
    """Bulk rows shaped as the real code writes them; returns ids the requests need."""
    from sqlalchemy import insert, select, update

    from screening import create_app
    from screening.appointments.clinics import sync_clinics
    from screening.core import constants as c
    from screening.core.extensions import db
    from screening.models import (
        Answer,
        Appointment,
        ContactAttempt,
        Episode,
        Flag,
        Patient,
        Referral,
        Response,
        StaffUser,
        TriageTask,
    )
    from screening.questionnaire.frozen import freeze
    from screening.staff.accounts import create_user

    rng = random.Random(7)
    app = create_app(env)
    now = datetime.now(UTC)
    with app.app_context():
        session = db.session()
        config = app.extensions["screening"].config
        sync_clinics(session, config)
        freeze(
            session,
            app.extensions["screening"].questionnaires.questionnaires["barts-social-welfare"],
        )
        create_user(session, EMAIL, PASSWORD, c.ROLE_PRESCRIBER)
        session.commit()
        prescriber = session.scalar(select(StaffUser.id).where(StaffUser.email == EMAIL))
        numbers = nhs_numbers()
        total = tasks + to_call
        for start in range(0, total, BATCH):
            size = min(BATCH, total - start)
            serials = range(start + 1, start + size + 1)
            patients = [
                {
                    "id": s,
                    "nhs_number": next(numbers),
                    "given_name": "Alex",
                    "family_name": f"Bench{s}",
                    "date_of_birth": date(1950 + s % 40, 1 + s % 12, 1 + s % 28),
                    "mobile": f"+447400{s % 1_000_000:06d}",
                    "created_at": now,
                    "updated_at": now,
                }
                for s in serials
            ]
            session.execute(insert(Patient), patients)
            appointments, episodes, responses, answers, flags = [], [], [], [], []
            task_rows, attempts, referrals = [], [], []
            for s in serials:
                is_task = s <= tasks
                # Appointments over the past year for tasks; the next two days for the rest.
                at = (
                    now - timedelta(days=rng.randint(0, 365), hours=rng.randint(0, 8))
                    if is_task
                    else now + timedelta(hours=rng.randint(1, 47))
                )
                appointments.append(
                    {
                        "id": s,
                        "external_id": f"B{s}",
                        "patient_id": s,
                        "clinic_code": "CARD-NUH",
                        "appointment_at": at,
                        "status": "booked",
                        "created_at": now,
                        "updated_at": now,
                        "episode_id": None,
                    }
                )
                created = at - timedelta(days=3)
                episode = {
                    "id": s,
                    "public_id": f"bench{s:025d}",
                    "patient_id": s,
                    "appointment_id": s,
                    "clinic_code": "CARD-NUH",
                    "questionnaire_id": "barts-social-welfare",
                    "questionnaire_version": 1,
                    "status": c.EPISODE_COMPLETED if is_task else c.EPISODE_INVITED,
                    "mode": c.MODE_SMS,
                    "created_at": created,
                    "invited_at": created,
                    "delivered_at": created,
                    "opened_at": created if is_task else None,
                    "completed_at": created if is_task else None,
                    "dob_failures": 0,
                }
                episodes.append(episode)
                if not is_task:
                    continue
                responses.append(
                    {
                        "id": s,
                        "episode_id": s,
                        "questionnaire_id": "barts-social-welfare",
                        "questionnaire_version": 1,
                        "mode": c.MODE_SMS,
                        "language": "en",
                        "submitted_at": created,
                    }
                )
                raised = [d for d in DOMAINS if rng.random() < 0.3] or ["financial"]
                for item, domain in zip(BARTS[:6], DOMAINS, strict=True):
                    flagged = domain in raised
                    value = (
                        ("no" if item in ("stable_housing", "support_network") else "yes")
                        if flagged
                        else ("yes" if item in ("stable_housing", "support_network") else "no")
                    )
                    answers.append(
                        {"episode_id": s, "item_id": item, "value": value, "answered_at": created}
                    )
                    if flagged:
                        flags.append(
                            {
                                "response_id": s,
                                "item_id": item,
                                "domain": domain,
                                "priority": "urgent" if domain == "safety" else "routine",
                                "always_triage": domain == "safety",
                            }
                        )
                answers.append(
                    {
                        "episode_id": s,
                        "item_id": "wants_help",
                        "value": "yes",
                        "answered_at": created,
                    }
                )
                active = s % 10 == 0  # a tenth still open or assigned
                status = (
                    (c.TASK_ASSIGNED if s % 20 == 0 else c.TASK_OPEN) if active else c.TASK_CLOSED
                )
                task_rows.append(
                    {
                        "id": s,
                        "episode_id": s,
                        "response_id": s,
                        "status": status,
                        "priority": "urgent" if "safety" in raised else "routine",
                        "clinic_code": "CARD-NUH",
                        "domains": f" {' '.join(raised)} ",
                        "assigned_to_user_id": prescriber if status != c.TASK_OPEN else None,
                        "created_at": created,
                        "updated_at": created,
                        "version": 1,
                        "closed_at": None if active else created + timedelta(days=4),
                        "outcome": None if active else "support_arranged",
                    }
                )
                for n in range(s % 3):
                    attempts.append(
                        {
                            "task_id": s,
                            "episode_id": s,
                            "attempted_at": created + timedelta(days=n + 1),
                            "by_user_id": prescriber,
                            "method": "phone",
                            "outcome": "reached" if n else "no_answer",
                        }
                    )
                if s % 4 == 0:
                    # Referred in the last 6 weeks: a quarter still waiting for the
                    # service's answer (the older ones overdue). Earlier ones were
                    # answered, accepted, completed or declined. `--overdue-worst` leaves
                    # a quarter of the whole year's waiting, every one of them overdue.
                    statuses = ("made", "accepted", "completed", "declined")
                    recent = created > now - timedelta(weeks=6)
                    status = statuses[s // 4 % 4 if recent or worst else 1 + s // 4 % 3]
                    referrals.append(
                        {
                            "task_id": s,
                            "service_id": "citizens-advice",
                            "service_name": "Citizens Advice",
                            "to_pcn": False,
                            "status": status,
                            "outcome": "helped" if status == "completed" else None,
                            "reason": "no_capacity" if status == "declined" else None,
                            "referred_at": created + timedelta(days=2),
                            "by_user_id": prescriber,
                        }
                    )
            session.execute(insert(Appointment), appointments)
            session.execute(insert(Episode), episodes)
            # Each appointment owns the episode it created, as the import records it.
            session.execute(
                update(Appointment)
                .where(Appointment.id.between(start + 1, start + size))
                .values(episode_id=Appointment.id)
            )
            for model, rows in (
                (Response, responses),
                (Answer, answers),
                (Flag, flags),
                (TriageTask, task_rows),
                (ContactAttempt, attempts),
                (Referral, referrals),
            ):
                if rows:
                    session.execute(insert(model), rows)
            session.commit()
        if session.get_bind().dialect.name == "postgresql":
            # What autovacuum does for a live table: statistics, and the visibility map
            # that lets the queue's counts read the index alone.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as raw:
                raw.exec_driver_sql("VACUUM ANALYZE")
        first_active = session.scalar(
            select(TriageTask.id).where(TriageTask.status == c.TASK_OPEN).order_by(TriageTask.id)
        )
    return {"task_id": first_active}


# --- statements and plans, in-process --------------------------------------------------------


PAGES = {
    "home": "/",
    "queue": "/triage",
    "queue filtered": "/triage?priority=routine&domain=food&assigned=unassigned",
    "to-call": "/triage/to-call",
    "to-call page 3": "/triage/to-call?page=3",
    "referrals overdue": "/triage?referrals=overdue",
    "task": "/triage/{task_id}",
}


def count_statements(env: dict[str, str], ids: dict[str, Any]) -> dict[str, Any]:
    """Statements per page at two page sizes (25 and 100): equal counts mean no N+1."""
    from sqlalchemy import event

    from screening import create_app
    from screening.core.extensions import db
    from screening.triage import calls, queue

    app = create_app(env)
    statements: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        statements.append((statement, parameters))

    client = app.test_client()  # each request in its own app context and session
    login(client)
    event.listen(db.engine, "before_cursor_execute", record)
    counts: dict[str, list[int]] = {}
    captured: dict[str, list[tuple[str, Any]]] = {}
    for size in (25, 100):
        queue.PAGE_SIZE = calls.PAGE_SIZE = size
        for name, path in PAGES.items():
            statements.clear()
            reply = client.get(path.format(**ids))
            assert reply.status_code == 200, (name, reply.status_code)
            counts.setdefault(name, []).append(len(statements))
            captured.setdefault(name, list(statements))
    event.remove(db.engine, "before_cursor_execute", record)
    plans = {name: explain(db.engine, captured[name]) for name in ("home", "queue", "to-call")}
    return {"counts": counts, "plans": plans}


def explain(engine: Any, statements: list[tuple[str, Any]]) -> list[str]:
    lines = []
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            first = " ".join(statement.split())[:90]
            lines.append(f"  {first}...")
            for row in rows:
                lines.append("      " + (str(row[-1]) if sqlite else str(row[0])))
    return lines


def csrf_token(page: str) -> str:
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page)
    value = re.search(r'value="([^"]+)"', tag[0]) if tag else None
    assert value is not None, "no CSRF token on the sign-in page"
    return value[1]


def login(client: Any) -> None:
    page = client.get("/login").get_data(as_text=True)
    reply = client.post(
        "/login", data={"csrf_token": csrf_token(page), "email": EMAIL, "password": PASSWORD}
    )
    assert reply.status_code == 302, reply.status_code


# --- latency through gunicorn ------------------------------------------------------------------


def serve(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (workdir / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(ROOT),
            "--log-level",
            "warning",
            "screening:create_app()",
        ],
        env={**os.environ, **env},
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process, port
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not start: {(workdir / 'gunicorn.log').read_text()[-2000:]}")


def latencies(port: int, ids: dict[str, Any], count: int) -> dict[str, dict[str, float]]:
    base = f"http://127.0.0.1:{port}"
    browser = requests.Session()
    page = browser.get(f"{base}/login").text
    signed = browser.post(
        f"{base}/login",
        data={"csrf_token": csrf_token(page), "email": EMAIL, "password": PASSWORD},
        allow_redirects=False,
    )
    assert signed.status_code == 302, signed.status_code
    results = {}
    for name, path in PAGES.items():
        url = base + path.format(**ids)
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            reply = browser.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 200, (name, reply.status_code)
        timings.sort()
        results[name] = {
            "p50": statistics.median(timings),
            "p95": timings[int(0.95 * (len(timings) - 1))],
        }
    return results


# --- one database --------------------------------------------------------------------------


def run(kind: str, args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-triage-{kind}-"))
    if kind == "sqlite":
        url: str | None = f"sqlite:///{workdir / 'triage.db'}"
    else:
        url = create_postgres("bench_triage")
        if url is None:
            return
    env = environment(url, workdir / "instance")
    try:
        subprocess.run(
            [str(BIN / "screening"), "init-db"],
            env={**os.environ, **env},
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        started = time.perf_counter()
        ids = seed(env, args.tasks, args.to_call, args.overdue_worst)
        print(
            f"\n=== {kind}: {args.tasks:,} tasks ({args.tasks // 10:,} active), "
            f"{args.to_call:,} to call; seeded in {time.perf_counter() - started:.0f} s ==="
        )
        statements = count_statements(env, ids)
        process, port = serve(env, workdir)
        try:
            timings = latencies(port, ids, args.requests)
        finally:
            process.terminate()
            process.wait(timeout=20)
        print(f"{'page':<16} {'p50 ms':>8} {'p95 ms':>8}  statements (25 / 100 a page)  target")
        for name, timing in timings.items():
            at_25, at_100 = statements["counts"][name]
            fixed = at_25 == at_100
            ok = timing["p95"] < TARGET_P95_MS and fixed
            print(
                f"{name:<16} {timing['p50']:>8.1f} {timing['p95']:>8.1f}  {at_25:>3} / {at_100:<3}"
                f"{'(fixed)' if fixed else '(GROWS)':>18}  {'met' if ok else 'MISSED'}"
            )
        for name, plan in statements["plans"].items():
            print(f"\nquery plans, {name} page:")
            print("\n".join(plan))
    finally:
        if kind == "postgresql" and url is not None:
            drop_postgres(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--to-call", type=int, default=2_000)
    parser.add_argument(
        "--overdue-worst",
        action="store_true",
        help="leave a quarter of the year's referrals unanswered, all overdue",
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    for kind in ("sqlite", "postgresql") if args.database == "both" else (args.database,):
        run(kind, args)


if __name__ == "__main__":
    main()
