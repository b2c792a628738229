"""Fixtures for the SMS clients: a fake Twilio and configs that can only reach it."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from screening import create_app
from screening.config import Config, load_config
from screening.core.extensions import db
from tests.conftest import _empty_tables, app_overrides
from tests.fake_twilio import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + secrets.token_hex(16)
AUTH_TOKEN = secrets.token_hex(16)
MESSAGING_SERVICE_SID = "MG" + secrets.token_hex(16)
WORKERS_SECRET_KEY = "workers-test-" + "k" * 40  # the same links from every process

ConfigFactory = Callable[..., Config]


@pytest.fixture(autouse=True)
def no_real_twilio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to resolve a twilio.com host fails the test: only the fake is reachable."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str | bytes) and "twilio.com" in str(host):
            raise AssertionError(f"a test tried to reach the real Twilio at {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture(scope="module")
def fake_twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def fake_twilio(fake_twilio_server: FakeTwilio) -> Iterator[FakeTwilio]:
    fake_twilio_server.reset()
    yield fake_twilio_server
    fake_twilio_server.reset()


def twilio_environ(fake: FakeTwilio, instance_dir: Path, **overrides: str | None) -> dict[str, str]:
    """Environment for the twilio backend pointed at `fake`; None removes a variable."""
    environ: dict[str, str | None] = {
        "SCREENING_ENV": "test",
        "SCREENING_SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
        "SCREENING_TWILIO_API_BASE": fake.base_url,
        "SCREENING_PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "SCREENING_INSTANCE_DIR": str(instance_dir),
        "SCREENING_CONFIG_DIR": str(ROOT / "config"),
        "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
    }
    environ.update(overrides)
    return {name: value for name, value in environ.items() if value is not None}


@pytest.fixture
def twilio_config(fake_twilio: FakeTwilio, tmp_path: Path) -> ConfigFactory:
    """`twilio_config(TWILIO_FROM_NUMBER="+44...", TWILIO_MESSAGING_SERVICE_SID=None)`."""

    def make(**overrides: str | None) -> Config:
        return load_config(environ=twilio_environ(fake_twilio, tmp_path, **overrides))

    return make


@pytest.fixture
def seeding_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The test's own app on the shared database, with the worker processes' secret key."""
    app = create_app(
        app_overrides(database_url, tmp_path / "instance", SCREENING_SECRET_KEY=WORKERS_SECRET_KEY)
    )
    with app.app_context():
        yield app
    _empty_tables()


@pytest.fixture
def seeding_session(seeding_app: Flask) -> Session:
    return db.session()
