"""Headers every response carries, and the NHS.UK-styled error pages.

The Content-Security-Policy allows scripts only from our own origin or with this request's
nonce: the NHS.UK template's one inline script and our module loader both carry it, so an
injected `<script>` cannot run. Pages can hold patient answers, so HTML is never cached.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from ..config.loaded import state
from ..core.extensions import db

log = logging.getLogger(__name__)
FONT_HOST = "https://assets.nhs.uk"  # Frutiger for the NHS.UK CSS; not ours to vendor


def csp_nonce() -> str:
    """This request's nonce, made on first use and shared by the page and its header."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def content_security_policy(nonce: str, sign_out_origin: str | None = None) -> str:
    # Signing out of single sign-on redirects the sign-out form's POST to the provider,
    # and browsers hold redirects after a form to form-action as well.
    form_targets = f"'self' {sign_out_origin}" if sign_out_origin else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"font-src 'self' {FONT_HOST}",
            "object-src 'none'",  # no plugin content, whatever a page is made to hold
            "frame-ancestors 'none'",
            f"form-action {form_targets}",
            "base-uri 'none'",
        ]
    )


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_add_security_headers)
    for status, template in ERROR_PAGES.items():
        app.register_error_handler(status, _error_page(template, status))
    app.register_error_handler(CSRFError, _form_expired)
    app.register_error_handler(500, _server_error)
    # The database restarting or unreachable: a page that says try again, not a 500. The
    # pool checks each connection before use (pre-ping), so the next request recovers.
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)


def _add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy", content_security_policy(csp_nonce(), _provider_origin())
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    if current_app.config["PREFERRED_URL_SCHEME"] == "https":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if response.mimetype == "text/html" and not _is_asset(request.path):
        # A shared computer's back button or cache must not show someone's answers.
        headers["Cache-Control"] = "no-store"
    return response


def _provider_origin() -> str | None:
    sso = state().config.sso
    if sso is None:
        return None
    parts = urlsplit(sso.issuer)
    return f"{parts.scheme}://{parts.netloc}"


def _is_asset(path: str) -> bool:
    return path.startswith(f"{current_app.static_url_path}/")


# --- error pages -------------------------------------------------------------------------

ERROR_PAGES = {
    403: "errors/403.html",
    404: "errors/404.html",
    429: "errors/429.html",
}


def _error_page(template: str, status: int):
    def render(_error: HTTPException) -> tuple[str, int]:
        return render_template(template), status

    render.__name__ = f"error_{status}"
    return render


def _form_expired(_error: CSRFError) -> tuple[str, int]:
    return render_template("errors/400.html"), 400


def _database_unavailable(error: Exception) -> tuple[str, int, dict[str, str]]:
    log.warning("database unavailable (%s)", type(error).__name__)
    db.end_session()  # its connection may be gone with the database
    return render_template("errors/503.html"), 503, {"Retry-After": "30"}


def _server_error(_error: HTTPException) -> tuple[str, int]:
    # Flask has already logged the exception. The failed transaction must not leak into
    # the page render.
    db.session.rollback()
    return render_template("errors/500.html"), 500
