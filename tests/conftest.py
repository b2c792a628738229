"""Shared fixtures.

Every test that asks for `database_url` (directly or through `app`/`session`) runs once
per database: SQLite always, PostgreSQL when reachable. With CI=true an unreachable
PostgreSQL fails the run instead of being skipped. Schemas are built with the real
Alembic migrations, never `create_all()`.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, scoped_session

from screening import create_app
from screening.core import logs
from screening.core.db import Base, make_engine
from screening.core.extensions import db
from screening.models.migrate import upgrade_to_head

from .mailbox import Inbox, smtp_server
from .pages import OwnContextClient

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
POSTGRES_ADMIN_URL = os.environ.get(
    "SCREENING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


POSTGRES = _postgres_reachable()
BACKENDS = ["sqlite", "postgresql"] if POSTGRES else ["sqlite"]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and not POSTGRES:
        raise pytest.UsageError(
            f"CI=true but PostgreSQL is unreachable at {POSTGRES_ADMIN_URL}: "
            "every database test must run on PostgreSQL in CI"
        )


def pytest_report_header() -> str:
    return f"databases: {', '.join(BACKENDS)}"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A fresh, migrated database for this run, on each backend in turn."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "screening.db"
        url = f"sqlite:///{path}"
        _migrate(url)
        yield url
        return
    name = f"screening_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    db.session.remove()
    if db.engine is not None:
        db.engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()


def app_overrides(database_url: str, instance: Path, **more: str) -> dict[str, str]:
    return {
        "SCREENING_ENV": "test",
        "SCREENING_DATABASE_URL": database_url,
        "SCREENING_INSTANCE_DIR": str(instance),
        "SCREENING_CONFIG_DIR": str(ROOT / "config"),
        "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
        # Tests can only reach the console backend (or a local fake Twilio, set per test).
        "SCREENING_SMS_BACKEND": "console",
        "SCREENING_TWILIO_API_BASE": "http://you-forgot-the-fake-twilio.invalid",
        "SCREENING_RATELIMIT_STORAGE_URL": "memory://",
        **more,
    }


def settings_for_test_clinics(folder: Path) -> dict[str, str]:
    """SPEC §6 variables for the test clinics (`fixtures/config`: a date-of-birth check, two
    languages, every item type), written under `folder`: the shipped questionnaires plus the
    test-only ones, and the test translation catalogue compiled (only sources are kept)."""
    questionnaires = folder / "questionnaires"
    shutil.copytree(ROOT / "questionnaires", questionnaires)
    for name in ("every-item-type.yaml", "two-languages.yaml"):
        shutil.copy(FIXTURES / "questionnaires" / "valid" / name, questionnaires)
    catalogues = folder / "translations"
    source = FIXTURES / "translations" / "ar" / "LC_MESSAGES" / "messages.po"
    compiled = catalogues / "ar" / "LC_MESSAGES" / "messages.mo"
    compiled.parent.mkdir(parents=True)
    with source.open("rb") as po, compiled.open("wb") as mo:
        write_mo(mo, read_po(po))
    return {
        "SCREENING_CONFIG_DIR": str(FIXTURES / "config"),
        "SCREENING_QUESTIONNAIRE_DIR": str(questionnaires),
        "SCREENING_TRANSLATIONS_DIR": str(catalogues),
    }


@pytest.fixture
def settings() -> dict[str, str]:
    """Extra SPEC §6 variables for the `app` fixture; override it in a test module."""
    return {}


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 that keeps what it is sent, and its port."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def app(database_url: str, tmp_path: Path, settings: dict[str, str]) -> Iterator[Flask]:
    app = create_app(app_overrides(database_url, tmp_path / "instance", **settings))
    # Every request gets its own app context, as in production, even though the test
    # keeps one pushed: otherwise `g` (the signed-in user, the CSP nonce) carries over.
    app.test_client_class = OwnContextClient
    with app.app_context():
        yield app
    _empty_tables()


def _empty_tables() -> None:
    """Each test starts from empty tables in the session's migrated database."""
    db.session.remove()
    assert db.engine is not None
    tables = Base.metadata.sorted_tables
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        # Appointments and episodes refer to each other, so no delete order satisfies both.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for table in tables:
            connection.execute(table.delete())
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


@pytest.fixture
def session(app: Flask) -> scoped_session[Session]:
    # The scoped proxy, not one session: each request ends with `db.session.remove()`,
    # and the proxy follows to the next session, so no connection is left mid-transaction.
    return db.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[str]]]:
    """Every line logged so far in the test, as the JSON formatter writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonLines())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)
    root.setLevel(level)
