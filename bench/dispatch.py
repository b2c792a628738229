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
import csv
import multiprocessing
import secrets
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from common import ROOT, create_postgres, drop_postgres, nhs_numbers

ACCOUNT_SID = "AC" + secrets.token_hex(16)
AUTH_TOKEN = secrets.token_hex(16)
MESSAGING_SERVICE_SID = "MG" + secrets.token_hex(16)
PUBLIC_BASE_URL = "http://127.0.0.1:5000"
TARGET_RATIO = 0.8


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
            elif command == "created":
                connection.send(len(fake.messages))
            elif command == "reset":
                fake.reset()
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

    def ask(self, command: str):  # type: ignore[no-untyped-def]
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


def outbox_run(url: str, workdir: Path, fake: FakeProcess, count: int) -> float:
    from screening import create_app
    from screening.appointments import import_appointments
    from screening.clinics import sync_clinics
    from screening.clock import LONDON, frozen_at
    from screening.db import make_engine
    from screening.extensions import db
    from screening.invitations import create_due_messages
    from screening.migrate import upgrade_to_head
    from screening.sms import client_for, outbox

    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    app = create_app(
        {
            "SCREENING_ENV": "test",
            "SCREENING_DATABASE_URL": url,
            "SCREENING_INSTANCE_DIR": str(workdir),
            "SCREENING_CONFIG_DIR": str(ROOT / "config"),
            "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
            "SCREENING_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "SCREENING_SMS_BACKEND": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
            "SCREENING_TWILIO_API_BASE": fake.base_url,
        }
    )
    now = datetime(2026, 12, 3, 9, 0, tzinfo=LONDON)
    with app.app_context():
        session = db.session()
        config = app.extensions["screening"].config
        sync_clinics(session, config)
        session.commit()
        path = clinic_list(workdir / f"dispatch-{uuid.uuid4().hex}.csv", count)
        import_appointments(session, config, path, lambda _line: None)
        with frozen_at(now):
            created = create_due_messages(session, config, now)
        assert created.invitations == count, created
        fake.ask("reset")
        client = client_for(config)
        with frozen_at(now):
            start = time.perf_counter()
            result = outbox.drain(session, config, client, now, worker="bench")
            seconds = time.perf_counter() - start
        assert result.sent == count, result.summary()
        assert fake.ask("posts") == count
        db.session.remove()
        assert db.engine is not None
        db.engine.dispose()
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    count = args.messages

    fake = FakeProcess()
    try:
        bare = bare_loop(fake.base_url, count)
        assert fake.ask("posts") == count
        print(f"fake Twilio in a child process at {fake.base_url}")
        print(f"bare SDK loop:       {bare:8,.0f} messages/s  ({count:,} messages.create calls)")
        with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as folder:
            workdir = Path(folder)
            targets = [("sqlite", f"sqlite:///{workdir / 'dispatch.db'}")]
            if not args.no_postgres:
                url = create_postgres("bench_dispatch")
                if url is not None:
                    targets.append(("postgresql", url))
            try:
                for name, url in targets:
                    fake.ask("reset")
                    rate = outbox_run(url, workdir, fake, count)
                    print(
                        f"outbox drain {name:<10}: {rate:8,.0f} messages/s  "
                        f"ratio outbox/bare {rate / bare:.2f} (target >= {TARGET_RATIO})"
                    )
            finally:
                for name, url in targets:
                    if name == "postgresql":
                        drop_postgres(url)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
