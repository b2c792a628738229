"""Data protection: the purge and subject access."""

from __future__ import annotations

import json
from datetime import date

import click

from ..config.loaded import loaded_by
from ..core import clock
from ..core.identifiers import normalise_nhs_number
from ..privacy.purge import purge as purge_episodes
from ..privacy.subject_access import UnknownPatient, subject_access
from .base import app_session, cli, fail, require_schema


@cli.command()
@click.option(
    "--before", "before_text", required=True, help="Episodes before this date (YYYY-MM-DD)."
)
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
def purge(before_text: str, dry_run: bool) -> None:
    """Remove patient-identifiable data of episodes before a date, keeping the counts."""
    before = _parse_date("--before", before_text)
    today = clock.now().astimezone(clock.LONDON).date()
    if before > today:
        # A typo (2062 for 2026) would otherwise empty every current patient.
        fail(f"--before: {before.isoformat()} is after today; give a date in the past")
    with app_session() as (app, session):
        require_schema()
        questionnaires = loaded_by(app).questionnaires.questionnaires.values()
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
    number = normalise_nhs_number(nhs_number)
    if number is None:
        fail(f"NHS_NUMBER: '{nhs_number}' is not a valid NHS number (10 digits, checksum)")
    with app_session() as (app, session):
        require_schema()
        try:
            record = subject_access(session, loaded_by(app).questionnaires.questionnaires, number)
        except UnknownPatient:
            fail(f"no patient with NHS number {nhs_number} is held (or their details were purged)")
        session.commit()  # the audit event, before anything is shown
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))


def _parse_date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: '{text}' is not a date; give YYYY-MM-DD, such as 2020-04-01")
