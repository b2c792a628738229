"""The `screening` console script, run as a real process (SPEC §5)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from screening.questionnaire import load_file
from screening.questionnaire.frozen import freeze

from .conftest import ROOT

SCREENING = str(Path(sys.executable).with_name("screening"))


def run(*args: str, cwd: Path = ROOT, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_")}
    environ.update(env)
    return subprocess.run(
        [SCREENING, *args], cwd=cwd, env=environ, input=stdin, capture_output=True, text=True
    )


def isolated(tmp_path: Path) -> dict[str, str]:
    """Environment for a run that touches no database of the checkout."""
    return {
        "SCREENING_INSTANCE_DIR": str(tmp_path / "instance"),
        "SCREENING_CONFIG_DIR": str(ROOT / "config"),
        "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
    }


# --- validate --------------------------------------------------------------------------


def test_validate_accepts_the_shipped_questionnaires_and_runs_their_examples(
    tmp_path: Path,
) -> None:
    result = run("validate", "questionnaires/", **isolated(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "barts-social-welfare version 1, 7 items, 10 examples" in result.stdout
    assert result.stdout.strip().endswith("valid: 3 questionnaires, 21 examples passed")


def test_validate_without_paths_checks_the_folder_config_and_clinics(tmp_path: Path) -> None:
    result = run("validate", **isolated(tmp_path))
    assert result.returncode == 0, result.stderr
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    clinics = config / "clinics.yaml"
    text = clinics.read_text().replace("simple-question", "simple-questions")
    clinics.write_text(text)
    line = text.splitlines().index("    questionnaire: simple-questions") + 1
    result = run("validate", **{**isolated(tmp_path), "SCREENING_CONFIG_DIR": str(config)})
    assert result.returncode == 1
    assert f"{clinics}:{line}: clinic 'CARD-RLH' uses questionnaire 'simple-questions'" in (
        result.stderr
    )


def test_validate_names_file_and_line_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "questionnaires" / "simple-question.yaml").read_text()
    bad.write_text(text.replace('{value: "no", label: "No"}', "{value: no, label: No}", 1))
    result = run("validate", str(bad), **isolated(tmp_path))
    assert result.returncode == 1
    line = text.splitlines().index('      - {value: "no", label: "No"}') + 1
    assert f"{bad}:{line}: " in result.stderr
    assert 'quote it: "no"' in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_fails_when_an_example_disagrees_with_the_rules(tmp_path: Path) -> None:
    bad = tmp_path / "simple.yaml"
    text = (ROOT / "questionnaires" / "simple-question.yaml").read_text()
    bad.write_text(text.replace("task: {status: declined, priority: routine}", "task: none"))
    result = run("validate", str(bad), **isolated(tmp_path))
    assert result.returncode == 1
    assert "example 'difficulty, no help wanted': expected task none" in result.stderr


def test_validate_refuses_an_edit_to_a_frozen_version(
    app: Flask, session: Session, database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "questionnaires"
    folder.mkdir()
    copy = folder / "simple-question.yaml"
    shutil.copy(ROOT / "questionnaires" / "simple-question.yaml", copy)
    freeze(session, load_file(copy))
    session.commit()
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}

    # Layout and comments are not content: still valid.
    copy.write_text("# reviewed again\n" + copy.read_text())
    assert run("validate", str(folder), **env).returncode == 0

    text = copy.read_text().replace("Do you want help?", "Would you like help?")
    copy.write_text(text)
    version_line = text.splitlines().index("version: 1") + 1
    result = run("validate", str(folder), **env)
    assert result.returncode == 1
    assert (
        f"{copy}:{version_line}: questionnaire 'simple-question' version 1 was frozen"
        in result.stderr
    )
    assert "bump version to 2" in result.stderr

    copy.write_text(copy.read_text().replace("version: 1", "version: 2"))
    assert run("validate", str(folder), **env).returncode == 0


def test_validate_reports_a_missing_path(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nowhere"), **isolated(tmp_path))
    assert result.returncode == 1
    assert "no such file or folder" in result.stderr


# --- init-db and create-user -------------------------------------------------------------


def test_init_db_creates_and_then_migrates_in_place(tmp_path: Path) -> None:
    first = run("init-db", **isolated(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "database at revision" in first.stdout
    assert (tmp_path / "instance" / "screening.db").exists()
    assert run("init-db", **isolated(tmp_path)).returncode == 0


def test_a_broken_config_is_reported_not_raised(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text("rescreen_days: soon\n")
    result = run("init-db", **{**isolated(tmp_path), "SCREENING_CONFIG_DIR": str(config)})
    assert result.returncode == 1
    assert f"{config / 'settings.yaml'}:1: rescreen_days: must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr
