"""The `screening` command (SPEC §5). Thin: each command calls a service and reports.

Errors go to stderr; a usage error, an unreadable file or a refused operation exits 1.
Bad input never produces a traceback: configuration and file problems are printed as
`FILE:LINE: message`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import NoReturn

import click
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import clock, create_app, logs
from .clinics import sync_clinics
from .clock import frozen_at
from .config import MAX_WORKER_CONCURRENCY, Config, ConfigError, clinic_problems, load_config
from .constants import ROLES, TASK_STATUSES
from .db import make_engine
from .extensions import db
from .heartbeat import record_run
from .migrate import current_revision, head_revision, upgrade_to_head
from .questionnaire import frozen
from .questionnaire.loader import example_problems, load_paths
from .yamlsource import Problem

DEMO_DATABASE = "demo.db"
log = logging.getLogger("screening.worker")


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def build_app(overrides: dict[str, str] | None = None) -> Flask:
    try:
        return create_app(overrides)
    except ConfigError as exc:
        click.echo("The configuration has problems:", err=True)
        for message in exc.messages:
            click.echo(message, err=True)
        sys.exit(1)


@contextmanager
def app_session(overrides: dict[str, str] | None = None) -> Iterator[tuple[Flask, Session]]:
    app = build_app(overrides)
    with app.app_context():
        try:
            yield app, db.session()
        except SQLAlchemyError as exc:
            db.session.rollback()
            fail(f"database error: {_short(exc)}")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Social-needs screening before outpatient clinics."""
    logs.begin()


def main() -> None:
    # Service messages (the console SMS backend among them) go to stderr.
    logs.configure(logs.level_named(os.environ.get("SCREENING_LOG_LEVEL")))
    try:
        cli.main(prog_name="screening", standalone_mode=False)
    except click.UsageError as exc:  # SPEC §5: a usage error exits 1, like a refusal
        exc.show()
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)


# --- init-db ---------------------------------------------------------------------------


@cli.command("init-db")
def init_db() -> None:
    """Create or migrate the database to the latest schema."""
    with app_session() as (app, session):
        prepare_database(app, session)
        assert db.engine is not None
        url = db.engine.url.render_as_string(hide_password=True)
        click.echo(f"database at revision {current_revision(db.engine)}: {url}")


def prepare_database(app: Flask, session: Session) -> None:
    """Migrate to head and copy the configured clinics in."""
    assert db.engine is not None
    if db.engine.url.get_backend_name() == "sqlite" and db.engine.url.database:
        Path(db.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(db.engine)
    sync_clinics(session, app.extensions["screening"].config)
    session.commit()


def require_schema() -> None:
    """Commands that read or write data need `init-db` first; say so plainly."""
    assert db.engine is not None
    if current_revision(db.engine) != head_revision(db.engine):
        fail("the database is not initialised or not up to date: run `screening init-db` first")


# --- import-appointments ---------------------------------------------------------------


@cli.command("import-appointments")
@click.argument("file", type=click.Path(path_type=Path))
def import_appointments_command(file: Path) -> None:
    """Import an appointment list CSV (exit 2 when some rows were rejected)."""
    from .appointments import ImportRefused, import_appointments

    with app_session() as (app, session):
        require_schema()
        config = app.extensions["screening"].config
        sync_clinics(session, config)
        try:
            counts = import_appointments(
                session, config, file, report=lambda line: click.echo(line, err=True)
            )
        except ImportRefused as exc:
            session.rollback()
            fail(str(exc))
        click.echo(counts.summary())
    sys.exit(2 if counts.rejected else 0)


# --- send-due and worker ----------------------------------------------------------------


CONCURRENCY = click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_WORKER_CONCURRENCY),
    help="Provider calls kept in flight (default: the worker_concurrency setting).",
)


@cli.command("send-due")
@click.option("--now", "now_text", help="Replace the clock (ISO 8601; naive is Europe/London).")
@CONCURRENCY
def send_due_command(now_text: str | None, concurrency: int | None) -> None:
    """Create the invitations and reminders due now and send the outbox."""
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
    from .invitations import create_due_messages
    from .sms import client_for
    from .sms.outbox import drain
    from .triage.alerts import send_due_alerts

    config = app.extensions["screening"].config
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
        alerts = send_due_alerts(session, config, now)
    if dispatched.stopped is None:
        # A run the provider refused is no sign of health: /healthz shows it as stale.
        record_run(session)
    summary = (
        f"{now.isoformat()}: created {created.invitations} invitations and "
        f"{created.reminders} reminders; {dispatched.summary()}"
    )
    return f"{summary}; {alerts.summary()}" if alerts.sent or alerts.failed else summary


