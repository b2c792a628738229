"""Putting data in: the schema, appointment lists, staff accounts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..appointments.clinics import sync_clinics
from ..appointments.importer import ImportRefused, import_appointments
from ..config.loaded import loaded_by
from ..core.constants import ROLES
from ..core.extensions import db
from ..core.refusals import Refused
from ..models.migrate import current_revision
from ..staff.accounts import create_user
from .base import app_session, cli, fail, prepare_database, require_schema

# --- init-db ---------------------------------------------------------------------------


@cli.command("init-db")
def init_db() -> None:
    """Create or migrate the database to the latest schema."""
    with app_session() as (app, session):
        prepare_database(app, session)
        assert db.engine is not None
        url = db.engine.url.render_as_string(hide_password=True)
        click.echo(f"database at revision {current_revision(db.engine)}: {url}")


# --- import-appointments ---------------------------------------------------------------


@cli.command("import-appointments")
@click.argument("file", type=click.Path(path_type=Path))
def import_appointments_command(file: Path) -> None:
    """Import an appointment list CSV (exit 2 when some rows were rejected)."""
    with app_session() as (app, session):
        require_schema()
        config = loaded_by(app).config
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


# --- create-user -----------------------------------------------------------------------


@cli.command("create-user")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The user's role.")
@click.option("--name", default=None, help="The name colleagues see (else the email).")
@click.option(
    "--service",
    "services",
    multiple=True,
    help="For a partner: a service id of config/services.yaml (repeat for more).",
)
def create_user_command(email: str, role: str, name: str | None, services: tuple[str, ...]) -> None:
    """Create a staff user; the password is read from stdin."""
    password = _read_password()
    with app_session() as (app, session):
        known = [service.id for service in loaded_by(app).config.services]
        try:
            user = create_user(
                session, email, password, role, name=name, services=services, known_services=known
            )
        except Refused as exc:
            session.rollback()
            fail("refused: " + "; ".join(problem.message for problem in exc.problems))
        session.commit()
        serving = f" for {', '.join(user.service_ids)}" if user.service_ids else ""
        click.echo(f"created {user.role} user {user.email}{serving}")


def _read_password() -> str:
    stream = click.get_text_stream("stdin")
    if stream.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # Only the line ending is dropped: spaces inside a passphrase are kept.
    return stream.read().rstrip("\r\n")
