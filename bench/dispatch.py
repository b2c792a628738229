"""Dispatch speed: the outbox against the bare Twilio SDK, on the same fake, in one run.

(a) a bare loop of `twilio.rest.Client.messages.create` calls (the production
    `RedirectingHttpClient`, the production arguments), messages/s;
(b) the real dispatch: N pending invitations drained by `screening.sms.outbox.drain` with
    the twilio backend, on SQLite and on PostgreSQL (a database created and dropped here),
    messages/s, and the ratio (b)/(a) (target >= 0.8, printed, not asserted).

The fake Twilio runs in a child process, so its request handling does not compete with the
client for this process's GIL; both loops talk to it the same way (keep-alive HTTP on
127.0.0.1). Seeding (an imported clinic list, then `create_due_messages`) is not timed.

    .venv/bin/python bench/dispatch.py --messages 2000
"""

from __future__ import annotations

import argparse
import bisect
import csv
import math
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from common import ROOT, create_postgres, drop_postgres, nhs_numbers

ACCOUNT_SID = "AC" + secrets.token_hex(16)
AUTH_TOKEN = secrets.token_hex(16)
MESSAGING_SERVICE_SID = "MG" + secrets.token_hex(16)
PUBLIC_BASE_URL = "http://127.0.0.1:5000"
TARGET_RATIO = 0.8
ONE_AT_A_TIME_MESSAGES = 300
SCREENING = str(Path(sys.executable).with_name("screening"))
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=ZoneInfo("Europe/London"))  # the invitations' moment


# --- the fake, in its own process -------------------------------------------------------------


def serve_fake(connection, account_sid: str, auth_token: str) -> None:  # type: ignore[no-untyped-def]
    from tests.fake_twilio import FakeTwilio

    with FakeTwilio(account_sid, auth_token) as fake:
        connection.send(fake.base_url)
        while True:
            command = connection.recv()
            if command == "stop":
                break
            if command == "posts":
                connection.send(sum(1 for r in fake.requests if r.method == "POST"))
            elif command == "arrivals":  # (time.time() on arrival, To) of every create
                connection.send(
                    [(r.received_at, r.form.get("To")) for r in fake.requests if r.method == "POST"]
                )
            elif command == "reset":
                fake.reset()
                connection.send(None)
            elif isinstance(command, tuple) and command[0] == "latency":
                fake.delay = command[1]
                connection.send(None)


class FakeProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=serve_fake, args=(child, ACCOUNT_SID, AUTH_TOKEN), daemon=True
        )
        self.process.start()
        self.base_url: str = self.connection.recv()

    def ask(self, command: str | tuple[str, float]):  # type: ignore[no-untyped-def]
        self.connection.send(command)
        return self.connection.recv()

    def stop(self) -> None:
        self.connection.send("stop")
        self.process.join(timeout=10)


# --- (a) the bare SDK ---------------------------------------------------------------------------


def bare_loop(base_url: str, count: int) -> float:
    from twilio.rest import Client

    from screening.sms.twilio_client import DEFAULT_TIMEOUT_SECONDS, RedirectingHttpClient

    client = Client(
        ACCOUNT_SID,
        AUTH_TOKEN,
        http_client=RedirectingHttpClient(base_url, timeout=DEFAULT_TIMEOUT_SECONDS),
    )
    body = (
        "Newham University Hospital: before your appointment on Thursday 10 December, please "
        "answer a few short questions so we can offer you support: "
        f"{PUBLIC_BASE_URL}/s/{'x' * 43} Reply STOP to stop these texts."
    )
    start = time.perf_counter()
    for serial in range(count):
        client.messages.create(
            to=f"+447400{serial:06d}",
            body=body,
            status_callback=PUBLIC_BASE_URL + "/webhooks/twilio/status",
            validity_period=36_000,
            messaging_service_sid=MESSAGING_SERVICE_SID,
        )
    return count / (time.perf_counter() - start)


# --- (b) the outbox -----------------------------------------------------------------------------


def clinic_list(path: Path, count: int) -> Path:
    numbers = nhs_numbers()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["appointment_id", "nhs_number", "given_name", "family_name", "date_of_birth"]
            + ["mobile", "clinic_code", "appointment_at"]
        )
        for serial in range(count):
            writer.writerow(
                [
                    f"DISPATCH{serial:07d}",
                    next(numbers),
                    "Alex",
                    "Example",
                    "1960-05-17",
                    f"07400 {serial:06d}",
                    "CARD-NUH" if serial % 3 else "CARD-RLH",
                    f"2026-12-10T{9 + serial % 8:02d}:{15 * (serial % 4):02d}",
                ]
            )
    return path


