"""Pages in tests: `page()` is the one helper for HTML assertions (status, title, parsed
HTML); `OwnContextClient` makes requests the way a browser meets the app."""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def page(response: TestResponse, status: int = 200, title: str | None = None) -> BeautifulSoup:
    body = response.get_data(as_text=True)
    assert response.status_code == status, (
        f"expected HTTP {status}, got {response.status_code}: {body[:500]}"
    )
    assert response.mimetype == "text/html", f"expected HTML, got {response.mimetype}"
    html = BeautifulSoup(body, "html.parser")
    if title is not None:
        assert html.title is not None, "the page has no <title>"
        assert title in html.title.get_text(), f"{title!r} not in title {html.title.get_text()!r}"
    return html


def text_of(html: BeautifulSoup) -> str:
    """The visible words of a page, with whitespace collapsed, for `in` checks."""
    return " ".join(html.get_text(" ").split())


class OwnContextClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    The `app` fixture keeps an app context pushed for the whole test, and Flask reuses it
    for requests made inside it, so `g` (Flask-Login's cached user, the CSP nonce) would
    otherwise carry over from one request to the next and hide bugs.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        with self.application.app_context():
            return super().open(*args, **kwargs)


def csrf_token(html: BeautifulSoup) -> str:
    """The CSRF token of the first form on a page."""
    field = html.find("input", attrs={"name": "csrf_token"})
    assert field is not None, "the page has no CSRF token"
    return str(field["value"])
