"""The patient's journey under load: gunicorn serving the real app, on SQLite and PostgreSQL.

For each database, in one run:

1. a fresh database (a SQLite file in a temporary folder; a PostgreSQL database created
   and dropped here), its schema built by `screening init-db`, seeded with N invited
   episodes on clinic CARD-NUH (the Barts tool) through the real models, with a fixed
   secret key so each episode's link token can be derived;
2. gunicorn (2 sync workers by default) serving `bench/flow_app.py`: the real
   `create_app()` plus `POST /bench/insert`, one INSERT and a commit, the bare endpoint
   the flow is compared against on the same server;
3. the load, from its own process (`bench/flow_load.py`):
   (a) closed loop, no think time: C simulated patients walk the whole flow (link, start,
       each question GET + POST, check, submit, done), then C clients hammer
       `/bench/insert`; requests/s for both and their ratio (target >= 0.2);
   (b) open loop at an offered 100 requests/s for >= 20 s (one request every 10 ms on a
       fixed schedule, each slot to the patient waiting longest for its next page, else to
       a new patient); p50/p95 per page kind (target p95 < 50 ms);
4. a correctness check in the database: every simulated patient who submitted has exactly
   one Response row, and nobody else has one;
5. if a target is missed (or with --profile always), py-spy samples one worker during
   another closed-loop flow run and the top costs are printed.

Targets are printed beside the figures, never asserted.

    .venv/bin/python bench/patient_flow.py [--database sqlite|postgresql|both] \
        [--seconds N] [--patients N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from common import ROOT, create_postgres, drop_postgres, nhs_numbers
from flow_load import KINDS as PAGE_ORDER  # the load generator's page kinds, in flow order

BIN = Path(sys.executable).parent

# Limits shared across workers, in a Redis database of their own so the keys can be
# cleared without touching anyone else's.
REDIS_URL = os.environ.get("SCREENING_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
SECRET_KEY = "bench-patient-flow-fixed-secret-key-not-for-production-0123456789"
CLINIC = "CARD-NUH"
TARGET_RATIO = 0.2
TARGET_P95_MS = 50.0


# --- the database --------------------------------------------------------------------------


def app_environment(database_url: str, instance: Path) -> dict[str, str]:
    return {
        "SCREENING_ENV": "demo",  # production refuses the console SMS backend
        "SCREENING_DATABASE_URL": database_url,
        "SCREENING_SECRET_KEY": SECRET_KEY,
        "SCREENING_INSTANCE_DIR": str(instance),
        "SCREENING_CONFIG_DIR": str(ROOT / "config"),
        "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
        "SCREENING_SMS_BACKEND": "console",
        "SCREENING_RATELIMIT_STORAGE_URL": REDIS_URL,
        "SCREENING_LOG_LEVEL": "WARNING",
    }


def init_db(env: dict[str, str]) -> None:
    subprocess.run(
        [str(BIN / "screening"), "init-db"],
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def seed(env: dict[str, str], count: int) -> list[dict[str, Any]]:
    """N invited episodes on CARD-NUH, written with bulk inserts of the real models.

    Returns, in order, each episode's id, public id and link token."""
    from sqlalchemy import insert, update

    from screening import create_app
    from screening.core import clock
    from screening.core import constants as c
    from screening.core.extensions import db
    from screening.invitations.placement import new_episode_values
    from screening.invitations.tokens import link_token, token_hash
    from screening.models import Appointment, Episode, Patient

    app = create_app(env)
    config = app.extensions["screening"].config
    clinic = config.clinics[CLINIC]
    rng = random.Random(1)
    now = clock.now()
    numbers = nhs_numbers()
    with app.app_context():
        session = db.session()
        people = []
        for serial in range(count):
            people.append(
                {
                    "nhs_number": next(numbers),
                    "given_name": "Bench",
                    "family_name": f"Patient{serial}",
                    "date_of_birth": date(1935, 1, 1) + timedelta(days=rng.randrange(25_000)),
                    "mobile": f"+447400{serial:06d}",
                }
            )
        patient_ids = session.scalars(
            insert(Patient).returning(Patient.id, sort_by_parameter_order=True), people
        ).all()
        appointment_at = [now + timedelta(days=5, minutes=15 * (i % 40)) for i in range(count)]
        appointment_ids = session.scalars(
            insert(Appointment).returning(Appointment.id, sort_by_parameter_order=True),
            [
                {
                    "external_id": f"BENCH-{serial}",
                    "patient_id": patient_ids[serial],
                    "clinic_code": CLINIC,
                    "appointment_at": appointment_at[serial],
                    "status": c.APPOINTMENT_BOOKED,
                }
                for serial in range(count)
            ],
        ).all()
        episodes = []
        for serial in range(count):
            person = SimpleNamespace(language=None, sex=None, ethnicity=None, imd_decile=None)
            person.date_of_birth = people[serial]["date_of_birth"]
            values = new_episode_values(
                SimpleNamespace(patient=person, appointment_at=appointment_at[serial]), clinic
            )
            public_id = uuid.uuid4().hex
            token = link_token(config.secret_key, public_id)
            values.update(
                public_id=public_id,
                patient_id=patient_ids[serial],
                appointment_id=appointment_ids[serial],
                token_hash=token_hash(token),
                token_expires_at=appointment_at[serial] + timedelta(days=2),
                status=c.EPISODE_INVITED,
                invited_at=now,
            )
            episodes.append((values, token))
        episode_ids = session.scalars(
            insert(Episode).returning(Episode.id, sort_by_parameter_order=True),
            [values for values, _ in episodes],
        ).all()
        session.execute(
            update(Appointment),
            [
                {"id": appointment_id, "episode_id": episode_id}
                for appointment_id, episode_id in zip(appointment_ids, episode_ids, strict=True)
            ],
        )
        session.commit()
        db.session.remove()
        assert db.engine is not None
        db.engine.dispose()
    return [
        {"id": episode_id, "public_id": values["public_id"], "token": token}
        for episode_id, (values, token) in zip(episode_ids, episodes, strict=True)
    ]


