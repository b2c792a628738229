"""The `screening` command's frame: the group, its entry point, and what every command
shares (an app and session, plain failures, the schema check)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import create_app
from ..appointments.clinics import sync_clinics
from ..config import ConfigError
from ..config.loaded import loaded_by
from ..core import logs
from ..core.extensions import db
from ..models.migrate import current_revision, head_revision, upgrade_to_head
from ..patient.responses import place_unfinished


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
            fail(f"database error: {first_line(exc)}")


def first_line(exc: Exception) -> str:
    """An error's first line: enough to say what went wrong, no traceback."""
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


def prepare_database(app: Flask, session: Session) -> None:
    """Migrate to head, copy the configured clinics in, and place unfinished episodes
    answered before their page was kept (migration 0014)."""
    assert db.engine is not None
    if db.engine.url.get_backend_name() == "sqlite" and db.engine.url.database:
        Path(db.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(db.engine)
    loaded = loaded_by(app)
    sync_clinics(session, loaded.config)
    session.commit()
    place_unfinished(session, loaded.questionnaires.questionnaires)


def require_schema() -> None:
    """Commands that read or write data need `init-db` first; say so plainly."""
    assert db.engine is not None
    if current_revision(db.engine) != head_revision(db.engine):
        fail("the database is not initialised or not up to date: run `screening init-db` first")
