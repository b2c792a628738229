"""`GET /healthz`: 200 when the database answers (SPEC §8), 503 otherwise.

The body also says when the worker last finished a run: the web pages can answer while no
text has gone out for an hour, and a monitor should see that without the status changing
(a load balancer would otherwise take healthy web servers out of service).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..core.extensions import db
from ..sms.heartbeat import last_run_at

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    session = db.session()
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable (%s)", type(exc).__name__)
        return {"status": "database unreachable"}, 503
    try:
        worker = last_run_at(session)
    except SQLAlchemyError as exc:
        # A database not yet migrated to the heartbeat table still answers: 200.
        session.rollback()
        log.warning("health check: no worker heartbeat (%s)", type(exc).__name__)
        worker = None
    return {
        "status": "ok",
        "worker_last_run_at": worker.isoformat() if worker else None,
    }, 200
