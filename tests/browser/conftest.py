"""Real-browser fixtures: the app on a live server, Debian's Chromium driven by Playwright.

- `live_server`: the real app, served by werkzeug in a background thread on 127.0.0.1 and a
  free port, once per database backend. It shares the test database with the `app` and
  `session` fixtures, so a test seeds rows through `session` and sees them in the browser;
  the `app` fixture empties the tables after each test. An exception in the app fails the
  test that caused it. Both serve the test clinics (`tests/fixtures/config`).
- `browser_page`: a fresh browser context per test, sized like a phone (375×667), with
  JavaScript on unless the test parametrises `javascript` to False. Every request must stay
  on the live server's origin (SPEC §8, §9): the NHS font host gets an empty reply, and any
  other request is blocked and fails the test, as do an uncaught script error, a console
  error (a Content-Security-Policy violation, say) and a page resource (CSS, script,
  image) that answers with an error. `page_log` holds what was found.
- `new_phone`: opens another such context (a second phone, with no cookies) when a test
  needs more than one; they share `page_log` and its checks.

Chromium is Debian's `/usr/bin/chromium` (`.ci/run` installs it); `playwright install` is
never run. Without it these tests skip, except with CI=true, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    Response,
    Route,
    expect,
    sync_playwright,
)
from sqlalchemy.pool import SingletonThreadPool, StaticPool
from werkzeug.serving import BaseWSGIServer, make_server

from screening import create_app
from screening.core.extensions import db

from ..conftest import app_overrides, settings_for_test_clinics
from .axe import FONT_HOST, PHONE

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000  # Playwright's default of 30 s only slows down a failing run.
# `expect` waits on its own clock (5 s by default): the same, so a busy machine is not a failure.
expect.set_options(timeout=TIMEOUT_MS)
# What the empty font replies make Chromium say. "Failed to load resource" repeats what
# the response and request checks already record (and a 404 page's own status).
IGNORED_CONSOLE_ERRORS = (
    "Failed to decode downloaded font",
    "OTS parsing error",
    "Failed to load resource",
)


# --- the live server ---------------------------------------------------------------------


@dataclass
class LiveServer:
    """The app as a browser meets it: `url` is its origin (`http://127.0.0.1:PORT`)."""

    url: str
    app: Flask
    errors: list[str] = field(default_factory=list)


class _RecordErrors:
    """WSGI middleware keeping the traceback of any exception the app lets out.

    The test configuration propagates exceptions; werkzeug would only log them and answer
    500, so the test that caused one is failed at its teardown instead.
    """

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.app: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        assert self.app is not None
        try:
            return self.app(environ, start_response)
        except Exception:
            self.errors.append(
                f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}\n{traceback.format_exc()}"
            )
            raise


@pytest.fixture(scope="session")
def _test_clinics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return settings_for_test_clinics(tmp_path_factory.mktemp("test-clinics"))


@pytest.fixture
def settings(_test_clinics: dict[str, str]) -> dict[str, str]:
    """The `app` fixture's configuration is the live server's: a row seeded through
    `session` (a clinic, an episode's questionnaire) must mean the same to both."""
    return _test_clinics


@pytest.fixture(scope="session")
def _live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, _test_clinics: dict[str, str]
) -> Iterator[LiveServer]:
    errors: list[str] = []
    middleware = _RecordErrors(errors)
    # Bind first (port 0: the system picks a free one, with no race), then build the app
    # knowing its own address, so links it makes (SMS links) point at this server.
    server: BaseWSGIServer = make_server("127.0.0.1", 0, middleware, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    instance = tmp_path_factory.mktemp("live-instance")
    app = create_app(
        app_overrides(database_url, instance, SCREENING_PUBLIC_BASE_URL=url, **_test_clinics)
    )
    middleware.app = app.wsgi_app
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, app=app, errors=errors)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def app(_live_server: LiveServer, app: Flask) -> Flask:
    """The root `app` fixture, built after the live server whatever order a test names its
    fixtures in: building an app rebinds the process's one engine (`db.configure`), which
    must not happen under rows a test has just seeded. The live server ignores `settings`.
    """
    return app


