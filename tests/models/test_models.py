"""The schema built by the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from screening.core import constants as c
from screening.core.db import Base, make_engine
from screening.core.extensions import db
from screening.models import Episode, OutboundMessage, Patient, Response, TriageTask
from screening.models.migrate import alembic_config, current_revision, head_revision
from tests.conftest import BACKENDS, POSTGRES_ADMIN_URL


def make_patient(session: Session, *, nhs_number: str = "9990000018") -> Patient:
    patient = Patient(nhs_number=nhs_number, given_name="Test", family_name="Patient")
    session.add(patient)
    session.flush()
    return patient


def make_episode(session: Session, *, questionnaire: str = "barts-social-welfare") -> Episode:
    episode = Episode(patient_id=make_patient(session).id, questionnaire_id=questionnaire)
    session.add(episode)
    session.flush()
    return episode


def _comparable(dialect: str) -> Any:
    """Alembic's filter: leave out the models' indexes this database does not build
    (`ddl_if`). SQLite's expression indexes cannot be reflected, so Alembic skips them; the
    funnel's tests check that the query plans use them."""

    def include(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        only = getattr(item, "_ddl_if", None)
        return kind != "index" or reflected or only is None or only.dialect == dialect

    return include


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrations_build_exactly_the_models(session: Session) -> None:
    with db.engine.connect() as connection:  # type: ignore[union-attr]
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": _comparable(connection.dialect.name)},
        )
        assert compare_metadata(context, Base.metadata) == []
    assert current_revision(db.engine) == head_revision(db.engine)  # type: ignore[arg-type]


def test_times_come_back_aware_and_in_utc(session: Session) -> None:
    moment = datetime(2026, 6, 1, 9, 30, tzinfo=UTC) + timedelta(microseconds=5)
    episode = make_episode(session)
    episode.invited_at = moment
    session.commit()
    session.expire_all()
    stored = session.get(Episode, episode.id)
    assert stored is not None and stored.invited_at == moment
    assert stored.invited_at.tzinfo is not None


def test_naive_times_are_refused(session: Session) -> None:
    episode = make_episode(session)
    episode.invited_at = datetime(2026, 6, 1, 9, 30)
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()


def test_an_episode_keeps_at_most_one_response(session: Session) -> None:
    episode = make_episode(session)
    for _ in range(2):
        session.add(
            Response(
                episode_id=episode.id,
                questionnaire_id="barts-social-welfare",
                questionnaire_version=1,
                mode=c.MODE_SMS,
                language="en",
            )
        )
    with pytest.raises(IntegrityError):
        session.flush()


def test_an_episode_gets_one_invitation_whatever_runs_twice(session: Session) -> None:
    episode = make_episode(session)
    due = datetime(2026, 6, 1, 9, tzinfo=UTC)
    session.add(OutboundMessage(episode_id=episode.id, kind=c.MESSAGE_INVITE, due_at=due))
    session.add(OutboundMessage(episode_id=episode.id, kind=c.MESSAGE_INVITE, due_at=due))
    with pytest.raises(IntegrityError):
        session.flush()