def check_responses(database_url: str, seeded: list[dict[str, Any]], submitted: set[int]) -> dict:
    """Every patient who submitted has exactly one response; nobody else has any."""
    from sqlalchemy import func, select

    from screening.core.db import make_engine
    from screening.models import AuditEvent, Response

    engine = make_engine(database_url)
    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                select(Response.episode_id, func.count()).group_by(Response.episode_id)
            ).all()
        )
        inserts = connection.scalar(select(func.count()).select_from(AuditEvent))
    engine.dispose()
    ids = {index: seeded[index]["id"] for index in submitted}
    not_one = [index for index, episode_id in ids.items() if counts.get(episode_id) != 1]
    others = set(counts) - set(ids.values())
    return {
        "submitted": len(submitted),
        "responses": sum(counts.values()),
        "submitted_without_exactly_one": len(not_one),
        "responses_of_patients_who_did_not_submit": len(others),
        "ok": not not_one and not others,
        "audit_rows": inserts,
    }


def clear_redis() -> int:
    """Delete the limiter's keys in the benchmark's own Redis database."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match="LIMITER*"))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


# --- where the machine's CPU went ---------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += process_seconds(int(entry.name))
            except OSError:
                continue
    return total


def machine_seconds() -> float:
    """CPU-seconds the whole machine spent busy (every core, every process) so far."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICK


class CpuMeter:
    """Cores used during a phase by the workers, PostgreSQL, and everything else.

    The machine has two cores and others may be using them: "others" is the machine's
    busy time less the workers, PostgreSQL and the load generator (which reports its own)."""

    def __init__(self, server: Server):
        self.server = server
        self.start = self._read()
        self.began = time.perf_counter()

    def _read(self) -> tuple[float, float, float]:
        workers = sum(
            process_seconds(pid) for pid in (self.server.process.pid, *self.server.worker_pids())
        )
        return machine_seconds(), workers, postgres_seconds()

    def stop(self, client_seconds: float) -> dict[str, float]:
        end = self._read()
        wall = time.perf_counter() - self.began
        machine, workers, postgres = (b - a for a, b in zip(self.start, end, strict=True))
        others = max(0.0, machine - workers - postgres - client_seconds)
        return {
            "workers": workers / wall,
            "postgres": postgres / wall,
            "client": client_seconds / wall,
            "others": others / wall,
        }


