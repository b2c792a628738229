"""Accessibility checks with axe-core, and screenshots, for pages in a real browser.

axe-core is vendored (`vendor/axe.min.js`, MPL-2.0, version in `vendor/LICENSE-axe-core.txt`)
so no test needs npm or the network.

axe goes in through Playwright's `evaluate` (the DevTools protocol), not a `<script>` tag:
the app's Content-Security-Policy rightly refuses an inline script without its nonce, and
turning the policy off for tests would hide the policy's own regressions. A page without
JavaScript cannot run axe at all (no timers fire), so its DOM, exactly as Chromium parsed
it without scripts, is checked in a scripting copy of the page: same URL, same CSS, its
`<script>`s removed and its `<noscript>` contents kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, Route

VENDOR = Path(__file__).resolve().parent / "vendor"
AXE_JS = VENDOR / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"  # git-ignored

# The one host outside the hospital's origin that pages may use (SPEC §8): NHS fonts.
FONT_HOST = "https://assets.nhs.uk"
# A small phone: the browser context options every browser test uses.
PHONE: dict[str, Any] = {
    "viewport": {"width": 375, "height": 667},
    "is_mobile": True,
    "has_touch": True,
}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
TARGETS_SHOWN = 3

_RUN_AXE = """
async (tags) => {
  const results = await axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations'],
  });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    targets: v.nodes.map((n) => n.target.join(' ')),
    summary: v.nodes.length ? v.nodes[0].failureSummary : '',
  }));
}
"""

# The page's DOM as parsed, as HTML a scripting browser renders the same way.
_SCRIPTLESS_COPY = """
() => {
  const root = document.documentElement.cloneNode(true);
  root.querySelectorAll('script').forEach((s) => s.remove());
  root.querySelectorAll('noscript').forEach((n) => n.replaceWith(...n.childNodes));
  const doctype = document.doctype ? new XMLSerializer().serializeToString(document.doctype) : '';
  return doctype + root.outerHTML;
}
"""


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def axe_version() -> str:
    first_line = _axe_source().split("\n", 1)[0]  # "/*! axe v4.14.1"
    return first_line.removeprefix("/*! axe v").strip()


def check_accessibility(page: Page) -> None:
    """Assert that the page as it is now has no WCAG 2.2 A/AA violation axe-core can find,
    and that it fits the viewport's width (WCAG 1.4.10 Reflow: no sideways scrolling)."""
    if page.evaluate("matchMedia('(scripting: enabled)').matches"):
        violations = _run_axe(page)
    else:
        violations = _run_axe_on_scriptless_copy(page)
    assert not violations, describe_violations(page.url, violations)
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], (
        f"{page.url} scrolls sideways: {widths[0]} CSS px of content in {widths[1]} px"
    )


def _run_axe(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    return page.evaluate(_RUN_AXE, WCAG_TAGS)


def _run_axe_on_scriptless_copy(page: Page) -> list[dict[str, Any]]:
    browser = page.context.browser
    assert browser is not None
    copies = _copy_page(browser)
    copies.html = page.evaluate(_SCRIPTLESS_COPY)
    copies.origin = _origin(page.url)
    copies.page.set_viewport_size(page.viewport_size or PHONE["viewport"])
    # From a blank page, so that a URL differing from the last copy's by its #fragment
    # only still loads the new copy rather than scrolling the old one.
    copies.page.goto("about:blank")
    copies.page.goto(page.url)
    return _run_axe(copies.page)


@dataclass
class _CopyPage:
    """A scripting page that shows the copy it is given at any URL. One per browser, kept
    for the session: a fresh context per check (the CSS fetched again, axe compiled anew)
    made each check without JavaScript about three times slower."""

    page: Page
    html: str = ""
    origin: tuple[str, str] = ("", "")


_copy_pages: dict[int, _CopyPage] = {}  # by id(browser); closed with their browser


def _copy_page(browser: Browser) -> _CopyPage:
    copies = _copy_pages.get(id(browser))
    if copies is not None and not copies.page.is_closed():
        return copies
    context = browser.new_context(**PHONE, java_script_enabled=True, service_workers="block")
    copies = _CopyPage(context.new_page())

    def handle(route: Route) -> None:
        request = route.request
        if request.is_navigation_request():
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=copies.html)
        elif _origin(request.url) == copies.origin:
            route.continue_()  # the same CSS and images the page itself loaded
        elif request.url.startswith(f"{FONT_HOST}/"):
            route.fulfill(status=200, body=b"")
        else:
            route.abort("blockedbyclient")

    context.route("**/*", handle)
    _copy_pages[id(browser)] = copies
    return copies


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def describe_violations(url: str, violations: list[dict[str, Any]]) -> str:
    lines = [
        f"axe-core {axe_version()} found {len(violations)} accessibility "
        f"violation{'s' if len(violations) != 1 else ''} at {url}:"
    ]
    for violation in violations:
        targets = violation["targets"]
        shown = ", ".join(targets[:TARGETS_SHOWN])
        more = f" (+{len(targets) - TARGETS_SHOWN} more)" if len(targets) > TARGETS_SHOWN else ""
        # "Fix any of the following:\n  Element has ...\n  ..."; the first reasons suffice.
        reasons = [line.strip() for line in str(violation["summary"]).splitlines()]
        summary = "; ".join(line for line in reasons[:4] if line)
        lines += [
            f"- {violation['id']} ({violation['impact']}): {violation['help']}",
            f"    on {shown}{more}",
            f"    first: {summary}",
            f"    {violation['helpUrl']}",
        ]
    return "\n".join(lines)


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG as tests/artifacts/<name>.png, for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


DESKTOP: dict[str, int] = {"width": 1280, "height": 800}


def check_both_widths(page: Page, name: str, javascript: bool) -> None:
    """No violation and no sideways scroll on a phone and on a desktop screen, with a
    screenshot of each in tests/artifacts/; the page is left at the phone's width."""
    for width, size in (("phone", PHONE["viewport"]), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        check_accessibility(page)
        screenshot(page, f"{name}-{width}-{'js' if javascript else 'no-js'}")
    page.set_viewport_size(PHONE["viewport"])
