"""The `screening` console script, run as a real process (SPEC §5)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening import create_app
from screening.models import StaffUser
from screening.questionnaire import load_file
from screening.questionnaire.frozen import freeze
from tests.appointment_lists import appointment, write_list
from tests.conftest import ROOT
from tests.factories import make_task

SCREENING = str(Path(sys.executable).with_name("screening"))


def environment(**env: str) -> dict[str, str]:
    """This process's environment without its SCREENING_ settings, and then `env`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_")}
    return {**environ, **env}


def run(*args: str, cwd: Path = ROOT, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCREENING, *args],
        cwd=cwd,
        env=environment(**env),
        input=stdin,
        capture_output=True,
        text=True,
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
    assert "barts-social-welfare version 2, 7 items, 10 examples" in result.stdout
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


def test_create_user_reads_the_password_from_stdin_and_refuses_a_repeat(
    app: Flask, session: Session, database_url: str, tmp_path: Path
) -> None:
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}
    created = run(
        "create-user",
        "SP@Example.NHS.uk",
        "--role",
        "prescriber",
        "--name",
        "  Sam   Patel ",
        stdin="a long passphrase\n",
        **env,
    )
    assert created.returncode == 0, created.stderr
    user = session.scalar(select(StaffUser).where(StaffUser.email == "sp@example.nhs.uk"))
    assert user is not None and user.role == "prescriber"
    assert user.display_name == "Sam Patel"
    assert user.password_hash.startswith("$argon2id$")
    assert "a long passphrase" not in user.password_hash

    again = run(
        "create-user", "sp@example.nhs.uk", "--role", "admin", stdin="another passphrase\n", **env
    )
    assert again.returncode == 1
    assert "already" in again.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["--role", "surgeon"], "a long passphrase", "surgeon"),
        (["--role", "admin"], "short", "12"),
        (["--role", "admin", "--name", "x" * 201], "a long passphrase", "200 characters or fewer"),
    ],
)
def test_create_user_refuses_bad_input(
    app: Flask, database_url: str, tmp_path: Path, args: list[str], stdin: str, says: str
) -> None:
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}
    result = run("create-user", "x@example.nhs.uk", *args, stdin=stdin, **env)
    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_plays_a_fortnight_on_its_own_sqlite_file(tmp_path: Path) -> None:
    result = run("demo", "--no-serve", **isolated(tmp_path))
    assert result.returncode == 0, result.stderr
    for role in ("admin", "prescriber", "clinician"):
        assert f"{role}@demo.screening.invalid" in result.stdout
    assert "foodbank@demo.screening.invalid" in result.stdout  # the food bank's partner
    assert "Priya Shah" in result.stdout  # staff by name, as the pages show them
    assert "barts-social-welfare" in result.stdout and "CARD-NUH" in result.stdout
    assert "as exported a fortnight ago: imported 320, updated 0, unchanged 0, rejected 0" in (
        result.stdout
    )
    # Texts went through the console backend only, one JSON line each in a log file it
    # names; the terminal shows five patients' links as a short list.
    texts = tmp_path / "instance" / "demo-texts.log"
    assert f"Each text message sent is in {texts}." in result.stdout
    lines = [json.loads(line) for line in texts.read_text().splitlines()]
    assert len(lines) > 100 and all(line["message"].startswith("SMS to ") for line in lines)
    assert "SMS to " not in result.stderr
    links = [line for line in result.stdout.splitlines() if line.startswith("  http")]
    assert len(links) == 5 and all("127.0.0.1:5000/s/" in link for link in links)
    assert "Look first at:" in result.stdout
    with sqlite3.connect(tmp_path / "instance" / "demo.db") as db:

        def rows(sql: str) -> dict:
            return dict(db.execute(sql).fetchall())

        tasks = rows("SELECT status, count(*) FROM triage_tasks GROUP BY 1")
        priorities = rows("SELECT priority, count(*) FROM triage_tasks GROUP BY 1")
        referrals = rows("SELECT status, count(*) FROM referrals GROUP BY 1")
        assert sum(tasks.values()) >= 20 and {"open", "assigned", "closed"} <= set(tasks)
        assert set(priorities) == {"urgent", "routine"}  # the shipped tools raise no `high`
        assert set(referrals) == {"made", "accepted", "declined", "completed"}
        [(sessions,)] = db.execute("SELECT count(*) FROM support_sessions")
        [(calls,)] = db.execute("SELECT count(*) FROM contact_attempts WHERE task_id IS NULL")
        [(pair,)] = db.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM episodes WHERE follow_up_task_id"
            " IS NOT NULL AND completed_at IS NOT NULL GROUP BY follow_up_task_id)"
        )
        [(today,)] = db.execute(
            "SELECT count(*) FROM appointments WHERE date(appointment_at) = date('now')"
        )
        [(unnamed,)] = db.execute("SELECT count(*) FROM staff_users WHERE display_name IS NULL")
        assert sessions > 0 and calls > 0 and pair == 2 and today > 0 and unnamed == 0
        # The loop closed for some: services answered, with outcomes, and the partner has
        # referrals of their own still to answer; practices have letters.
        food_bank = rows(
            "SELECT status, count(*) FROM referrals WHERE service_id = 'food-bank' GROUP BY 1"
        )
        [(helped,)] = db.execute("SELECT count(*) FROM episodes WHERE helped_at IS NOT NULL")
        [(letters,)] = db.execute("SELECT count(*) FROM gp_letters WHERE pdf IS NOT NULL")
        assert food_bank.get("made", 0) > 0 and helped > 0 and letters > 0
    # The funnel has numbers on first open, down to the patient groups and drop-off.
    demo_db = {
        **isolated(tmp_path),
        "SCREENING_DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'demo.db'}",
    }
    report = json.loads(run("report", "funnel", "--format", "json", **demo_db).stdout)
    counts = {s["stage"]: s["count"] for s in report["stages"]}
    assert counts["invited"] > counts["engaged"] > counts["completed"] > counts["flagged"] > 0
    assert counts["referred"] > 0
    assert {g["group"] for g in report["groups"]["ethnicity"]} >= {"white", "asian", "black"}
    assert {g["group"] for g in report["groups"]["language"]} >= {"en", "bn"}
    stopped = sum(p["stopped"] for entry in report["dropoff"] for p in entry["pages"])
    assert stopped == counts["engaged"] - counts["completed"] > 0


