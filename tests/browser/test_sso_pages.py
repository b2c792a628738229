"""Single sign-on in Chromium on a phone: our sign-in page with the provider's button, the
provider's own page, and back signed in; and the page that refuses an account without a
role. Our pages have no WCAG 2.2 A/AA violations (axe-core) with or without JavaScript."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Route, expect
from werkzeug.serving import make_server

from screening import create_app

from ..conftest import app_overrides
from ..oidc_provider import CLIENT_ID, CLIENT_SECRET, free_port, running_provider
from .axe import FONT_HOST, PHONE, check_accessibility, screenshot
from .conftest import TIMEOUT_MS, PageLog, _watch

ACCOUNTS = {
    "sp": {"email": "sp@barts.nhs.uk", "roles": ["Screening.SP"]},
    "visitor": {"email": "visitor@barts.nhs.uk", "roles": []},
}

pytestmark = pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])


@pytest.fixture(scope="module")
def sso_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Flask]]:
    """Our app with single sign-on on a live server, and the provider: (ours, provider)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_provider(ACCOUNTS, url) as provider:
        app = create_app(
            app_overrides(
                database_url,
                tmp_path_factory.mktemp("sso-instance"),
                SCREENING_PUBLIC_BASE_URL=url,
                SCREENING_OIDC_ISSUER=provider.issuer,
                SCREENING_OIDC_CLIENT_ID=CLIENT_ID,
                SCREENING_OIDC_CLIENT_SECRET=CLIENT_SECRET,
                SCREENING_OIDC_SCOPES="openid email profile roles",
                SCREENING_OIDC_ROLES="prescriber=Screening.SP",
                SCREENING_OIDC_NAME="NHSmail",
            )
        )
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield url, provider.issuer, app
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def sso_page(
    browser: Browser, sso_server: tuple[str, str, Flask], app: Flask, javascript: bool
) -> Iterator[Page]:
    ours, provider, _ = sso_server
    log = PageLog()
    context = browser.new_context(**PHONE, base_url=ours, java_script_enabled=javascript)
    context.set_default_timeout(TIMEOUT_MS)

    def route(request_route: Route) -> None:
        url = request_route.request.url
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        if origin in (ours, provider):
            request_route.continue_()
        elif url.startswith(f"{FONT_HOST}/"):
            request_route.fulfill(status=200, body=b"")
        elif request_route.request.frame.url.startswith(provider):
            request_route.abort("blockedbyclient")  # the provider page's own web fonts
        else:
            log.offsite_requests.append(url)
            request_route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    _watch(page, log)
    yield page
    context.close()
    problems = log.problems()
    assert not problems, "\n".join(problems)


def sign_in_on_the_provider(page: Page, login: str) -> None:
    page.goto("/login")
    expect(page.locator("main")).to_have_attribute("data-page", "login")
    page.get_by_role("link", name="Sign in with NHSmail").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()


def test_the_sign_in_page_offers_the_provider_after_the_password_form(
    sso_page: Page, javascript: bool
) -> None:
    sso_page.goto("/login")
    forms = sso_page.locator("main form[method=post]")
    expect(forms.first.locator("input[name=email]")).to_have_count(1)
    expect(sso_page.get_by_role("heading", name="Or use NHSmail")).to_be_visible()
    check_accessibility(sso_page)
    screenshot(sso_page, f"staff-login-sso-{'js' if javascript else 'no-js'}")


def test_a_prescriber_signs_in_through_the_provider_and_reaches_the_queue(
    sso_page: Page,
) -> None:
    sign_in_on_the_provider(sso_page, "sp")
    expect(sso_page.locator("main")).to_have_attribute("data-page", "home")
    sso_page.goto("/triage")
    expect(sso_page.locator("main")).to_have_attribute("data-page", "queue")
    check_accessibility(sso_page)


def test_an_account_without_a_role_gets_the_reason_in_an_error_summary(
    sso_page: Page, javascript: bool
) -> None:
    sign_in_on_the_provider(sso_page, "visitor")
    summary = sso_page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("not given a role in this service")
    expect(sso_page.locator("main")).to_have_attribute("data-page", "login")
    check_accessibility(sso_page)
    screenshot(sso_page, f"staff-login-sso-refused-{'js' if javascript else 'no-js'}")
