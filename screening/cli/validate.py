"""`validate`: questionnaires, configuration and frozen versions, before anything runs."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..config import Config, ConfigError, clinic_problems, load_config
from ..core.db import make_engine
from ..core.yamlsource import Problem
from ..questionnaire import frozen
from ..questionnaire.loader import example_problems, load_paths
from .base import cli, fail, first_line


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
        return [f"cannot compare with frozen versions: database error: {first_line(exc)}"]
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
