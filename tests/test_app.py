"""The application factory's deployment settings."""

from __future__ import annotations

from pathlib import Path

from flask import request

from screening import create_app

from .conftest import app_overrides


def client_address_seen(tmp_path: Path, **overrides: str) -> str:
    app = create_app(app_overrides("sqlite://", tmp_path / "instance", **overrides))
    app.add_url_rule("/whoami", "whoami", lambda: request.remote_addr or "")
    response = app.test_client().get(
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    return response.get_data(as_text=True)


def test_forwarded_addresses_are_ignored_unless_a_proxy_is_trusted(tmp_path: Path) -> None:
    # Otherwise anyone could dodge the per-address limits by sending the header.
    assert client_address_seen(tmp_path) == "10.0.0.2"


def test_behind_one_trusted_proxy_the_client_address_is_used(tmp_path: Path) -> None:
    assert client_address_seen(tmp_path, SCREENING_TRUSTED_PROXIES="1") == "203.0.113.7"
