"""`screening create-user --role partner --service ID ...` (SPEC §5, §13)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.models import StaffUser
from tests.cli.test_cli import isolated, run


def test_a_partner_is_created_for_the_services_given(
    app: Flask, session: Session, database_url: str, tmp_path: Path
) -> None:
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}
    created = run(
        "create-user",
        "bank@example.org",
        "--role",
        "partner",
        "--service",
        "food-bank",
        "--service",
        "citizens-advice",
        stdin="a long passphrase\n",
        **env,
    )
    assert created.returncode == 0, created.stderr
    assert "created partner user bank@example.org for food-bank, citizens-advice" in created.stdout
    user = session.scalar(select(StaffUser).where(StaffUser.email == "bank@example.org"))
    assert user is not None and user.service_ids == ("citizens-advice", "food-bank")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--role", "partner"], "Select the services this partner answers referrals for"),
        (
            ["--role", "partner", "--service", "bakery"],
            "'bakery' is not a service in config/services.yaml",
        ),
        (["--role", "prescriber", "--service", "food-bank"], "Only a partner is bound to services"),
    ],
)
def test_a_partner_without_a_known_service_is_refused(
    app: Flask, session: Session, database_url: str, tmp_path: Path, args: list[str], says: str
) -> None:
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}
    result = run("create-user", "x@example.org", *args, stdin="a long passphrase\n", **env)
    assert result.returncode == 1 and says in result.stderr
    assert "Traceback" not in result.stderr
    assert session.scalar(select(StaffUser).where(StaffUser.email == "x@example.org")) is None
