"""`demo`: a seeded embedded database served locally."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask

from ..appointments.importer import import_appointments
from ..config.loaded import loaded_by
from ..core import clock
from ..invitations.quiet_hours import in_quiet_hours
from . import demo_day as seed
from .base import app_session, cli, fail, prepare_database
from .sending import send_due

DEMO_DATABASE = "demo.db"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Seed the demo database and stop.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Seed a demo database and serve the app locally (always the console SMS backend)."""
    if os.environ.get("SCREENING_ENV") == "production":
        fail("refused: the demo never runs with SCREENING_ENV=production")
    instance = Path(os.environ.get("SCREENING_INSTANCE_DIR", "instance")).resolve()
    overrides = {
        "SCREENING_ENV": "demo",
        # Demo patients are fictional and must never reach a real phone (SPEC §9).
        "SCREENING_SMS_BACKEND": "console",
        # Its own embedded database, so demo data never mixes with a real one.
        "SCREENING_DATABASE_URL": f"sqlite:///{instance / DEMO_DATABASE}",
    }
    with app_session(overrides) as (app, session):
        prepare_database(app, session)
        passwords = seed.seed_users(session)
        session.commit()
        config = loaded_by(app).config
        now = clock.now()
        clinic_list = seed.write_clinic_list(
            instance / "demo-appointments.csv",
            now.astimezone(clock.LONDON).date(),
            list(config.clinics),
        )
        counts = import_appointments(session, config, clinic_list, report=lambda _line: None)
        _print_demo_summary(app, passwords)
        click.echo(f"Demo clinic list {clinic_list}: {counts.summary()}")
        moment = seed.send_time(now, in_quiet_hours(now, config.settings.quiet_hours))
        click.echo("Invitations due, sent through the console backend:")
        click.echo(send_due(app, session, moment))
        loaded = loaded_by(app)
        day = seed.simulate_day(
            session, config, loaded.questionnaires.questionnaires, max(moment, now)
        )
        click.echo(
            f"Patients answering at the Newham pilot's rates: {day.opened} opened their link, "
            f"{day.completed} completed, {day.tasks} triage tasks. The demo prescriber has "
            f"claimed {day.claimed}, logged {day.calls} calls and made {day.referrals} referrals."
        )
        base = f"http://{host}:{port}"
        click.echo(f"Serving {base}/ : sign in at {base}/login as {seed.DEMO_USERS['prescriber']}")
        click.echo(
            f"  then the triage queue {base}/triage, patients to phone {base}/triage/to-call "
            f"and today's clinic {base}/triage/clinic-day"
        )
    if not no_serve:
        app.run(host=host, port=port, debug=False, use_reloader=False)


def _print_demo_summary(app: Flask, passwords: dict[str, str]) -> None:
    state = loaded_by(app)
    click.echo("Questionnaires loaded:")
    for questionnaire in state.questionnaires.questionnaires.values():
        click.echo(f"  {questionnaire.id} (version {questionnaire.version})")
    click.echo("Clinics:")
    for clinic in state.config.clinics.values():
        click.echo(f"  {clinic.code}: {clinic.name}, {clinic.hospital}")
    click.echo("Demo staff users (passwords are new each run):")
    for email, password in passwords.items():
        click.echo(f"  {email}  {password}")