def test_unknown_statuses_are_refused_by_the_database(session: Session) -> None:
    episode = make_episode(session)
    session.add(TriageTask(episode_id=episode.id, status="lost"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_episode_facts_hold_no_identifiable_columns() -> None:
    identifiable = {"nhs_number", "given_name", "family_name", "date_of_birth", "mobile"}
    for table in Base.metadata.sorted_tables:
        if table.name == "patients":
            continue
        assert identifiable.isdisjoint(table.columns.keys()), table.name


def test_a_purged_patient_leaves_the_counts(session: Session) -> None:
    episode = make_episode(session)
    episode.completed_at = datetime(2026, 6, 1, tzinfo=UTC)
    patient = session.get(Patient, episode.patient_id)
    assert patient is not None
    patient.nhs_number = patient.given_name = patient.family_name = None
    patient.purged_at = datetime(2026, 7, 1, tzinfo=UTC)
    session.commit()
    completed = session.scalar(
        select(text("count(*)")).select_from(Episode).where(Episode.completed_at.is_not(None))
    )
    assert completed == 1


def test_sqlite_runs_in_wal_mode_on_every_connection(session: Session) -> None:
    if db.engine.dialect.name != "sqlite":  # type: ignore[union-attr]
        pytest.skip("SQLite only")
    for _ in range(2):
        with db.engine.connect() as connection:  # type: ignore[union-attr]
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_an_episode_public_id_carries_128_random_bits_and_sorts_by_creation(
    session: Session,
) -> None:
    """The link token is made from it (SPEC §8: at least 128 bits of randomness)."""
    first = make_episode(session)
    second = Episode(patient_id=first.patient_id, questionnaire_id="another")
    session.add(second)
    session.flush()
    for episode in (first, second):
        created, random_part = episode.public_id[:8], episode.public_id[8:]
        assert abs(int(created, 16) - datetime.now(UTC).timestamp()) < 60
        assert len(base64.urlsafe_b64decode(random_part + "==")) == 16
        assert len(episode.public_id) <= Episode.public_id.type.length
    assert first.public_id[8:] != second.public_id[8:]
    assert first.public_id[:8] <= second.public_id[:8]  # the later one sorts no earlier


def test_migration_0011_moves_searched_nhs_numbers_out_of_the_audit_trail(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0010")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO patients (id, nhs_number, created_at, updated_at) "
            "VALUES (7, '9990000018', '2026-01-01', '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO audit_events (id, at, action, detail) VALUES "
            '(1, \'2026-01-02\', \'view_audit\', \'{"patient": "9990000018", "page": "2"}\'), '
            "(2, '2026-01-02', 'view_audit', '{\"patient\": \"9990000026\"}'), "
            "(3, '2026-01-02', 'login', '{\"method\": \"sso\"}')"
        )
    command.upgrade(alembic_config(engine), "head")
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT id, patient_id, detail FROM audit_events ORDER BY id"
        ).all()
    engine.dispose()
    assert [(r[0], r[1], json.loads(r[2]) if r[2] else None) for r in rows] == [
        (1, 7, {"page": "2"}),
        (2, None, None),  # a number nobody held: gone, and no patient to name
        (3, None, {"method": "sso"}),
    ]


@pytest.fixture(params=BACKENDS)
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, for a migration's own test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"screening_migration_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migration_0015_keeps_staff_tasks_referrals_and_waiting_alerts_and_comes_back(
    unmigrated_url: str,
) -> None:
    """Partners need the staff table copied on SQLite (a new role in its check), and the
    referrals table for their answers' checks: every task, referral and audit event naming
    a colleague keeps them, and an urgent alert still waiting moves into the one mail
    outbox; the downgrade brings it all back."""
    engine = make_engine(unmigrated_url)
    config = alembic_config(engine)
    command.upgrade(config, "0014")
    with engine.begin() as connection:
        run = connection.exec_driver_sql
        run(
            "INSERT INTO staff_users (id, email, password_hash, role, active, failed_logins, "
            "session_generation, created_at) VALUES "
            "(3, 'sp@example.nhs.uk', 'x', 'prescriber', true, 0, 1, '2026-01-01')"
        )
        run(
            "INSERT INTO patients (id, created_at, updated_at) "
            "VALUES (7, '2026-01-01', '2026-01-01')"
        )
        run(
            "INSERT INTO episodes (id, public_id, patient_id, questionnaire_id, status, mode, "
            "dob_failures, created_at, referred_at) VALUES (5, 'p5', 7, "
            "'barts-social-welfare', 'completed', 'sms', 0, '2026-01-01', '2026-01-02')"
        )
        run(
            "INSERT INTO triage_tasks (id, episode_id, status, priority, assigned_to_user_id, "
            "updated_at, version, created_at) VALUES "
            "(9, 5, 'assigned', 'urgent', 3, '2026-01-02', 1, '2026-01-02')"
        )
        run(
            "INSERT INTO referrals (id, task_id, service_id, to_pcn, status, referred_at, "
            "by_user_id) VALUES (4, 9, 'food-bank', false, 'accepted', '2026-01-02', 3)"
        )
        run(
            "INSERT INTO alert_mails (task_id, status, attempts, created_at) "
            "VALUES (9, 'pending', 2, '2026-01-02')"
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        run = connection.exec_driver_sql
        assert run("SELECT assigned_to_user_id FROM triage_tasks").scalar() == 3
        assert run("SELECT id, status, by_user_id FROM referrals").all() == [(4, "accepted", 3)]
        assert run("SELECT kind, task_id, status, attempts FROM mails").all() == [
            ("urgent_alert", 9, "pending", 2)
        ]
        # The funnel's stages integer, rebuilt with `helped`: referred is still bit 7.
        assert run("SELECT stages_reached FROM episodes").scalar() == 1 << 7
        if engine.dialect.name == "sqlite":
            assert run("PRAGMA foreign_key_check").all() == []
    command.downgrade(config, "0014")
    with engine.connect() as connection:
        run = connection.exec_driver_sql
        assert run("SELECT task_id, attempts FROM alert_mails").all() == [(9, 2)]
        assert run("SELECT id, role FROM staff_users").all() == [(3, "prescriber")]
        assert run("SELECT id, status FROM referrals").all() == [(4, "accepted")]
    engine.dispose()
