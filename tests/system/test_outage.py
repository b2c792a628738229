"""The database restarts under the service: patients who hit the outage see a "try again"
page (503), not a traceback, and the app recovers without a restart of its own.

The database is a private PostgreSQL cluster this test starts on a port of its own with
initdb and pg_ctl (as the postgres account), never the machine's shared server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from screening import create_app
from screening.core.db import make_engine
from screening.core.extensions import db
from screening.models import Answer
from screening.models.migrate import upgrade_to_head
from tests.conftest import app_overrides
from tests.factories import make_invited_episode
from tests.oidc_provider import free_port
from tests.pages import OwnContextClient, csrf_token, page

BIN = next(Path("/usr/lib/postgresql").glob("*/bin"), None)


class Cluster:
    def __init__(self, folder: Path, port: int):
        self.data, self.port = folder / "data", port
        self.socket_dir = folder

    def _as_postgres(self, *command: str) -> None:
        runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        # No pipes: the server started by pg_ctl would hold them open, and we would wait.
        subprocess.run(
            [*runner, *command],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def init(self) -> None:
        self.data.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.socket_dir, "postgres")
            shutil.chown(self.data, "postgres")
        self._as_postgres(
            f"{BIN}/initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.socket_dir / "server.log")
        self._as_postgres(
            f"{BIN}/pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start"
        )

    def stop(self) -> None:
        self._as_postgres(f"{BIN}/pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if BIN is None or shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("needs PostgreSQL's initdb and pg_ctl")
    folder = Path("/tmp") / f"screening-outage-{tmp_path.name}"  # short: a socket path
    folder.mkdir()
    private = Cluster(folder, free_port())
    private.init()
    private.start()
    try:
        yield private
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            private.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def outage_app(cluster: Cluster, tmp_path: Path) -> Iterator[Flask]:
    engine = make_engine(cluster.url)
    upgrade_to_head(engine)
    engine.dispose()
    app = create_app(app_overrides(cluster.url, tmp_path / "instance"))
    app.test_client_class = OwnContextClient
    with app.app_context():
        yield app
        db.session.remove()
        assert db.engine is not None
        db.engine.dispose()


def test_a_patient_who_hits_a_database_restart_sees_try_again_and_then_goes_on(
    outage_app: Flask, cluster: Cluster
) -> None:
    episode, token = make_invited_episode(db.session())
    patient = outage_app.test_client()
    assert patient.get(f"/s/{token}").status_code == 302
    start = page(patient.get("/s/start"))
    patient.post("/s/start", data={"csrf_token": csrf_token(start)})
    question = page(patient.get("/s/q/ends_meet"))

    cluster.stop()
    answered = patient.post(
        "/s/q/ends_meet", data={"csrf_token": csrf_token(question), "ends_meet": "yes"}
    )
    assert answered.status_code == 503 and answered.headers["Retry-After"] == "30"
    assert "Try again in a few minutes" in answered.get_data(as_text=True)
    assert outage_app.test_client().get("/healthz").status_code == 503

    cluster.start()  # back, and the app goes on without a restart (pool pre-ping)
    again = page(patient.get("/s/q/ends_meet"))
    saved = patient.post(
        "/s/q/ends_meet", data={"csrf_token": csrf_token(again), "ends_meet": "yes"}
    )
    assert saved.status_code in (302, 303)
    stored = db.session.scalars(select(Answer.value).where(Answer.episode_id == episode.id))
    assert list(stored) == ["yes"]  # exactly once
    assert outage_app.test_client().get("/healthz").status_code == 200