def seeded_app(url: str, workdir: Path, fake: FakeProcess, count: int):  # type: ignore[no-untyped-def]
    """A migrated database at `url` holding `count` pending invitations, and its app."""
    from screening import create_app
    from screening.appointments.clinics import sync_clinics
    from screening.appointments.importer import import_appointments
    from screening.core.clock import frozen_at
    from screening.core.db import make_engine
    from screening.core.extensions import db
    from screening.invitations.schedule import create_due_messages
    from screening.models.migrate import upgrade_to_head

    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    app = create_app({**environment(url, workdir, fake, ROOT / "config"), "SCREENING_ENV": "test"})
    with app.app_context():
        session = db.session()
        config = app.extensions["screening"].config
        sync_clinics(session, config)
        session.commit()
        path = clinic_list(workdir / f"dispatch-{uuid.uuid4().hex}.csv", count)
        import_appointments(session, config, path, lambda _line: None)
        with frozen_at(NOW):
            created = create_due_messages(session, config, NOW)
        assert created.invitations == count, created
        db.session.remove()
    return app


def environment(url: str, workdir: Path, fake: FakeProcess, config_dir: Path) -> dict[str, str]:
    return {
        "SCREENING_ENV": "test",
        "SCREENING_DATABASE_URL": url,
        "SCREENING_INSTANCE_DIR": str(workdir / "instance"),
        "SCREENING_CONFIG_DIR": str(config_dir),
        "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
        "SCREENING_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SCREENING_SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
        "SCREENING_TWILIO_API_BASE": fake.base_url,
        "SCREENING_LOG_LEVEL": "WARNING",
    }


def outbox_run(url: str, workdir: Path, fake: FakeProcess, count: int) -> float:
    from screening.core.clock import frozen_at
    from screening.core.extensions import db
    from screening.sms import client_for, outbox

    app = seeded_app(url, workdir, fake, count)
    with app.app_context():
        session = db.session()
        config = app.extensions["screening"].config
        fake.ask("reset")
        client = client_for(config)
        with frozen_at(NOW):
            start = time.perf_counter()
            result = outbox.drain(session, config, client, NOW, worker="bench")
            seconds = time.perf_counter() - start
        assert result.sent == count, result.summary()
        assert fake.ask("posts") == count
        db.session.remove()
        assert db.engine is not None
        db.engine.dispose()
    return count / seconds


# --- part 2: two paced workers, one killed ------------------------------------------------


