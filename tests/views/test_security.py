"""Headers on every response, the vendored NHS.UK assets, and the error pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.pages import page, text_of

STATIC = Path(__file__).resolve().parents[2] / "static"


def csp_directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_pages_carry_a_nonce_based_csp_that_matches_every_script(client: FlaskClient) -> None:
    response = client.get("/login")
    html = page(response, title="Sign in")

    csp = csp_directives(response.headers["Content-Security-Policy"])
    nonce = re.fullmatch(r"'self' 'nonce-([\w-]+)'", csp["script-src"]).group(1)
    scripts = html.find_all("script")
    assert len(scripts) == 2  # the template's class setter and our module loader
    assert all(script["nonce"] == nonce for script in scripts)
    assert csp["default-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["font-src"] == "'self' https://assets.nhs.uk"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["form-action"] == "'self'"
    assert csp["base-uri"] == "'none'"


def test_each_response_gets_a_new_nonce(client: FlaskClient) -> None:
    first = client.get("/login").headers["Content-Security-Policy"]
    second = client.get("/login").headers["Content-Security-Policy"]

    assert first != second


def test_html_is_never_cached_nor_framed_nor_sent_as_a_referrer(client: FlaskClient) -> None:
    response = client.get("/login")

    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # http:// in tests


def test_redirects_and_error_pages_are_not_cached_either(client: FlaskClient) -> None:
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert client.get("/no-such-page").headers["Cache-Control"] == "no-store"


def test_the_page_loads_the_vendored_nhsuk_frontend(client: FlaskClient) -> None:
    html = page(client.get("/login"), title="Sign in")

    assert html.html["lang"] == "en"
    assert html.find("link", rel="stylesheet")["href"] == "/assets/nhsuk-frontend.min.css"
    loader = html.find("script", type="module")
    assert 'import {initAll} from "/assets/nhsuk-frontend.min.js"' in loader.string
    assert html.main["id"] == "maincontent"


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/assets/nhsuk-frontend.min.css", "text/css"),
        ("/assets/nhsuk-frontend.min.js", "text/javascript"),
        ("/assets/images/favicon.ico", "image/vnd.microsoft.icon"),
        ("/assets/manifest.json", "application/json"),
    ],
)
def test_assets_are_served_and_may_be_cached(client: FlaskClient, path: str, mimetype: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_every_image_the_css_refers_to_is_vendored() -> None:
    css = (STATIC / "nhsuk-frontend.min.css").read_text()
    images = set(re.findall(r"url\(/assets/(images/[^)]+)\)", css))

    assert images, "the CSS no longer refers to /assets/images: check the vendored version"
    assert [image for image in sorted(images) if not (STATIC / image).is_file()] == []
    assert "NHS.UK frontend 10.6.1" in (STATIC / "LICENSE-nhsuk-frontend.txt").read_text()


def test_an_unknown_page_is_an_nhs_style_404(client: FlaskClient) -> None:
    html = page(client.get("/no-such-page"), status=404, title="Page not found")

    assert html.main["data-page"] == "error"
    assert "check it was correct" in text_of(html.main)


def test_a_server_error_is_a_friendly_500_without_details(app: Flask) -> None:
    @app.get("/test-boom")
    def boom() -> str:
        raise RuntimeError("secret detail")

    app.config["PROPAGATE_EXCEPTIONS"] = False

    response = app.test_client().get("/test-boom")
    html = page(response, status=500, title="Sorry, there is a problem with the service")

    assert html.main["data-page"] == "error"
    assert "secret detail" not in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