@pytest.fixture
def live_server(_live_server: LiveServer, app: Flask) -> Iterator[LiveServer]:
    """The live server, for a test that also has the `app` fixture's database and cleanup.

    `screening.core.extensions.db` is one engine and one thread-scoped session for the process:
    each request thread gets its own session, removed when the request ends. The pool
    must hand a connection to one thread at a time (SQLite files get a QueuePool).
    """
    assert db.engine is not None
    assert not isinstance(db.engine.pool, SingletonThreadPool | StaticPool), (
        f"{type(db.engine.pool).__name__} would share connections between the test and "
        "the server's threads"
    )
    _live_server.errors.clear()
    yield _live_server
    errors, _live_server.errors[:] = list(_live_server.errors), []
    assert not errors, "the app raised while serving the browser:\n" + "\n".join(errors)


# --- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} is missing: `apt-get install -y chromium` "
            "(.ci/run installs it; never `playwright install`)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    playwright = sync_playwright().start()
    try:
        yield playwright
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def browser(_playwright: Playwright) -> Iterator[Browser]:
    browser = _playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def javascript() -> bool:
    """Whether the page runs scripts; parametrise it to test a page without JavaScript."""
    return True


@dataclass
class PageLog:
    """What a page did that a test must not allow."""

    offsite_requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    broken_resources: list[str] = field(default_factory=list)
    font_requests: list[str] = field(default_factory=list)  # answered here, empty

    def problems(self) -> list[str]:
        return (
            [f"request left the app's origin: {r}" for r in self.offsite_requests]
            + [f"script error: {e}" for e in self.script_errors]
            + [f"page resource failed: {r}" for r in self.broken_resources]
        )


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def new_phone(
    browser: Browser, live_server: LiveServer, javascript: bool, page_log: PageLog
) -> Iterator[Callable[[], Page]]:
    """Opens a new phone-sized page, in a context of its own, on the live server; relative
    `goto` paths work. What any of them did wrong fails the test at teardown."""
    contexts: list[BrowserContext] = []

    def open_phone() -> Page:
        context = browser.new_context(
            **PHONE,
            base_url=live_server.url,
            java_script_enabled=javascript,
            service_workers="block",  # every request goes through the route below
        )
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", _only_our_origin(live_server.url, page_log))
        page = context.new_page()
        _watch(page, page_log)
        return page

    try:
        yield open_phone
    finally:
        for context in contexts:
            with contextlib.suppress(Error):  # a browser that died has said why already
                context.close()
    problems = page_log.problems()
    assert not problems, "\n".join(problems)


def _watch(page: Page, log: PageLog) -> None:
    """Record on `log` what `page` does wrong."""
    page.on("pageerror", lambda error: log.script_errors.append(str(error)))
    page.on("console", lambda message: _console(message, log))
    page.on("response", lambda response: _resource(response, log))


@pytest.fixture
def browser_page(new_phone: Callable[[], Page]) -> Page:
    """A new phone-sized page on the live server; relative `goto` paths work."""
    return new_phone()


def _only_our_origin(origin: str, log: PageLog) -> Callable[[Route], None]:
    ours = urlsplit(origin)

    def handle(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) == (ours.scheme, ours.netloc):
            route.continue_()
        elif url.startswith(f"{FONT_HOST}/"):
            # Frutiger comes from the NHS font host, which tests must not reach: an empty
            # reply leaves the page on its fallback font, as it would be offline.
            log.font_requests.append(url)
            route.fulfill(status=200, body=b"")
        else:
            log.offsite_requests.append(f"{route.request.method} {url}")
            route.abort("blockedbyclient")

    return handle


def _console(message: ConsoleMessage, log: PageLog) -> None:
    if message.type != "error":
        return
    text = message.text
    if any(ignored in text for ignored in IGNORED_CONSOLE_ERRORS):
        return
    log.script_errors.append(f"console: {text}")


def _resource(response: Response, log: PageLog) -> None:
    # Pages may answer 4xx/5xx on purpose (a 404 page); what they load must not.
    if response.status >= 400 and not response.request.is_navigation_request():
        log.broken_resources.append(f"{response.status} {response.url}")
