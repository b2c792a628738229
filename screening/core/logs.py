"""Log lines as JSON, each carrying the id of the request (or command run) it belongs to.

One JSON object per line lets a trust's log platform index the fields without parsing
prose. The request id comes from the proxy's `X-Request-ID` when it sends a well-formed one
(so the proxy's log and ours join up), is made here otherwise, and is echoed back in the
response header. Nothing here adds patient data: messages are written with `%s`
placeholders filled from ids and codes (ruff's G rules keep f-strings out of log calls),
and the database engine hides statement parameters from its error messages.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
import uuid
from contextvars import ContextVar

from flask import Flask, Response, g, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is taken only in a shape that cannot smuggle text into the log.
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# Libraries that say too much: the Twilio SDK logs every call's headers at INFO, Authlib
# the sign-in's PKCE verifier at DEBUG.
QUIET_LOGGERS = ("alembic", "twilio", "authlib")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

log = logging.getLogger("screening.requests")


def new_id() -> str:
    return uuid.uuid4().hex


def current_id() -> str | None:
    return _request_id.get()


def begin(request_id: str | None = None) -> str:
    """Start a unit of work (a command, a worker run): its lines carry this id."""
    value = request_id or new_id()
    _request_id.set(value)
    return value


class JsonLines(JsonFormatter):
    """timestamp, level, logger, message and request_id on every line; tracebacks in
    `exc_info`. gunicorn's own logs use it too (deploy/gunicorn.conf.py)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)  # type: ignore[arg-type]

    def add_fields(self, log_data, record, message_dict) -> None:  # type: ignore[no-untyped-def]
        super().add_fields(log_data, record, message_dict)
        log_data["request_id"] = current_id()


def level_named(name: str | None) -> str:
    """SCREENING_LOG_LEVEL in any case; an unknown one is INFO here, and the configuration
    check then says what is wrong with it in one line."""
    upper = (name or "INFO").upper()
    return upper if upper in LEVELS else "INFO"


def configure(level: str | int = "INFO") -> None:
    """JSON lines on stderr from the root logger (once per process)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonLines) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root.addHandler(handler)
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def init_app(app: Flask, *, behind_proxy: bool) -> None:
    """A request id per request, and one line per request: method, route, status, time.

    The route is the URL rule (`/s/<token>`), never the path, so a patient's link token
    stays out of the log, and so does any query string (the audit page's NHS number). An
    unhandled error is logged the same way, with its traceback's frames but not its
    message, which can quote the values a statement was writing. A request id is taken
    from the proxy's header only when there is a trusted proxy to have set it.
    """

    @app.before_request
    def _start() -> None:
        offered = request.headers.get(REQUEST_ID_HEADER, "") if behind_proxy else ""
        g.request_id = begin(offered if _WELL_FORMED_ID.match(offered) else None)
        g.request_started = time.perf_counter()

    def log_exception(exc_info) -> None:  # type: ignore[no-untyped-def]
        kind, _error, trace = exc_info
        log.error(
            "unhandled %s in %s %s",
            kind.__name__ if kind else "error",
            request.method,
            _route(),
            extra={"traceback": "".join(traceback.format_tb(trace))},
        )

    app.log_exception = log_exception  # type: ignore[method-assign]

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id") or begin()
        started = g.get("request_started")
        log.info(
            "%s %s %s",
            request.method,
            _route(),
            response.status_code,
            extra={
                "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None
            },
        )
        return response

    @app.teardown_request
    def _end(_error: BaseException | None) -> None:
        _request_id.set(None)


def _route() -> str:
    return request.url_rule.rule if request.url_rule else "(no route)"
