"""Reading data out: the task list, the funnel report, the FHIR export."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..config.loaded import loaded_by
from ..core import clock
from ..core.constants import TASK_STATUSES
from ..fhir.export import export_fhir
from ..reports import BadFilter, build_report, parse_report_filters
from ..reports.check import differences
from ..reports.exports import csv_table, text_table
from ..triage.queue import list_tasks
from .base import app_session, cli, fail, require_schema

# --- tasks ----------------------------------------------------------------------------------


@cli.command()
@click.option("--status", type=click.Choice(TASK_STATUSES), help="Only tasks in this status.")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
def tasks(status: str | None, output: str) -> None:
    """List triage tasks, most pressing first (all statuses unless --status is given)."""
    with app_session() as (app, session):
        require_schema()
        sla = loaded_by(app).config.settings.triage_sla_working_days
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
    values = {"clinic": clinic, "from": date_from, "to": date_to, "questionnaire": questionnaire}
    with app_session() as (app, session):
        require_schema()
        loaded = loaded_by(app)
        try:
            filters = parse_report_filters(session, loaded, values)
        except BadFilter as bad:
            fail("; ".join(f"--{problem.field}: {problem.message}" for problem in bad.problems))
        result = build_report(session, loaded, filters, suppress=suppress)
    if output == "json":
        click.echo(json.dumps(result, indent=2))
    elif output == "csv":
        click.echo(csv_table(result, "stages"), nl=False)
        click.echo(result["disclosure"], err=True)  # the CSV's header is a contract
    else:
        click.echo(text_table(result))


@report.command("check")
def report_check() -> None:
    """Recompute every count the report keeps precomputed; print each difference."""
    with app_session() as (_app, session):
        require_schema()
        found = differences(session)
    for difference in found:
        click.echo(str(difference))
    if found:
        raise SystemExit(1)
    click.echo("every precomputed count agrees with the stage timestamps and the referrals")


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
    """FHIR R4 Questionnaire, QuestionnaireResponse, Observation, Task, ServiceRequest and
    Organization resources."""
    with app_session() as (app, session):
        require_schema()
        loaded = loaded_by(app)
        folder = out_dir or loaded.config.instance_dir / "fhir"
        try:
            counts = export_fhir(
                session,
                loaded.questionnaires.questionnaires,
                loaded.config.public_base_url,
                folder,
                services=loaded.config.services,
            )
        except OSError as exc:
            fail(f"--out: cannot write to {folder}: {exc.strerror or exc}")
        session.commit()
        click.echo(f"wrote {counts.summary()} to {folder}")
