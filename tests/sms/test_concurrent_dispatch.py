"""A concurrent outbox: N provider calls in flight, one cap for every worker, on both databases.

The fake Twilio answers each call after a delay, like the real one, and records when each
request arrived and how many it was answering at once. Rates are checked from those
arrival times: the cap must hold in every one-second window, wherever the window starts.
"""

from __future__ import annotations

import bisect
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening import create_app
from screening.config.loaded import state
from screening.core import constants as c
from screening.core.extensions import db
from screening.invitations.opt_outs import record_opt_out
from screening.models import OutboundMessage
from screening.sms import client_for
from screening.sms.client import Accepted, OutgoingSms, SmsClient
from screening.sms.outbox import Dispatched, drain
from screening.sms.pacing import HEADROOM, Pace
from tests.conftest import ROOT, _empty_tables, app_overrides
from tests.fake_twilio import FakeTwilio

from .conftest import MESSAGING_SERVICE_SID, WORKERS_SECRET_KEY
from .processes import (
    INVITE_TIME,
    NEEDS_POSTGRESQL,
    SCREENING,
    Worker,
    posts,
    seed,
    sent_count,
    stored,
    wait_for,
    worker_environ,
)


def settings_folder(tmp_path: Path, **settings: object) -> Path:
    """The shipped config, with `settings` in its settings.yaml in place of what it says."""
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder, dirs_exist_ok=True)
    path = folder / "settings.yaml"
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
        if line.split(":")[0] not in settings
    ]
    changed = [f"{name}: {value}\n" for name, value in settings.items()]
    path.write_text("".join(changed + kept), encoding="utf-8")
    return folder


