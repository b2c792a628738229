"""Sending: `send-due` once, and `worker` in a loop."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import datetime

import click
from flask import Flask
from sqlalchemy.orm import Session

from ..config import MAX_WORKER_CONCURRENCY, Config
from ..config.loaded import loaded_by
from ..core import clock, logs
from ..core import constants as c
from ..core.clock import frozen_at
from ..invitations.schedule import create_due_messages
from ..mail import outbox
from ..practices import letters
from ..referrals import chaser, notices
from ..sms import client_for
from ..sms.heartbeat import record_run
from ..sms.outbox import drain
from ..triage.alerts import compose_alert
from .base import app_session, cli, fail, require_schema

log = logging.getLogger("screening.worker")


CONCURRENCY = click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_WORKER_CONCURRENCY),
    help="Provider calls kept in flight (default: the worker_concurrency setting).",
)


@cli.command("send-due")
@click.option("--now", "now_text", help="Replace the clock (ISO 8601; naive is Europe/London).")
@CONCURRENCY
def send_due_command(now_text: str | None, concurrency: int | None) -> None:
    """Create the invitations and reminders due now, send the SMS and mail outboxes, and
    remind services of referrals overdue for an answer."""
    now = _parse_now(now_text)
    with app_session() as (app, session):
        require_schema()
        click.echo(send_due(app, session, now, concurrency=concurrency))


def send_due(
    app: Flask,
    session: Session,
    now: datetime,
    *,
    concurrency: int | None = None,
    stop: threading.Event | None = None,
) -> str:
    config = loaded_by(app).config
    with frozen_at(now):
        created = create_due_messages(session, config, now)
        dispatched = drain(
            session,
            config,
            client_for(config),
            now,
            worker=worker_name(),
            concurrency=concurrency or config.settings.worker_concurrency,
            stop=stop,
        )
        chased = chaser.chase(session, config, now)
        mailed = outbox.send_due(session, config, now, mail_composers(config))
    if dispatched.stopped is None:
        # A run the provider refused is no sign of health: /healthz shows it as stale.
        record_run(session)
    summary = (
        f"{now.isoformat()}: created {created.invitations} invitations and "
        f"{created.reminders} reminders; {dispatched.summary()}"
    )
    if chased.reminded:
        summary = f"{summary}; {chased.summary()}"
    return f"{summary}; {mailed.summary()}" if mailed.sent or mailed.failed else summary


def mail_composers(config: Config) -> dict[str, outbox.Composer]:
    """What each kind of mail says; a kind whose mailbox is not set waits."""
    composers: dict[str, outbox.Composer] = {
        c.MAIL_REFERRAL_NOTICE: notices.compose_notice,
        c.MAIL_REFERRAL_REMINDER: notices.compose_reminder,
        c.MAIL_GP_LETTER: letters.compose,
    }
    if config.settings.urgent_alert_email:
        composers[c.MAIL_URGENT_ALERT] = compose_alert
    return composers


@cli.command()
@CONCURRENCY
def worker(concurrency: int | None) -> None:
    """Run send-due in a loop until stopped (SIGTERM or Ctrl-C)."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with app_session() as (app, session):
        require_schema()
        interval = loaded_by(app).config.settings.worker_interval_seconds
        while not stopping.is_set():
            logs.begin()  # each run's lines share an id
            # A long-running process: its summaries are log lines (JSON), not output.
            # Told to stop mid-run, it finishes the calls in flight and gives back the rest.
            summary = send_due(app, session, clock.now(), concurrency=concurrency, stop=stopping)
            log.info("%s", summary)
            stopping.wait(interval)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return clock.now()
    try:
        return clock.as_aware(datetime.fromisoformat(text))
    except ValueError:
        fail(f"--now: '{text}' is not an ISO 8601 date and time, such as 2026-12-03T09:00")