def wait_for_quiet(limit: float, busy_below: float = 0.25) -> float:
    """Wait (at most `limit` s) until other processes use less than `busy_below` of a core."""
    deadline = time.monotonic() + limit
    while True:
        before = machine_seconds()
        time.sleep(1)
        busy = machine_seconds() - before
        if busy < busy_below or time.monotonic() >= deadline:
            return busy


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, env: dict[str, str], workdir: Path, worker_class: str, threads: int):
        self.port = free_port()
        self.log = workdir / "gunicorn.log"
        command = [
            str(BIN / "gunicorn"),
            "--workers", "2",
            "--worker-class", worker_class,
            "--bind", f"127.0.0.1:{self.port}",
            "--pythonpath", f"{ROOT},{ROOT / 'bench'}",
            "--chdir", str(ROOT),
            "--backlog", "2048",
            "--log-level", "warning",
            "--timeout", "60",
        ]  # fmt: skip
        if worker_class == "gthread":
            command += ["--threads", str(threads)]
        command.append("flow_app:app")
        self.handle = self.log.open("wb")
        self.process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=ROOT, stdout=self.handle, stderr=self.handle
        )
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    healthy = reply.status == 200
            except OSError:
                healthy = False
            # Both workers must be up before the clock starts.
            if healthy and len(self.worker_pids()) == 2:
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not healthy after {timeout} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def log_tail(self, lines: int = 30) -> str:
        if not self.handle.closed:
            self.handle.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()


