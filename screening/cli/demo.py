"""`demo`: a seeded embedded database served locally."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import Flask
from sqlalchemy.orm import Session

from ..appointments.importer import import_appointments
from ..config.loaded import State, loaded_by
from ..core import clock
from ..core.logs import JsonLines
from ..sms.console_client import CONSOLE_LOGGER
from . import demo_day as seed
from .base import app_session, cli, fail, prepare_database
from .sending import send_due

DEMO_DATABASE = "demo.db"
DEMO_SMS_LOG = "demo-texts.log"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Seed the demo database and stop.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Seed a demo database with a fortnight's work and serve the app locally (always the
    console SMS backend)."""
    if os.environ.get("SCREENING_ENV") == "production":
        fail("refused: the demo never runs with SCREENING_ENV=production")
    instance = Path(os.environ.get("SCREENING_INSTANCE_DIR", "instance")).resolve()
    base = f"http://{host}:{port}"
    overrides = {
        "SCREENING_ENV": "demo",
        # Demo patients are fictional and must never reach a real phone (SPEC §9).
        "SCREENING_SMS_BACKEND": "console",
        # Its own embedded database, so demo data never mixes with a real one.
        "SCREENING_DATABASE_URL": f"sqlite:///{instance / DEMO_DATABASE}",
        "SCREENING_PUBLIC_BASE_URL": base,
    }
    # Each run starts a fresh fortnight ending today.
    for suffix in ("", "-wal", "-shm"):  # SQLite's journal files go with it
        (instance / f"{DEMO_DATABASE}{suffix}").unlink(missing_ok=True)
    sms_log = _texts_to_file(instance / DEMO_SMS_LOG)
    with app_session(overrides) as (app, session):
        prepare_database(app, session)
        passwords = seed.seed_users(session)
        session.commit()
        loaded = loaded_by(app)
        fortnight = _play_fortnight(app, session, instance, clock.now())
        _print_summary(loaded, passwords, fortnight)
        click.echo(f"Each text message sent is in {sms_log}.")
        click.echo("")
        click.echo("Patient links, as five patients' texts hold them (use a private window):")
        for link in seed.patient_links(session, loaded.config, clock.now()):
            click.echo(f"  {link}")
        click.echo("")
        _print_where_to_start(base)
    if not no_serve:
        app.run(host=host, port=port, debug=False, use_reloader=False)


def _texts_to_file(path: Path) -> Path:
    """The console backend's one JSON line per text goes to a file, not the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(JsonLines())
    texts = logging.getLogger(CONSOLE_LOGGER)
    texts.addHandler(handler)
    texts.propagate = False
    return path


def _play_fortnight(app: Flask, session: Session, instance: Path, now: datetime) -> seed.Fortnight:
    """The list imported a fortnight ago, each day played through, and today's list."""
    loaded = loaded_by(app)
    config, questionnaires = loaded.config, loaded.questionnaires.questionnaires
    today = now.astimezone(clock.LONDON).date()
    clinic_list = instance / "demo-appointments.csv"
    start = seed.fortnight_start(now)
    with clock.frozen_at(start):
        seed.write_clinic_list(clinic_list, today, list(config.clinics), as_of=start.date())
        counts = import_appointments(session, config, clinic_list, report=lambda _line: None)
    click.echo(f"Demo clinic list {clinic_list}, as exported a fortnight ago: {counts.summary()}")
    # The last morning played: today's once it is ten o'clock, else yesterday's.
    played = today if seed.at(today, seed.MORNING) <= now else today - timedelta(days=1)
    fortnight = seed.Fortnight(last_day=played)
    for day in seed.days_of(now):
        morning, afternoon = seed.at(day, seed.MORNING), seed.at(day, seed.AFTERNOON)
        if morning > now:
            break
        send_due(app, session, morning)
        with clock.frozen_at(morning):
            seed.patients_answer(session, questionnaires, morning, fortnight)
        if afternoon <= now and day.weekday() < 5:  # the team works weekdays
            with clock.frozen_at(afternoon):
                seed.staff_work(session, config, questionnaires, afternoon, fortnight)
    # This morning's list: those already seen marked attended, or not attended.
    seed.write_clinic_list(clinic_list, today, list(config.clinics), as_of=today)
    counts = import_appointments(session, config, clinic_list, report=lambda _line: None)
    click.echo(f"Demo clinic list {clinic_list}, as exported today: {counts.summary()}")
    return fortnight


def _print_summary(state: State, passwords: dict[str, str], fortnight: seed.Fortnight) -> None:
    click.echo("Questionnaires loaded:")
    for questionnaire in state.questionnaires.questionnaires.values():
        click.echo(f"  {questionnaire.id} (version {questionnaire.version})")
    click.echo("Clinics:")
    for clinic in state.config.clinics.values():
        click.echo(f"  {clinic.code}: {clinic.name}, {clinic.hospital}")
    click.echo(
        f"A fortnight played through: {fortnight.opened} patients opened their link, "
        f"{fortnight.completed} completed, {fortnight.tasks} triage tasks; the prescribers "
        f"claimed {fortnight.claimed}, made {fortnight.calls} calls, held {fortnight.sessions} "
        f"sessions, made {fortnight.referrals} referrals and closed {fortnight.closed}; "
        f"{fortnight.follow_ups} follow-up questionnaires answered."
    )
    click.echo("")
    click.echo("Demo staff (passwords are new each run):")
    for email, password in passwords.items():
        click.echo(f"  {seed.DEMO_NAMES[email]:<12} {email:<36} {password}")


def _print_where_to_start(base: str) -> None:
    prescriber, clinician = seed.DEMO_USERS["prescriber"], seed.DEMO_USERS["clinician"]
    click.echo(f"Serving {base}/ . Look first at:")
    click.echo(f"  1. {base}/login as {prescriber}: the home page's counts are today's work;")
    click.echo(f"     the urgent tasks nobody holds yet come first ({base}/triage?priority=urgent)")
    click.echo(f"  2. {base}/triage/to-call and {base}/triage/clinic-day: whom to phone and see")
    click.echo(f"  3. {base}/login as {clinician}: the funnel report, {base}/reports/funnel")
    click.echo(
        f"  4. {base}/login as {seed.DEMO_USERS['partner']}: the food bank's referrals to"
        " accept, decline or complete; the prescriber's task shows the answer"
    )