@cli.command()
@CONCURRENCY
def worker(concurrency: int | None) -> None:
    """Run send-due in a loop until stopped (SIGTERM or Ctrl-C)."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with app_session() as (app, session):
        require_schema()
        interval = app.extensions["screening"].config.settings.worker_interval_seconds
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


# --- tasks ----------------------------------------------------------------------------------


@cli.command()
@click.option("--status", type=click.Choice(TASK_STATUSES), help="Only tasks in this status.")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
def tasks(status: str | None, output: str) -> None:
    """List triage tasks, most pressing first (all statuses unless --status is given)."""
    from .triage.queue import list_tasks

    with app_session() as (app, session):
        require_schema()
        sla = app.extensions["screening"].config.settings.triage_sla_working_days
        rows = list_tasks(session, status=status, sla_working_days=sla)
    if output == "json":
        click.echo(json.dumps([row.as_json() for row in rows], indent=2))
        return
    click.echo(
        f"{'id':>6}  {'status':<9} {'priority':<8} {'clinic':<12} {'created':<16} "
        f"{'due':<10}  {'held by':<28} domains"
    )
    for row in rows:
        created = row.created_at.astimezone(clock.LONDON).strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{row.id:>6}  {row.status:<9} {row.priority:<8} {row.clinic_code or '-':<12} "
            f"{created:<16} {row.due_at.isoformat():<10}  {row.assigned_to or '-':<28} "
            f"{', '.join(row.domains) or '-'}"
        )
    click.echo(f"{len(rows)} task{'s' if len(rows) != 1 else ''}")


@cli.group()
def report() -> None:
    """Reports (SPEC §7)."""


@report.command("funnel")
@click.option("--clinic", help="Only this clinic code.")
@click.option("--from", "date_from", help="Appointments on or after this date (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Appointments on or before this date (YYYY-MM-DD).")
@click.option("--questionnaire", help="Only this questionnaire id.")
@click.option("--suppress", is_flag=True, help="Apply the disclosure rule to every count.")
@click.option("--format", "output", type=click.Choice(["table", "json", "csv"]), default="table")
def report_funnel(
    clinic: str | None,
    date_from: str | None,
    date_to: str | None,
    questionnaire: str | None,
    suppress: bool,
    output: str,
) -> None:
    """The screening funnel: invited to referred, by domain, clinic and patient group."""
    from .reports import BadFilter, build_report, parse_report_filters
    from .reports.exports import csv_table, text_table

    values = {"clinic": clinic, "from": date_from, "to": date_to, "questionnaire": questionnaire}
    with app_session() as (app, session):
        require_schema()
        loaded = app.extensions["screening"]
        try:
            filters = parse_report_filters(session, loaded, values)
        except BadFilter as bad:
            fail(f"--{bad.field}: {bad}")
        result = build_report(session, loaded, filters, suppress=suppress)
    if output == "json":
        click.echo(json.dumps(result, indent=2))
    elif output == "csv":
        click.echo(csv_table(result, "stages"), nl=False)
        click.echo(result["disclosure"], err=True)  # the CSV's header is a contract
    else:
        click.echo(text_table(result))


# --- validate --------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Validate questionnaire files or folders, run their examples, compare frozen versions.

    With no PATH: the questionnaires folder, the config files and the clinics' references.
    """
    config, problems = _config_for_validate(strict=not paths)
    targets = list(paths) or [config.questionnaire_dir if config else _default_questionnaires()]
    collection = load_paths(targets)
    problems += collection.problems
    examples = 0
    for questionnaire in collection.questionnaires.values():
        examples += len(questionnaire.examples)
        problems += example_problems(questionnaire)
    if config is not None and not paths:
        problems += clinic_problems(config, set(collection.questionnaires))
    if config is not None:
        problems += _frozen_problems(config, list(collection.questionnaires.values()))

    if config is not None and not paths:
        for warning in config.warnings:
            click.echo(warning, err=True)
    for questionnaire in collection.questionnaires.values():
        click.echo(
            f"{questionnaire.source_file}: {questionnaire.id} version {questionnaire.version}, "
            f"{len(questionnaire.items)} items, {len(questionnaire.examples)} examples"
        )
    if problems:
        for problem in sorted(set(problems), key=_problem_order):
            click.echo(str(problem), err=True)
        count = len(set(problems))
        fail(f"invalid: {count} problem{'s' if count != 1 else ''}")
    click.echo(
        f"valid: {len(collection.questionnaires)} questionnaire"
        f"{'s' if len(collection.questionnaires) != 1 else ''}, {examples} examples passed"
    )


def _problem_order(problem: Problem | str) -> tuple[str, int, str]:
    if isinstance(problem, Problem):
        return (problem.file, problem.line, problem.message)
    return ("", 0, str(problem))


def _default_questionnaires() -> Path:
    return Path(os.environ.get("SCREENING_QUESTIONNAIRE_DIR", "questionnaires"))


def _config_for_validate(*, strict: bool) -> tuple[Config | None, list[Problem | str]]:
    """The configuration, and its problems when they matter to this run."""
    try:
        return load_config(), []
    except ConfigError as exc:
        if strict:
            return None, list(exc.messages)
        return None, []