def load(mode: str, port: int, **options: Any) -> dict[str, Any]:
    command = [sys.executable, str(ROOT / "bench" / "flow_load.py"), mode, "--port", str(port)]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({mode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


# --- profiling ---------------------------------------------------------------------------------


def profile(server: Server, args: argparse.Namespace, tokens: Path, offset: int, out: Path) -> dict:
    """py-spy samples one worker while a closed-loop flow runs; top costs by function."""
    spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(spy).exists():
        return {"error": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    pid = server.worker_pids()[0]
    seconds = max(8, int(args.seconds // 2))
    raw = out / "profile.txt"
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250",
         "--format", "raw", "--output", str(raw), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    flow = load(
        "closed-flow", server.port, tokens=tokens, offset=offset, seconds=seconds,
        warmup=0, concurrency=args.concurrency,
    )  # fmt: skip
    _, err = recorder.communicate(timeout=60)
    if recorder.returncode != 0 or not raw.exists():
        return {"error": f"py-spy failed: {err.strip()[-500:]}", "flow": flow}
    return {**summarise_profile(raw), "flow": flow, "pid": pid}


# py-spy's raw format: one stack a line, frames "function (path:line)" joined by ";", then
# the sample count. Paths are relative to sys.path ("sqlalchemy/orm/session.py"); templates
# appear by name ("base.html", "nhsuk/components/radios/template.jinja").
LIBRARIES = {
    "jinja2": "jinja2 (template runtime)",
    "markupsafe": "jinja2 (template runtime)",
    "wtforms": "wtforms",
    "flask_wtf": "flask_wtf (CSRF)",
    "itsdangerous": "itsdangerous (session cookie, CSRF tokens)",
    "psycopg": "psycopg",
    "sqlite3": "sqlite3",
    "sqlalchemy": "sqlalchemy",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "screening": "screening (app code)",
    "babel": "babel / flask_babel",
    "flask_babel": "babel / flask_babel",
    "flask_limiter": "flask_limiter / limits / redis",
    "limits": "flask_limiter / limits / redis",
    "redis": "flask_limiter / limits / redis",
    "flask_login": "flask_login",
    "flask_compress": "flask_compress",
    "flask": "flask",
    "werkzeug": "werkzeug",
    "gunicorn": "gunicorn (socket I/O, graceful close)",
}


LINE_NUMBER = re.compile(r":\d+\)$")


def frame_file(frame: str) -> str:
    return frame.rsplit("(", 1)[-1].rstrip(")")


def frame_area(frame: str) -> str | None:
    path = frame_file(frame)
    if path.endswith((".html", ".jinja")):
        return "templates (compiled template code)"
    return LIBRARIES.get(path.split("/", 1)[0])


def summarise_profile(raw: Path) -> dict[str, Any]:
    total = 0
    own: dict[str, int] = defaultdict(int)
    inclusive: dict[str, int] = defaultdict(int)
    areas: dict[str, int] = defaultdict(int)
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [LINE_NUMBER.sub(")", frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        # The innermost library on the stack (stdlib frames count for their caller).
        area = next((found for frame in reversed(frames) if (found := frame_area(frame))), "stdlib")
        areas[area] += count
    if not total:
        return {"error": "py-spy took no samples"}

    def top(table: dict[str, int], n: int, keep=lambda frame: True) -> list[tuple[float, str]]:
        rows = [(100 * c / total, f) for f, c in table.items() if keep(f)]
        return sorted(rows, reverse=True)[:n]

    def app_frame(frame: str) -> bool:
        area = frame_area(frame)
        return area is not None and area.startswith(("screening", "templates"))

    stages = {
        name: 100 * inclusive.get(frame, 0) / total
        for name, frame in _stage_frames(inclusive).items()
    }
    return {
        "samples": total,
        "areas": top(areas, 20),
        "self": top(own, 12),
        "app_inclusive": top(inclusive, 16, app_frame),
        "stages": stages,
    }


# Inclusive shares of the steps every page goes through, by function name.
STAGES = {
    "render_template (all page rendering)": "render_template (flask/templating.py",
    "Session.commit": "Session.commit (sqlalchemy/orm/session.py",
    "Session.execute": "Session.execute (sqlalchemy/orm/session.py",
    "Session.scalar": "Session.scalar (sqlalchemy/orm/session.py",
    "session cookie: open_session": "SecureCookieSessionInterface.open_session (",
    "session cookie: save_session": "SecureCookieSessionInterface.save_session (",
    "CSRF check (CSRFProtect.protect)": "CSRFProtect.protect (",
    "CSRF token generate_csrf": "generate_csrf (",
    "questionnaire evaluate": "evaluate (screening/questionnaire/engine.py",
    "patient load_visit (before_request)": "load_visit (screening/views/patient.py",
    "security headers (after_request)": "_add_security_headers (",
    "flask_limiter checks": "Limiter._check_request_limit (",
}


def _stage_frames(inclusive: dict[str, int]) -> dict[str, str]:
    found = {}
    for name, prefix in STAGES.items():
        matches = [f for f in inclusive if f.startswith(prefix)]
        if matches:
            found[name] = max(matches, key=lambda f: inclusive[f])
    return found


# --- one database ------------------------------------------------------------------------------


def run_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-flow-{kind}-"))
    postgres_url = None
    server = None
    result: dict[str, Any] = {"database": kind}
    try:
        if kind == "sqlite":
            url = f"sqlite:///{workdir / 'screening.db'}"
        else:
            postgres_url = url = create_postgres("bench_flow")
            if url is None:
                raise SystemExit("the PostgreSQL run needs a server (see above)")
        env = app_environment(url, workdir / "instance")
        began = time.perf_counter()
        init_db(env)
        seeded = seed(env, args.patients)
        tokens = workdir / "tokens.txt"
        tokens.write_text("\n".join(row["token"] for row in seeded) + "\n")
        result["setup_seconds"] = time.perf_counter() - began
        clear_redis()
        server = Server(env, workdir, args.worker_class, args.threads)

        def phase(mode: str, **options: Any) -> dict[str, Any]:
            busy = wait_for_quiet(args.quiet_wait)
            meter = CpuMeter(server)
            outcome = load(mode, server.port, **options)
            outcome["cpu"] = meter.stop(outcome["client_cpu_seconds"])
            outcome["busy_before"] = busy
            return outcome

        flow = phase(
            "closed-flow", tokens=tokens, offset=0, seconds=args.seconds, warmup=2,
            concurrency=args.concurrency,
        )  # fmt: skip
        insert = phase(
            "closed-insert", seconds=args.seconds, warmup=1, concurrency=args.concurrency
        )
        open_loop = phase(
            "open-flow", tokens=tokens, offset=flow["tokens_used_to"],
            seconds=args.open_seconds, rate=args.rate,
        )  # fmt: skip
        result.update(flow=flow, insert=insert, open=open_loop)
        result["ratio"] = flow["rps"] / insert["rps"] if insert["rps"] else 0.0
        worst_p95 = worst_open_p95(open_loop)
        missed = result["ratio"] < TARGET_RATIO or worst_p95 >= TARGET_P95_MS
        if args.profile == "always" or (args.profile == "auto" and missed):
            result["profile"] = profile(server, args, tokens, open_loop["tokens_used_to"], workdir)
        server.stop()
        result["server_log"] = server.log_tail(15)
        server = None
        submitted = set(flow["submitted_indices"]) | set(open_loop["submitted_indices"])
        # A profile that could not run (no py-spy) made no flow, and so no submissions.
        profiled = result.get("profile", {}).get("flow", {})
        submitted |= set(profiled.get("submitted_indices", ()))
        result["check"] = check_responses(url, seeded, submitted)
    finally:
        if server is not None:
            result["server_log"] = server.log_tail(15)
            server.stop()
        clear_redis()
        if postgres_url is not None:
            drop_postgres(postgres_url)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# --- the report ---------------------------------------------------------------------------------


def worst_open_p95(open_loop: dict[str, Any]) -> float:
    """The slowest page's p95 in the open loop; infinite when it measured no page (every
    seeded link used up by the closed loop: seed more with --patients), a miss, not a crash."""
    return max((p["p95_ms"] for p in open_loop["pages"].values()), default=float("inf"))


def mark(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def cpu_line(phase: dict[str, Any]) -> str:
    cpu = phase["cpu"]
    per_request = 1000 * cpu["workers"] / phase["rps"] if phase.get("rps") else 0.0
    line = f"cores used: workers {cpu['workers']:.2f}"
    if cpu["postgres"] >= 0.01:
        line += f", PostgreSQL {cpu['postgres']:.2f}"
    line += f", load generator {cpu['client']:.2f}, other processes {cpu['others']:.2f}"
    if per_request:
        line += f"; worker CPU {per_request:.2f} ms/request"
    return line


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    flow, insert, open_loop = result["flow"], result["insert"], result["open"]
    name = {"sqlite": "SQLite (WAL)", "postgresql": "PostgreSQL"}[result["database"]]
    workers = f"2 {args.worker_class} workers"
    if args.worker_class == "gthread":
        workers += f" x {args.threads} threads"
    print(f"\n=== {name}: gunicorn, {workers}; setup {result['setup_seconds']:.1f} s ===")
    per_patient = flow["requests_per_submitted_patient"]
    print(
        f"closed loop, {flow['concurrency']} concurrent, no think time, "
        f"{flow['seconds']:.0f} s each:"
    )
    print(
        f"  patient flow  {flow['rps']:7.0f} req/s  ({flow['patients_submitted']} patients "
        f"submitted, {per_patient:.1f} requests each, {flow['saw_wants_help']} saw wants_help)"
    )
    print(f"                {cpu_line(flow)}")
    print(f"  bare insert   {insert['rps']:7.0f} req/s")
    print(f"                {cpu_line(insert)}")
    ratio = result["ratio"]
    verdict = mark(ratio >= TARGET_RATIO)
    print(f"  ratio         {ratio:7.2f}        target >= {TARGET_RATIO}: {verdict}")
    if flow["tokens_exhausted"]:
        print("  WARNING: the closed loop ran out of seeded episodes; raise --patients")
    achieved = open_loop["offered"] / open_loop["seconds"]
    print(
        f"open loop, offered {open_loop['rate']:.0f} req/s for {open_loop['seconds']:.0f} s: "
        f"{achieved:.1f} req/s started on schedule (start lag p99 "
        f"{open_loop['start_lag_p99_ms']:.1f} ms), {open_loop['patients_started']} patients, "
        f"{open_loop['patients_submitted']} submitted"
    )
    print(f"                {cpu_line(open_loop)}")
    if not open_loop["pages"]:
        print("  no page measured: the closed loop used every seeded link (raise --patients)")
    heading = f"  {'page':<14}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
    print(f"{heading}   target p95 < {TARGET_P95_MS:.0f} ms")
    for page in (*PAGE_ORDER, "other"):
        row = open_loop["pages"].get(page)
        if row is not None:
            print(
                f"  {page:<14}{row['n']:>6}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
                f"{row['max_ms']:>9.1f}   {mark(row['p95_ms'] < TARGET_P95_MS)}"
            )
    phases = (flow, insert, open_loop)
    errors = sum(p["errors"] for p in phases)
    print(f"errors (non-2xx/3xx, failed connections): {errors}   target 0: {mark(errors == 0)}")
    for sample in [s for p in phases for s in p["error_samples"]][:8]:
        print(f"  e.g. {sample}")
    failed = flow["patients_failed"] + open_loop["patients_failed"]
    if failed:
        print(f"  patients who could not go on: {failed}")
    busy = max(p["busy_before"] for p in phases)
    if busy >= 0.25:
        print(f"  note: other processes kept up to {busy:.2f} cores busy just before a phase")
    check = result["check"]
    print(
        f"correctness: {check['submitted']} patients submitted, {check['responses']} Response "
        f"rows; submitted without exactly one: {check['submitted_without_exactly_one']}; rows of "
        f"patients who did not submit: {check['responses_of_patients_who_did_not_submit']} -> "
        f"{'OK' if check['ok'] else 'FAILED'}"
    )
    if "profile" in result:
        print_profile(result["profile"])


def print_profile(data: dict[str, Any]) -> None:
    if "error" in data:
        print(f"profile: {data['error']}")
        return
    print(f"profile of one worker (py-spy, {data['samples']} samples, closed-loop flow):")
    print("  where the time goes (innermost library on the stack):")
    for share, area in data["areas"][:10]:
        print(f"    {share:5.1f}%  {area}")
    print("  steps, inclusive (a step inside another counts in both):")
    for name, share in sorted(data["stages"].items(), key=lambda kv: -kv[1]):
        print(f"    {share:5.1f}%  {name}")
    print("  app code, inclusive:")
    for share, frame in data["app_inclusive"][:12]:
        print(f"    {share:5.1f}%  {frame}")
    print("  self time, top functions:")
    for share, frame in data["self"][:10]:
        print(f"    {share:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20, help="each closed-loop phase")
    parser.add_argument(
        "--open-seconds", type=float, help="the open loop (default max(20, --seconds))"
    )
    parser.add_argument("--patients", type=int, default=5000, help="invited episodes to seed")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100, help="open loop, requests/s offered")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=4, help="per worker, with gthread")
    parser.add_argument("--profile", choices=["auto", "always", "never"], default="auto")
    parser.add_argument(
        "--quiet-wait", type=float, default=15,
        help="before each phase, wait up to this long for other processes to go quiet",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.open_seconds is None:
        args.open_seconds = max(20.0, args.seconds)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    started = time.perf_counter()
    results = []
    for kind in databases:
        result = run_database(kind, args)
        results.append(result)
        report(result, args)
    if len(results) > 1:
        print("\n=== summary ===")
        print(
            f"  {'database':<12}{'flow rps':>10}{'insert rps':>12}{'ratio':>8}"
            f"{'worst p95 ms':>14}{'errors':>8}  check"
        )
        for result in results:
            worst = worst_open_p95(result["open"])
            errors = sum(result[k]["errors"] for k in ("flow", "insert", "open"))
            check = "OK" if result["check"]["ok"] else "FAILED"
            print(
                f"  {result['database']:<12}{result['flow']['rps']:>10.0f}"
                f"{result['insert']['rps']:>12.0f}{result['ratio']:>8.2f}{worst:>14.1f}"
                f"{errors:>8}  {check}"
            )
        print(f"  targets: ratio >= {TARGET_RATIO}, p95 < {TARGET_P95_MS:.0f} ms, errors 0")
    print(f"\n(run took {time.perf_counter() - started:.0f} s)")
    if args.json:
        for result in results:
            for part in ("flow", "open"):
                result[part].pop("submitted_indices", None)
                result[part].pop("started_indices", None)
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
