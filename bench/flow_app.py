"""The WSGI app served by `bench/patient_flow.py`: the real `create_app()` plus one route.

`POST /bench/insert` adds one `AuditEvent` row and commits: the least a request that
writes can cost on this stack (same gunicorn, same app, same middleware, same database),
the yardstick the patient flow is compared against in the same run.

    gunicorn --pythonpath bench 'flow_app:app'   # configured through SCREENING_* variables
"""

from __future__ import annotations

from flask import Flask, request

from screening import create_app
from screening.core import clock
from screening.core.extensions import csrf, db
from screening.models import AuditEvent


def bench_insert() -> tuple[str, int]:
    db.session.add(
        AuditEvent(at=clock.now(), action="bench.insert", remote_addr=request.remote_addr)
    )
    db.session.commit()
    return "", 204


def build() -> Flask:
    app = create_app()
    app.add_url_rule("/bench/insert", "bench_insert", bench_insert, methods=["POST"])
    csrf.exempt(bench_insert)  # a load generator, not a browser: no form, no token
    return app


app = build()
