"""`screening report check` (SPEC §5): exit 0 when every precomputed count agrees, 1 with
each difference when one does not."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from screening.core import clock
from screening.models import Episode
from tests.cli.test_cli import isolated, run
from tests.factories import make_task


def test_report_check_finds_a_helped_stage_no_referral_explains(
    app: Flask, session: Session, database_url: str, tmp_path: Path
) -> None:
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}
    task = make_task(session)
    agreed = run("report", "check", **env)
    assert agreed.returncode == 0, agreed.stderr
    # A helped time with no referral completed as helped: a count that has drifted.
    session.execute(
        update(Episode).where(Episode.id == task.episode_id).values(helped_at=clock.now())
    )
    session.commit()
    drifted = run("report", "check", **env)
    assert drifted.returncode == 1
    assert "helped, from its referrals: the report counts 1, recomputed 0" in drifted.stdout