# --- report funnel ----------------------------------------------------------------------


def test_report_funnel_prints_json_csv_and_a_table(
    app: Flask, session: Session, database_url: str, tmp_path: Path
) -> None:
    make_task(session, nhs_number="9990000018")
    make_task(session, nhs_number="9990000026", missed_meals="yes")
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}
    result = run("report", "funnel", "--format", "json", "--clinic", "CARD-NUH", **env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["filters"] == {
        "clinic": "CARD-NUH", "from": None, "to": None, "questionnaire": None,
    }  # fmt: skip
    assert report["stages"][3] == {
        "stage": "completed", "count": 2, "pct_of_previous": None, "pct_of_invited": 100.0,
    }  # fmt: skip
    assert set(report) >= {"stages", "domains", "by_clinic", "groups", "outcomes"}
    assert set(report["groups"]) == {"age_band", "sex", "ethnicity", "language", "imd_decile"}
    assert report["outcomes"] == {
        "referrals": {"made": 0, "accepted": 0, "declined": 0, "completed": 0, "overdue": 0,
                      "by_service": []},
        "wellbeing": [],
    }  # fmt: skip

    result = run("report", "funnel", "--format", "csv", **env)
    lines = result.stdout.splitlines()
    assert lines[0] == "stage,count,pct_of_previous,pct_of_invited"
    assert [line.split(",")[0] for line in lines[1:]] == [
        "invited", "delivered", "engaged", "completed", "flagged", "wants_help", "contacted",
        "referred", "helped",
    ]  # fmt: skip
    assert "Other counts are exact" in result.stderr  # the rule it applied
    published = run("report", "funnel", "--format", "csv", "--suppress", **env)
    assert published.stdout.splitlines()[1] == "invited,[c],,"
    assert published.stderr.startswith("All counts:")
    table = run("report", "funnel", **env)
    assert table.returncode == 0 and "financial" in table.stdout and "invited" in table.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--clinic", "NOPE"], "--clinic: 'NOPE' is not a clinic code (known: "),
        (["--from", "2026-02-30"], "--from: '2026-02-30' is not a date: use YYYY-MM-DD"),
        (["--from", "2026-03-01", "--to", "2026-02-01"], "--to: The end date must be"),
        (["--questionnaire", "phq9"], "--questionnaire: 'phq9' is not a questionnaire id"),
    ],
)
def test_report_funnel_refuses_bad_filters_naming_the_option(
    app: Flask, database_url: str, tmp_path: Path, args: list[str], says: str
) -> None:
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}
    result = run("report", "funnel", *args, **env)
    assert result.returncode == 1
    assert says in result.stderr and "Traceback" not in result.stderr


