"""The application factory: configuration, extensions, blueprints (SPEC §5, §6)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import ChainableUndefined, ChoiceLoader, FileSystemLoader, PackageLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import Config, ConfigError, load_config
from .config.loaded import State, install
from .core import i18n, logs
from .core.extensions import compress, csrf, db, limiter, login_manager
from .questionnaire.loader import load_paths
from .staff import sso
from .views import (
    about,
    admin,
    assisted,
    auth,
    formatting,
    health,
    navigation,
    patient,
    referrals,
    reports,
    security,
    staff,
    triage,
    webhooks,
)

ROOT = Path(__file__).resolve().parent.parent
ASSET_MAX_AGE = timedelta(days=1)
# Patient forms must not expire under a slow patient (SPEC §9); staff sessions time out
# after 30 idle minutes on their own, so one generous CSRF lifetime serves both.
CSRF_TIME_LIMIT_SECONDS = 8 * 60 * 60

log = logging.getLogger(__name__)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `overrides` take the names of SPEC §6's environment variables."""
    try:
        config = load_config(overrides=overrides)
    except ConfigError as exc:
        raise _refusal(exc) from None
    if not logging.getLogger().handlers:
        # Under `flask run`, or gunicorn without deploy/gunicorn.conf.py, nobody else has
        # set logging up: JSON lines.
        logs.configure(config.log_level)
    logs.quiet_libraries()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        # The NHS.UK CSS refers to its images as /assets/images/...
        static_url_path="/assets",
    )
    _configure(app, config)
    logs.init_app(app, behind_proxy=config.trusted_proxies > 0)
    if config.trusted_proxies:
        # Rate limits and audit records need the patient's or user's address, not the
        # proxy's: trust exactly as many X-Forwarded-* hops as there are proxies.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=config.trusted_proxies,
            x_proto=config.trusted_proxies,
            x_host=config.trusted_proxies,
        )
    questionnaires = load_paths([config.questionnaire_dir])
    for problem in questionnaires.problems:
        log.error("questionnaire problem: %s", problem)
    install(app, State(config, questionnaires))
    _init_extensions(app, config)
    _register_blueprints(app)
    security.init_app(app)
    formatting.init_app(app)
    navigation.init_app(app)
    about.init_app(app)
    return app


def _refusal(exc: ConfigError) -> Exception:
    """The exception that refuses to start with this configuration.

    gunicorn prints an `AppImportError` as its message alone and stops ("App failed to
    load") rather than booting worker after worker, each with a traceback; anywhere else
    the `ConfigError` itself goes up, for the CLI to print or a test to catch.
    """
    server_errors = sys.modules.get("gunicorn.errors")
    if server_errors is None:
        return exc
    lines = ["The configuration has problems:", *exc.messages]
    return server_errors.AppImportError("\n".join(lines))


def _configure(app: Flask, config: Config) -> None:
    app.config.update(
        SECRET_KEY=config.secret_key,
        DATABASE_URL=config.database_url,
        TESTING=config.env == "test",
        SESSION_COOKIE_NAME="screening_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.uses_tls,
        # Flask checks every session cookie against this age, patients' included, so it
        # matches the CSRF lifetime; staff are signed out after 30 idle minutes by a check
        # on the server (views/auth.py), not by the cookie.
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=CSRF_TIME_LIMIT_SECONDS),
        REMEMBER_COOKIE_DURATION=timedelta(0),
        WTF_CSRF_TIME_LIMIT=CSRF_TIME_LIMIT_SECONDS,
        WTF_CSRF_SSL_STRICT=config.uses_tls,
        RATELIMIT_STORAGE_URI=config.ratelimit_storage_url,
        RATELIMIT_HEADERS_ENABLED=True,
        PREFERRED_URL_SCHEME="https" if config.uses_tls else "http",
        # The NHS.UK CSS compresses to a ninth of its size: patients pay for data on phones.
        # Only static assets are compressed: HTML pages carry CSRF tokens beside text the
        # user typed, the mix a BREACH attack needs; they are small anyway.
        COMPRESS_MIMETYPES=["text/css", "text/javascript", "image/svg+xml", "application/json"],
        # Static files are streamed: browsers offer br over HTTPS and deflate everywhere.
        COMPRESS_ALGORITHM=["br", "gzip", "deflate"],
        COMPRESS_ALGORITHM_STREAMING=["br", "deflate"],
        SEND_FILE_MAX_AGE_DEFAULT=ASSET_MAX_AGE,
    )
    # NHS.UK macros need chainable undefined; our own templates are covered by page tests.
    # trim_blocks/lstrip_blocks drop the blank lines the NHS.UK macros leave: patients pay
    # for every byte on a phone. Every template autoescapes, the NHS.UK macros' `.jinja`
    # files included (Flask's default leaves those out, so a `text` given to a macro would
    # be markup); they mark their `html` parameters `| safe` themselves.
    app.jinja_options = {
        **app.jinja_options,
        "autoescape": True,
        "undefined": ChainableUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }
    app.jinja_loader = ChoiceLoader(
        [FileSystemLoader(str(ROOT / "templates")), PackageLoader("nhsuk_frontend_jinja")]
    )


def _init_extensions(app: Flask, config: Config) -> None:
    db.init_app(app)
    compress.init_app(app)
    i18n.init_app(app, list(config.translation_dirs))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    sso.init_app(app, config.sso)


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(about.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(patient.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(assisted.bp)
    app.register_blueprint(triage.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(referrals.bp)