@pytest.fixture
def make_app(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator:
    """`make_app(sms_rate_per_second=40)`: a twilio app on the fake, in an app context."""
    contexts = []

    def make(**settings: object) -> Flask:
        app = create_app(
            app_overrides(
                database_url,
                tmp_path / "instance",
                SCREENING_CONFIG_DIR=str(settings_folder(tmp_path, **settings)),
                SCREENING_SECRET_KEY=WORKERS_SECRET_KEY,
                SCREENING_SMS_BACKEND="twilio",
                TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
                TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
                TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID,
                SCREENING_TWILIO_API_BASE=fake_twilio.base_url,
            )
        )
        context = app.app_context()
        context.push()
        contexts.append(context)
        return app

    yield make
    for context in reversed(contexts):
        db.session.remove()
        context.pop()
    _empty_tables()


@pytest.fixture
def pending(make_app, tmp_path: Path) -> Callable[..., Session]:
    """`pending(200, sms_rate_per_second=40)`: the app made, 200 invitations ready to go."""

    def make(count: int, **settings: object) -> Session:
        make_app(**settings)
        session = db.session()
        seed(session, tmp_path, count)
        return session

    return make


def in_background(concurrency: int, stop: threading.Event | None = None):  # type: ignore[no-untyped-def]
    """A run on another thread (in this app context); its outcome lands in the list."""
    outcome: list[Dispatched] = []
    thread = threading.Thread(
        target=in_app_context(lambda: outcome.append(send(db.session(), concurrency, stop)))
    )
    thread.start()
    return thread, outcome


def send(session: Session, concurrency: int, stop: threading.Event | None = None) -> Dispatched:
    config = state().config
    return drain(
        session,
        config,
        client_for(config),
        INVITE_TIME,
        worker="test",
        concurrency=concurrency,
        stop=stop,
    )


def arrivals(fake: FakeTwilio) -> list[float]:
    return sorted(request.received_at for request in posts(fake))


def busiest_second(times: list[float]) -> int:
    """The most arrivals in any one-second window [t, t + 1), whatever t."""
    return max(bisect.bisect_left(times, start + 1.0) - index for index, start in enumerate(times))


def statuses(session: Session) -> Counter[str]:
    session.commit()
    return Counter(status for status, _, _ in stored(session))


def test_concurrent_senders_keep_calls_in_flight_and_send_each_message_once(
    pending, fake_twilio: FakeTwilio
) -> None:
    session = pending(200)
    fake_twilio.delay = 0.03  # a provider that takes its time, as the real one does

    result = send(session, concurrency=8)

    assert (result.sent, result.retried, result.failed, result.stopped) == (200, 0, 0, None)
    received = posts(fake_twilio)
    assert len(received) == 200 and len({r.form["To"] for r in received}) == 200
    rows = stored(session)
    assert {status for status, _, _ in rows} == {c.MESSAGE_SENT}
    assert {sid for _, sid, _ in rows} == set(fake_twilio.messages)
    # Several calls were in flight together, and never more than the run allows.
    assert 1 < fake_twilio.peak_in_flight <= 8


def test_the_cap_holds_in_every_second_however_many_senders(
    pending, fake_twilio: FakeTwilio
) -> None:
    session = pending(120, sms_rate_per_second=40)
    fake_twilio.delay = 0.01  # eight senders could otherwise make hundreds of calls a second

    result = send(session, concurrency=8)

    assert result.sent == 120
    times = arrivals(fake_twilio)
    assert len(times) == 120
    assert busiest_second(times) <= 40


def test_two_worker_processes_share_one_cap(
    database_url: str, seeding_session: Session, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip(NEEDS_POSTGRESQL)
    # Enough that the second process, however late it starts, finds work left.
    seed(seeding_session, tmp_path, 300)
    folder = settings_folder(tmp_path, sms_rate_per_second=50)
    with FakeTwilio(delay=0.01) as fake:
        environ = worker_environ(fake, database_url, tmp_path)
        environ["SCREENING_CONFIG_DIR"] = str(folder)
        workers = [
            Worker(environ, INVITE_TIME, tmp_path / f"worker-{n}", "--concurrency", "4")
            for n in (1, 2)
        ]
        summaries = [worker.finish() for worker in workers]
        times = arrivals(fake)
        received = posts(fake)

    assert len(times) == 300 and len({r.form["To"] for r in received}) == 300
    by_worker = [sent_count(summary) for summary in summaries]
    assert sum(by_worker) == 300 and min(by_worker) > 0, by_worker
    # Either worker alone could send far faster; together they keep within the one cap.
    assert busiest_second(times) <= 50
    assert statuses(seeding_session) == Counter({c.MESSAGE_SENT: 300})


@pytest.mark.parametrize("cap", [50, None], ids=["capped", "uncapped"])
def test_a_rate_limited_answer_holds_every_sender_back(
    pending, fake_twilio: FakeTwilio, cap: int | None
) -> None:
    session = pending(40, **({"sms_rate_per_second": cap} if cap else {}))
    fake_twilio.respond_next(status=429, code=20429, message="Too Many Requests")

    result = send(session, concurrency=4)

    assert (result.sent, result.retried) == (39, 1)
    refused_at = min(arrivals(fake_twilio))
    # Only calls whose slots were taken before the refusal came back may follow at once
    # (one per other sender); then nobody sends for the pause.
    soon_after = [t for t in arrivals(fake_twilio) if refused_at < t < refused_at + 0.9]
    assert len(soon_after) <= 3, soon_after
    retried = session.scalars(
        select(OutboundMessage).where(OutboundMessage.status == c.MESSAGE_PENDING)
    ).one()
    assert retried.error_code == 20429 and retried.next_attempt_at > INVITE_TIME


def test_a_stopped_run_finishes_what_is_in_flight_and_gives_back_the_rest(
    pending, fake_twilio: FakeTwilio
) -> None:
    session = pending(200)
    fake_twilio.delay = 0.05
    stop = threading.Event()
    run, outcome = in_background(4, stop)
    wait_for(lambda: len(posts(fake_twilio)) >= 20)
    stop.set()
    run.join(timeout=30)

    (result,) = outcome
    counts = statuses(session)
    # Every call that left was answered and recorded; nothing is left claimed.
    assert counts[c.MESSAGE_SENT] == result.sent == len(posts(fake_twilio))
    assert counts[c.MESSAGE_CLAIMED] == 0
    assert counts[c.MESSAGE_PENDING] == 200 - result.sent > 0


def in_app_context(work: Callable[[], object]) -> Callable[[], None]:
    """`work` to run on another thread, inside this thread's app context."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            work()
            db.session.remove()

    return run


def test_a_configuration_refusal_stops_every_sender_and_gives_back_their_claims(
    pending, fake_twilio: FakeTwilio
) -> None:
    session = pending(100)
    fake_twilio.delay = 0.02
    fake_twilio.respond_next(status=401, code=20003, message="Authenticate")

    result = send(session, concurrency=4)

    assert result.stopped is not None and result.stopped.startswith("configuration")
    counts = statuses(session)
    assert counts[c.MESSAGE_CLAIMED] == 0
    # Only the calls already going beside the refused one went: each of the three other
    # senders may finish one and, before the stop reaches it, begin one more.
    assert result.sent == counts[c.MESSAGE_SENT] <= 2 * 3
    assert counts[c.MESSAGE_PENDING] == 100 - result.sent


class BreaksOn:
    """The real client, except that one number makes it fail as nothing expects."""

    name = "twilio"

    def __init__(self, client: SmsClient, number: str):
        self.client, self.number = client, number

    def prepare(self) -> None:
        self.client.prepare()

    def send(self, sms: OutgoingSms) -> Accepted:
        if sms.to == self.number:
            raise RuntimeError("an unexpected failure")
        return self.client.send(sms)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_failing_send_gives_back_the_rest_of_its_batch(
    pending, fake_twilio: FakeTwilio, concurrency: int
) -> None:
    session = pending(60)
    third = sorted(mobile for _, _, mobile in stored(session))[2]
    config = state().config
    client = BreaksOn(client_for(config), third)

    with pytest.raises(RuntimeError):
        drain(session, config, client, INVITE_TIME, worker="t", concurrency=concurrency)

    counts = statuses(session)
    # Only the message whose send failed is left claimed (it may have reached the
    # provider: the sweeper decides); everything else was sent or is pending again.
    assert counts[c.MESSAGE_CLAIMED] == 1
    assert counts[c.MESSAGE_SENT] == len(posts(fake_twilio))
    assert counts[c.MESSAGE_SENT] + counts[c.MESSAGE_PENDING] == 59


def test_a_stop_that_comes_while_senders_are_held_back_stops_the_message(
    pending, fake_twilio: FakeTwilio
) -> None:
    session = pending(2)
    first, second = sorted(mobile for _, _, mobile in stored(session))
    fake_twilio.respond_next(status=429, code=20429, message="Too Many Requests")
    run, outcome = in_background(1)
    wait_for(lambda: len(posts(fake_twilio)) == 1)  # refused: the sender holds back 1 s
    record_opt_out(session, second, source=c.OPT_OUT_REPLY, now=INVITE_TIME)
    session.commit()
    run.join(timeout=30)

    (result,) = outcome
    assert [r.form["To"] for r in posts(fake_twilio)] == [first]
    assert (result.retried, result.cancelled, result.sent) == (1, 1, 0)


def test_slots_are_spaced_by_the_database_clock_with_no_burst_after_idling(
    make_app, database_url: str
) -> None:
    make_app()
    pace = Pace(rate_per_second=20)
    engine = db.engine
    assert engine is not None
    with engine.connect() as first, engine.connect() as second:
        # Two connections, as two workers would take turns.
        offset = pace.clock_offset(first)
        assert abs(offset) < 0.05  # one machine: the two clocks agree
        slots = [pace._take_slot(first if n % 2 else second) for n in range(6)]
        gaps = [later - earlier for earlier, later in zip(slots, slots[1:], strict=False)]
        spacing = 1 / (20 * HEADROOM)
        # Never closer than the spacing (further only if this machine stalled between two).
        assert all(gap >= spacing - 0.001 for gap in gaps), (gaps, spacing)
        assert abs(slots[0] - offset - time.time()) < 0.1  # the first is now
        time.sleep(max(0, slots[-1] - offset - time.time()) + 0.3)  # idle past them all
        # The idle time is no credit: the next slot is now, the one after a spacing later.
        now_slot, next_slot = pace._take_slot(first), pace._take_slot(second)
        assert abs(now_slot - offset - time.time()) < 0.1
        assert next_slot - now_slot >= spacing - 0.001


def test_a_bad_concurrency_is_a_usage_error() -> None:
    result = subprocess.run(
        [SCREENING, "send-due", "--concurrency", "0"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 1 and "--concurrency" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_settings_refuse_a_cap_or_concurrency_out_of_range(tmp_path: Path) -> None:
    from screening.config import ConfigError, load_config

    folder = settings_folder(tmp_path, worker_concurrency=0, sms_rate_per_second="fast")
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"SCREENING_CONFIG_DIR": str(folder), "SCREENING_ENV": "test"})
    text = str(refused.value)
    assert f"{folder / 'settings.yaml'}:1: worker_concurrency" in text
    assert f"{folder / 'settings.yaml'}:2: sms_rate_per_second" in text