def _frozen_problems(config: Config, questionnaires: list) -> list[Problem | str]:
    """Compare with frozen versions whenever the configured database exists."""
    if not questionnaires or not database_exists(config.database_url):
        return []
    engine = make_engine(config.database_url)
    try:
        with Session(engine) as session:
            conflicts = frozen.conflicts(session, questionnaires)
    except SQLAlchemyError as exc:
        return [f"cannot compare with frozen versions: database error: {_short(exc)}"]
    finally:
        engine.dispose()
    return [
        Problem(c.current.source_file or c.current.id, c.current.version_line, c.message())
        for c in conflicts
    ]


def database_exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return bool(parsed.database) and Path(parsed.database).exists()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


# --- export --------------------------------------------------------------------------


@cli.group()
def export() -> None:
    """Exports to other systems (SPEC §12)."""


@export.command("fhir")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the NDJSON files (default: fhir in the instance folder).",
)
def export_fhir_command(out_dir: Path | None) -> None:
    """FHIR R4 Questionnaire, QuestionnaireResponse, Observation and Task resources."""
    from .fhir.export import export_fhir

    with app_session() as (app, session):
        require_schema()
        loaded = app.extensions["screening"]
        folder = out_dir or loaded.config.instance_dir / "fhir"
        try:
            counts = export_fhir(
                session,
                loaded.questionnaires.questionnaires,
                loaded.config.public_base_url,
                folder,
            )
        except OSError as exc:
            fail(f"--out: cannot write to {folder}: {exc.strerror or exc}")
        session.commit()
        click.echo(f"wrote {counts.summary()} to {folder}")


# --- data protection -------------------------------------------------------------------


@cli.command()
@click.option(
    "--before", "before_text", required=True, help="Episodes before this date (YYYY-MM-DD)."
)
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
def purge(before_text: str, dry_run: bool) -> None:
    """Remove patient-identifiable data of episodes before a date, keeping the counts."""
    from .privacy.purge import purge as purge_episodes

    before = _parse_date("--before", before_text)
    today = clock.now().astimezone(clock.LONDON).date()
    if before > today:
        # A typo (2062 for 2026) would otherwise empty every current patient.
        fail(f"--before: {before.isoformat()} is after today; give a date in the past")
    with app_session() as (app, session):
        require_schema()
        questionnaires = app.extensions["screening"].questionnaires.questionnaires.values()
        counts = purge_episodes(session, questionnaires, before, dry_run=dry_run)
        if dry_run:
            session.rollback()
        else:
            session.commit()
        click.echo(f"before {before.isoformat()}: {counts.summary(dry_run=dry_run)}")


@cli.command("subject-access")
@click.argument("nhs_number")
def subject_access_command(nhs_number: str) -> None:
    """Everything held about one patient, as JSON on stdout (audited)."""
    from .identifiers import normalise_nhs_number
    from .privacy.subject_access import UnknownPatient, subject_access

    number = normalise_nhs_number(nhs_number)
    if number is None:
        fail(f"NHS_NUMBER: '{nhs_number}' is not a valid NHS number (10 digits, checksum)")
    with app_session() as (app, session):
        require_schema()
        try:
            record = subject_access(
                session, app.extensions["screening"].questionnaires.questionnaires, number
            )
        except UnknownPatient:
            fail(f"no patient with NHS number {nhs_number} is held (or their details were purged)")
        session.commit()  # the audit event, before anything is shown
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))


def _parse_date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: '{text}' is not a date; give YYYY-MM-DD, such as 2020-04-01")


# --- create-user -----------------------------------------------------------------------


@cli.command("create-user")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The user's role.")
def create_user_command(email: str, role: str) -> None:
    """Create a staff user; the password is read from stdin."""
    from .staff import UserExists, WeakPassword, create_user

    password = _read_password()
    with app_session() as (_app, session):
        try:
            user = create_user(session, email, password, role)
        except (UserExists, WeakPassword, ValueError) as exc:
            session.rollback()
            fail(f"refused: {exc}")
        session.commit()
        click.echo(f"created {user.role} user {user.email}")


def _read_password() -> str:
    stream = click.get_text_stream("stdin")
    if stream.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # Only the line ending is dropped: spaces inside a passphrase are kept.
    return stream.read().rstrip("\r\n")


# --- demo --------------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Seed the demo database and stop.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Seed a demo database and serve the app locally (always the console SMS backend)."""
    from . import demo as seed
    from .appointments import import_appointments
    from .invitations import in_quiet_hours

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
        config = app.extensions["screening"].config
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
        loaded = app.extensions["screening"]
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
    state = app.extensions["screening"]
    click.echo("Questionnaires loaded:")
    for questionnaire in state.questionnaires.questionnaires.values():
        click.echo(f"  {questionnaire.id} (version {questionnaire.version})")
    click.echo("Clinics:")
    for clinic in state.config.clinics.values():
        click.echo(f"  {clinic.code}: {clinic.name}, {clinic.hospital}")
    click.echo("Demo staff users (passwords are new each run):")
    for email, password in passwords.items():
        click.echo(f"  {email}  {password}")