class WorkerProcess:
    """`screening send-due --now NOW --concurrency C` as an OS process (output to files)."""

    def __init__(self, environ: dict[str, str], now: datetime, concurrency: int, log: Path):
        self.err = log
        with log.open("w") as err:
            self.process = subprocess.Popen(
                [
                    SCREENING,
                    "send-due",
                    "--now",
                    now.isoformat(),
                    "--concurrency",
                    str(concurrency),
                ],
                env=environ,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.name = f"{socket.gethostname()}:{self.process.pid}"  # its claimed_by

    def finish(self, timeout: float = 3600) -> None:
        code = self.process.wait(timeout=timeout)
        assert code == 0, self.err.read_text()[-3000:]


def paced_config(workdir: Path, cap: float) -> Path:
    folder = workdir / "paced-config"
    shutil.copytree(ROOT / "config", folder)
    settings = folder / "settings.yaml"
    kept = [
        line
        for line in settings.read_text(encoding="utf-8").splitlines(keepends=True)
        if not line.startswith("sms_rate_per_second:")
    ]
    settings.write_text(f"sms_rate_per_second: {cap}\n" + "".join(kept), encoding="utf-8")
    return folder


def query(url: str, sql: str, **params: str) -> list[tuple]:
    """The rows of one read of the database the workers share, on a connection of its own."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def claims_of(url: str, worker: str) -> set[str]:
    """The mobiles of the messages `worker` still holds claimed (sent or not)."""
    rows = query(
        url,
        "SELECT p.mobile FROM outbound_messages m JOIN episodes e ON e.id = m.episode_id "
        "JOIN patients p ON p.id = e.patient_id "
        "WHERE m.status = 'claimed' AND m.claimed_by = :worker",
        worker=worker,
    )
    return {mobile for (mobile,) in rows}


def statuses(url: str) -> dict[str, int]:
    rows = query(url, "SELECT status, count(*) FROM outbound_messages GROUP BY status")
    return {status: number for status, number in rows}


def busiest_second(times: list[float]) -> tuple[int, int, float]:
    """The most arrivals in one clock second, in any one-second window [t, t + 1), and
    where that window starts (seconds after the first arrival)."""
    by_clock = max(Counter(int(t) for t in times).values())
    sliding, start = max(
        (bisect.bisect_left(times, start + 1.0) - n, start) for n, start in enumerate(times)
    )
    return by_clock, sliding, start - times[0]


def rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def paced_run(workdir: Path, fake: FakeProcess, args: argparse.Namespace) -> None:
    from screening.sms.outbox import STALE_CLAIM

    count, cap = args.messages, args.cap
    concurrency = args.concurrency or max(2, math.ceil(1.5 * cap * (args.latency + 0.01)))
    # The yardstick: one call at a time against the same latency (a small list will do).
    single = min(count, ONE_AT_A_TIME_MESSAGES)
    fake.ask("reset")
    one_at_a_time = outbox_run(f"sqlite:///{workdir / 'one-at-a-time.db'}", workdir, fake, single)
    url = create_postgres("bench_dispatch_paced")
    if url is None:
        print("part 2 needs PostgreSQL: skipped")
        return
    try:
        seeded_app(url, workdir, fake, count)
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SCREENING_", "TWILIO_"))},
            **environment(url, workdir, fake, paced_config(workdir, cap)),
        }
        fake.ask("reset")
        workers = [
            WorkerProcess(environ, NOW, concurrency, workdir / f"worker-{n}.err") for n in (1, 2)
        ]
        killed, survivor = workers
        while fake.ask("posts") < count // 2 and killed.process.poll() is None:
            time.sleep(0.01)
        killed_at = time.time()
        if killed.process.poll() is None:
            os.kill(killed.process.pid, signal.SIGKILL)
            killed.process.wait()
        time.sleep(args.latency + 1.0)  # the calls in flight at the kill reach the fake
        reached = {to for _, to in fake.ask("arrivals")}
        held = claims_of(url, killed.name)
        in_flight = held & reached  # Twilio has them; the database never heard back
        survivor.finish()
        main_phase = sorted(t for t, _ in fake.ask("arrivals"))

        sweep = WorkerProcess(
            environ, NOW + STALE_CLAIM + timedelta(minutes=1), concurrency, workdir / "sweep.err"
        )
        sweep.finish()
        arrivals = fake.ask("arrivals")
        times = sorted(t for t, _ in arrivals)
        sweep_began = times[len(main_phase)] if len(times) > len(main_phase) else times[-1]
        unique = len({to for _, to in arrivals})
        final = statuses(url)
    finally:
        drop_postgres(url)

    by_clock, sliding, where = busiest_second(times)
    overall = rate(main_phase)
    before = rate([t for t in main_phase if t < killed_at])
    after = rate([t for t in main_phase if t > killed_at + args.latency + 0.05])
    print(
        f"paced: {count:,} messages, provider latency {args.latency * 1000:.0f} ms, cap {cap:g} "
        f"msg/s, 2 workers x {concurrency} calls in flight, PostgreSQL"
    )
    print(
        f"msg/s: {overall:,.1f} (two workers {before:,.1f}, then one {after:,.1f} after the "
        f"SIGKILL); the sweep sent the killed worker's {len(held)} stranded claims"
    )
    print(
        f"one call at a time, {single} messages on SQLite: {one_at_a_time:,.1f} msg/s "
        f"(the paced workers sent {overall / one_at_a_time:,.1f} times as many)"
    )
    print(f"ratio to cap: {overall / cap:.3f} (target >= 0.9)")
    print(
        f"peak in any one second: {by_clock} in a clock second, {sliding} in any sliding "
        f"one-second window, from +{where:.2f} s (target <= {cap:g}; the sweep began at "
        f"+{sweep_began - times[0]:.2f} s)"
    )
    duplicates, lost = len(arrivals) - unique, count - unique
    print(
        f"killed worker: {len(in_flight)} calls in flight (accepted, unrecorded); duplicates "
        f"after the sweep: {duplicates} (target <= {len(in_flight)}); lost: {lost} (target 0); "
        f"stored: {final}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument(
        "--latency", type=float, default=0.15, help="seconds the provider takes (part 2)"
    )
    parser.add_argument(
        "--cap", type=float, default=100, help="sms_rate_per_second, msg/s (part 2)"
    )
    parser.add_argument(
        "--concurrency", type=int, help="calls in flight per worker (part 2; default: enough)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only (no part 2)")
    args = parser.parse_args()

    fake = FakeProcess()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as folder:
            workdir = Path(folder)
            unpaced(workdir, fake, args)
            if args.no_postgres:
                print("part 2 needs PostgreSQL: skipped (--no-postgres)")
            else:
                fake.ask("reset")
                fake.ask(("latency", args.latency))
                paced_run(workdir, fake, args)
    finally:
        fake.stop()


def unpaced(workdir: Path, fake: FakeProcess, args: argparse.Namespace) -> None:
    count = args.messages
    bare = bare_loop(fake.base_url, count)
    assert fake.ask("posts") == count
    print(f"part 1: no latency; fake Twilio in a child process at {fake.base_url}")
    print(f"bare SDK loop:       {bare:8,.0f} messages/s  ({count:,} messages.create calls)")
    targets = [("sqlite", f"sqlite:///{workdir / 'dispatch.db'}")]
    if not args.no_postgres:
        url = create_postgres("bench_dispatch")
        if url is not None:
            targets.append(("postgresql", url))
    try:
        for name, url in targets:
            fake.ask("reset")
            speed = outbox_run(url, workdir, fake, count)
            print(
                f"outbox drain {name:<10}: {speed:8,.0f} messages/s  "
                f"ratio outbox/bare {speed / bare:.2f} (target >= {TARGET_RATIO})"
            )
    finally:
        for name, url in targets:
            if name == "postgresql":
                drop_postgres(url)


if __name__ == "__main__":
    main()
