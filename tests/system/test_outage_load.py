"""Two hundred patients finishing at once through gunicorn: while PostgreSQL restarts
under them, and on SQLite. Every submitted response is stored exactly once, a patient who
hits the outage sees "try again" (503) and nothing worse, and on SQLite no patient sees
the database's lock at all."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from screening import create_app
from screening.core.db import make_engine
from screening.core.extensions import db
from screening.models import Answer, Response
from screening.models.migrate import upgrade_to_head
from tests.conftest import ROOT, app_overrides
from tests.factories import NO_NEEDS, make_invited_episode
from tests.oidc_provider import free_port
from tests.system.test_outage import BIN, Cluster

PATIENTS = 200
ANSWERS = {**NO_NEEDS, "ends_meet": "yes", "wants_help": "yes"}  # money worries, wants help
SECRET = "outage-load-" + "k" * 40
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


class Server:
    """gunicorn with two workers on the given database."""

    def __init__(self, database_url: str, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SCREENING_")}
        environ.update(
            app_overrides(database_url, folder / "instance"),
            SCREENING_SECRET_KEY=SECRET,
            SCREENING_PUBLIC_BASE_URL=self.url,
        )
        self.log = (folder / "gunicorn.log").open("w")
        self.process = subprocess.Popen(
            [GUNICORN, "--workers", "2", "--bind", f"127.0.0.1:{self.port}", "--timeout", "60",
             "screening:create_app()"],
            cwd=ROOT, env=environ, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline and self.process.poll() is None, "no gunicorn"
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def seed(database_url: str, folder: Path) -> list[str]:
    """PATIENTS invited episodes; their links, made with the server's secret key."""
    app = create_app(app_overrides(database_url, folder / "seed", SCREENING_SECRET_KEY=SECRET))
    with app.app_context():
        links = []
        for n in range(PATIENTS):
            _, token = make_invited_episode(
                db.session(), nhs_number=nhs_number(n), mobile=f"+4474002{n:05d}"
            )
            links.append(f"/s/{token}")
        db.session.remove()
        assert db.engine is not None
        db.engine.dispose()
    return links


def nhs_number(n: int) -> str:
    from tests.appointment_lists import test_nhs_number

    return test_nhs_number(5000 + 10 * n)


class Patient:
    """One phone: follows the questionnaire, and tries again after a 503."""

    def __init__(self, base: str, seen: Counter):
        self.base, self.seen = base, seen
        self.http = requests.Session()
        self.http.trust_env = False

    def _send(self, method: str, path: str, **form: str) -> requests.Response:
        for _ in range(300):
            reply = self.http.request(method, self.base + path, data=form or None, timeout=30)
            self.seen[reply.status_code] += 1
            if reply.status_code != 503:
                assert reply.status_code < 500 and "Traceback" not in reply.text, reply.text
                return reply
            time.sleep(0.1)  # "try again in a few minutes", sooner
        raise AssertionError(f"{path} never came back")

    def _post_form(self, path: str, **fields: str) -> requests.Response:
        shown = self._send("GET", path)
        token = CSRF.search(shown.text)
        assert token is not None, (path, shown.status_code, shown.text[:300])
        return self._send("POST", path, csrf_token=token.group(1), **fields)

    def complete(self, link: str) -> None:
        self._send("GET", link)
        self._post_form("/s/start")
        for item_id, value in ANSWERS.items():
            self._post_form(f"/s/q/{item_id}", **{item_id: value})
        done = self._post_form("/s/check")
        assert 'data-page="complete"' in done.text, done.text[:300]


def run_patients(base: str, links: list[str], disturb=None) -> Counter:  # type: ignore[no-untyped-def]
    seen: Counter = Counter()
    with ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(Patient(base, seen).complete, link) for link in links]
        if disturb is not None:
            disturb()
        for future in futures:
            future.result()
    return seen


def stored(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        responses = connection.scalar(select(func.count()).select_from(Response))
        answers = connection.scalar(select(func.count()).select_from(Answer))
    engine.dispose()
    return responses, answers


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[Cluster]:
    if BIN is None:
        pytest.skip("needs PostgreSQL's initdb and pg_ctl")
    folder = Path("/tmp") / f"screening-load-{tmp_path.name[-20:]}"
    folder.mkdir()
    cluster = Cluster(folder, free_port())
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


def test_two_hundred_patients_finish_once_each_while_postgresql_restarts(
    private_cluster: Cluster, tmp_path: Path
) -> None:
    url = private_cluster.url
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    links = seed(url, tmp_path)
    server = Server(url, tmp_path)

    def restart() -> None:
        time.sleep(1.0)  # in the middle of the rush
        private_cluster.stop()
        time.sleep(1.0)
        private_cluster.start()

    try:
        seen = run_patients(server.url, links, disturb=threading.Thread(target=restart).start)
    finally:
        server.stop()
    assert stored(url) == (PATIENTS, PATIENTS * len(ANSWERS))  # each once
    print("statuses seen during the restart:", dict(seen))
    assert seen[503] > 0  # the outage was met, and answered "try again"
    assert all(status < 500 or status == 503 for status in seen), seen


def test_two_hundred_patients_on_sqlite_never_meet_its_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'screening.db'}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    links = seed(url, tmp_path)
    server = Server(url, tmp_path)
    try:
        seen = run_patients(server.url, links)
    finally:
        server.stop()
    assert stored(url) == (PATIENTS, PATIENTS * len(ANSWERS))
    assert seen[503] == 0 and all(status < 500 for status in seen), seen