def test_a_broken_config_is_reported_not_raised(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text("rescreen_days: soon\n")
    result = run("init-db", **{**isolated(tmp_path), "SCREENING_CONFIG_DIR": str(config)})
    assert result.returncode == 1
    assert f"{config / 'settings.yaml'}:1: rescreen_days: must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr


# --- import-appointments and send-due ----------------------------------------------------


@pytest.fixture
def initialised(tmp_path: Path) -> dict[str, str]:
    env = isolated(tmp_path)
    assert run("init-db", **env).returncode == 0
    return env


def test_import_appointments_reports_rows_and_ends_with_the_counts(
    initialised: dict[str, str], tmp_path: Path
) -> None:
    path = write_list(
        tmp_path / "list.csv",
        [appointment(1), appointment(2, nhs_number="1234567890"), appointment(3, mobile="")],
    )
    result = run("import-appointments", str(path), **initialised)
    assert result.returncode == 2
    assert "line 3: nhs_number fails the modulus-11 check" in result.stderr
    assert "line 4: warning: mobile is blank" in result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last == "imported 2, updated 0, unchanged 0, rejected 1, warnings 1"
    again = run("import-appointments", str(path), **initialised)
    assert again.stdout.strip().endswith(
        "imported 0, updated 0, unchanged 2, rejected 1, warnings 1"
    )


def test_import_appointments_refuses_a_file_missing_columns(
    initialised: dict[str, str], tmp_path: Path
) -> None:
    path = write_list(tmp_path / "list.csv", [appointment(1)], columns=["appointment_id"])
    result = run("import-appointments", str(path), **initialised)
    assert result.returncode == 1
    assert "missing required columns: nhs_number" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_a_large_import_between_batches_without_a_traceback(
    initialised: dict[str, str], tmp_path: Path
) -> None:
    # Over 2 MB, so the list is read in a process of its own; a blank mobile every 50 rows
    # gives a warning on stderr early, once that process is reading.
    rows = [
        appointment(serial, mobile="" if serial % 50 == 0 else f"07400 1{serial:05d}")
        for serial in range(1, 25_001)
    ]
    path = write_list(tmp_path / "large.csv", rows)
    assert path.stat().st_size > 2_000_000
    importer = subprocess.Popen(
        [SCREENING, "import-appointments", str(path)],
        cwd=ROOT,
        env=environment(**initialised),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )
    assert importer.stderr is not None
    assert "warning: mobile is blank" in importer.stderr.readline()
    os.killpg(importer.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
    rest = importer.stderr.read()
    assert importer.wait(timeout=30) != 0
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest, rest
    assert _group_ends(importer.pid, within_seconds=10)  # nothing is left running

    again = run("import-appointments", str(path), **initialised)
    summary = again.stdout.strip().splitlines()[-1]
    imported, unchanged = (int(summary.split(", ")[i].split()[1]) for i in (0, 2))
    assert imported + unchanged == 25_000 and unchanged % 1000 == 0, summary


def _group_ends(group: int, within_seconds: float) -> bool:
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_commands_that_need_data_say_to_run_init_db_first(tmp_path: Path) -> None:
    path = write_list(tmp_path / "list.csv", [appointment(1)])
    result = run("import-appointments", str(path), **isolated(tmp_path))
    assert result.returncode == 1
    assert "run `screening init-db` first" in result.stderr


def test_send_due_takes_its_clock_from_now(initialised: dict[str, str], tmp_path: Path) -> None:
    path = write_list(tmp_path / "list.csv", [appointment(1, appointment_at="2026-12-10T10:30:00")])
    run("import-appointments", str(path), **initialised)
    early = run("send-due", "--now", "2026-12-03T08:59", **initialised)
    assert early.returncode == 0 and "created 0 invitations" in early.stdout
    due = run("send-due", "--now", "2026-12-03T09:00", **initialised)
    assert due.returncode == 0
    assert "created 1 invitations" in due.stdout and "sent 1" in due.stdout
    again = run("send-due", "--now", "2026-12-03T09:01", **initialised)
    assert "created 0 invitations" in again.stdout and "sent 0" in again.stdout


def test_send_due_refuses_a_bad_now(initialised: dict[str, str]) -> None:
    result = run("send-due", "--now", "tomorrow", **initialised)
    assert result.returncode == 1 and "ISO 8601" in result.stderr


def test_the_worker_sends_in_a_loop_and_stops_cleanly_on_sigterm(
    initialised: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config, dirs_exist_ok=True)
    (config / "settings.yaml").write_text("worker_interval_seconds: 1\n")
    env = {**initialised, "SCREENING_CONFIG_DIR": str(config)}
    worker = subprocess.Popen(
        [SCREENING, "worker"], cwd=ROOT, env=environment(**env), stderr=subprocess.PIPE, text=True
    )
    assert worker.stderr is not None
    runs: list[dict] = []
    while len(runs) < 2:
        line = json.loads(worker.stderr.readline())  # every line is JSON
        if line["logger"] == "screening.worker":
            runs.append(line)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert all("created 0 invitations" in run["message"] for run in runs)
    # Each run's lines carry an id of their own, to find one run's story in the log.
    assert runs[0]["request_id"] != runs[1]["request_id"]
    assert all(len(run["request_id"]) == 32 for run in runs)


def test_healthz_reports_when_the_worker_last_ran(initialised: dict[str, str]) -> None:
    app = create_app({**initialised, "SCREENING_ENV": "test"})
    before = app.test_client().get("/healthz")
    assert before.status_code == 200 and before.json["worker_last_run_at"] is None
    started = datetime.now(UTC)
    assert run("send-due", "--now", "2026-01-05T09:00", **initialised).returncode == 0
    after = app.test_client().get("/healthz")
    # Wall-clock time, not the --now the run was given.
    ran_at = datetime.fromisoformat(after.json["worker_last_run_at"])
    assert after.status_code == 200 and started <= ran_at <= datetime.now(UTC)


def test_purge_previews_then_removes_and_refuses_a_bad_date(
    initialised: dict[str, str], tmp_path: Path
) -> None:
    path = write_list(tmp_path / "list.csv", [appointment(1, appointment_at="2026-01-10T10:30:00")])
    assert run("import-appointments", str(path), **initialised).returncode == 0
    bad = run("purge", "--before", "10/12/2026", **initialised)
    assert bad.returncode == 1 and "--before: '10/12/2026' is not a date" in bad.stderr
    typo = run("purge", "--before", "2062-12-11", **initialised)
    assert typo.returncode == 1 and "is after today" in typo.stderr
    missing = run("purge", **initialised)
    assert missing.returncode == 1 and "--before" in missing.stderr  # a usage error: 1
    preview = run("purge", "--before", "2026-01-11", "--dry-run", **initialised)
    assert preview.returncode == 0
    assert "would remove the details of 1 patients" in preview.stdout
    done = run("purge", "--before", "2026-01-11", **initialised)
    assert "removed the details of 1 patients" in done.stdout
    # The patient is no longer held by NHS number.
    gone = run("subject-access", appointment(1)["nhs_number"], **initialised)
    assert gone.returncode == 1 and "no patient with NHS number" in gone.stderr


def test_subject_access_prints_json_and_refuses_a_bad_number(
    initialised: dict[str, str], tmp_path: Path
) -> None:
    path = write_list(tmp_path / "list.csv", [appointment(1)])
    assert run("import-appointments", str(path), **initialised).returncode == 0
    found = run("subject-access", appointment(1)["nhs_number"], **initialised)
    assert found.returncode == 0, found.stderr
    record = json.loads(found.stdout)
    assert record["patient"]["family_name"] == "Example"
    assert record["appointments"][0]["appointment_id"] == "APT00001"
    bad = run("subject-access", "1234567890", **initialised)
    assert bad.returncode == 1 and "is not a valid NHS number" in bad.stderr


def test_export_fhir_writes_ndjson_and_refuses_an_unwritable_folder(
    initialised: dict[str, str], tmp_path: Path
) -> None:
    done = run("export", "fhir", "--out", str(tmp_path / "fhir"), **initialised)
    assert done.returncode == 0, done.stderr
    assert "wrote 3 Questionnaire, 0 QuestionnaireResponse" in done.stdout
    lines = (tmp_path / "fhir" / "Questionnaire.ndjson").read_text().splitlines()
    assert {json.loads(line)["id"] for line in lines} == {
        "barts-social-welfare-2", "ons4-wellbeing-1", "simple-question-1",
    }  # fmt: skip
    (tmp_path / "a-file").write_text("")
    refused = run("export", "fhir", "--out", str(tmp_path / "a-file" / "fhir"), **initialised)
    assert refused.returncode == 1 and "--out: cannot write to" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.db
def test_two_workers_on_one_host_record_their_runs_without_colliding(session: Session) -> None:
    from screening.sms.heartbeat import last_run_at, record_run

    record_run(session, host="ward-server")
    first = last_run_at(session)
    record_run(session, host="ward-server")  # the row exists: updated in place, not refused
    assert last_run_at(session) >= first
