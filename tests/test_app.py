"""The application factory's deployment settings."""

from __future__ import annotations

from pathlib import Path

import pytest
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


@pytest.mark.parametrize(
    ("offered", "encoding"),
    [("gzip, deflate, br, zstd", "br"), ("gzip, deflate", "deflate")],  # HTTPS, plain HTTP
)
def test_assets_are_compressed_and_cached_but_pages_are_not(
    tmp_path: Path, offered: str, encoding: str
) -> None:
    app = create_app(app_overrides("sqlite://", tmp_path / "instance"))
    client = app.test_client()
    css = client.get("/assets/nhsuk-frontend.min.css", headers={"Accept-Encoding": offered})
    assert css.headers["Content-Encoding"] == encoding
    assert len(css.get_data()) < 40_000  # 272 KB uncompressed
    assert "max-age=86400" in css.headers["Cache-Control"]
    html = client.get("/login", headers={"Accept-Encoding": offered})
    assert "Content-Encoding" not in html.headers
