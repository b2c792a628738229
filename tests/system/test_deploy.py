"""What hospital IT runs: the locked dependencies, the production web server, and README's
"Deploying" steps run as written on a fresh PostgreSQL database."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import pytest
import requests
from bs4 import BeautifulSoup
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.config.test_config import PRODUCTION
from tests.conftest import POSTGRES, ROOT
from tests.fake_twilio import FakeTwilio
from tests.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    ProviderBrowser,
    free_port,
    running_provider,
    self_signed_certificate,
)
from tests.sms.conftest import fake_twilio, fake_twilio_server, no_real_twilio, twilio_environ  # noqa: F401

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def pins(lock: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\\\]+)", lock.read_text(), re.MULTILINE)
    return {canonicalize_name(name): version for name, version in found}


def declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(text) for text in project["dependencies"]]
    dev = [Requirement(text) for text in project["optional-dependencies"]["dev"]]
    return runtime, dev


def test_the_locks_pin_every_declared_dependency_within_its_range() -> None:
    # A dependency added to pyproject.toml without `make lock` fails here, not on a server.
    runtime, dev = declared()
    server, developer = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dev.lock")
    for lock, requirements in ((server, runtime), (developer, runtime + dev)):
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in lock, f"{requirement} is not locked: run make lock"
            assert requirement.specifier.contains(lock[name], prereleases=True), (
                f"{requirement}: locked at {lock[name]}; run make lock"
            )
    # A server runs the versions the tests ran.
    assert {name: developer[name] for name in server} == server
    # Every pin carries its hashes, so an install cannot take a substituted file, and
    # every line is one pip reads: a pin continued onto its hashes, a hash, or a comment.
    for path in ("requirements.lock", "requirements-dev.lock"):
        lines = (ROOT / path).read_text().splitlines()
        for number, (line, following) in enumerate(zip(lines, [*lines[1:], ""], strict=True), 1):
            if line.lstrip().startswith("#"):
                continue
            assert re.fullmatch(
                r"[A-Za-z0-9._-]+==\S+ \\|    --hash=sha256:[0-9a-f]{64}( \\)?", line
            ), f"{path}:{number}: not a locked requirement: {line!r}"
            if line.endswith("\\"):
                assert following.startswith("    --hash="), f"{path}:{number + 1}: a hash expected"


def test_gunicorn_refuses_an_unsafe_production_configuration_with_one_line_each(
    tmp_path: Path,
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SCREENING_", "TWILIO_"))}
    environ.update(
        PRODUCTION,
        SCREENING_PUBLIC_BASE_URL="http://screen.example.nhs.uk",
        SCREENING_DATABASE_URL=f"sqlite:///{tmp_path / 'screening.db'}",
        SCREENING_SMS_BACKEND="console",
        SCREENING_SECRET_KEY="",
        SCREENING_INSTANCE_DIR=str(tmp_path / "instance"),
    )
    server = subprocess.run(
        [GUNICORN, "--bind", "127.0.0.1:0", "screening:create_app()"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode != 0
    assert "Traceback" not in server.stderr
    reasons = [
        "SCREENING_SECRET_KEY: required in production",
        "SCREENING_SMS_BACKEND: production cannot use the console backend",
        "SCREENING_PUBLIC_BASE_URL: production needs https://",
        "SCREENING_DATABASE_URL: production needs PostgreSQL",
    ]
    lines = server.stderr.splitlines()
    for reason in reasons:
        assert sum(line.startswith(reason) for line in lines) == 1, server.stderr
    assert "App failed to load" in server.stderr


# --- README "Deploying", run as written -------------------------------------------------------

STEP = re.compile(r"<!-- step: ([a-z-]+) -->\n```sh\n(.*?)```", re.DOTALL)
PREFIX = "/opt/screening"
PASSWORD = "a first admin's passphrase"


def readme_steps() -> dict[str, str]:
    """README's tested steps, by name: the shell under each `<!-- step: NAME -->`."""
    return dict(STEP.findall((ROOT / "README.md").read_text()))


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string((ROOT / "deploy" / name).read_text())
    return parser


def exec_start(name: str) -> list[str]:
    """A unit's command, with this checkout and its venv standing for /opt/screening."""
    command = unit(name)["Service"]["ExecStart"]
    command = command.replace(f"{PREFIX}/venv/bin/", f"{Path(sys.executable).parent}/")
    return shlex.split(command.replace(PREFIX, str(ROOT)))


def test_the_environment_example_names_only_settings_that_exist() -> None:
    read = "\n".join(
        path.read_text()
        for path in [*(ROOT / "screening").rglob("*.py"), ROOT / "deploy" / "gunicorn.conf.py"]
    )
    example = (ROOT / "deploy" / "screening.env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in example if line and not line.startswith("#")]
    assert "SCREENING_ENV" in names and "SCREENING_SECRET_KEY" in names
    for name in names:
        # The PG* variables are PostgreSQL's tools' own.
        assert name.startswith("PG") or f'"{name}"' in read, f"{name} is read nowhere"


def test_the_systemd_units_run_both_processes_as_the_service_user() -> None:
    for name, command in (
        ("screening-web.service", "gunicorn"),
        ("screening-worker.service", "screening"),
    ):
        service = unit(name)["Service"]
        assert service["User"] == "screening"
        assert service["EnvironmentFile"] == "/etc/screening/screening.env"
        assert service["ExecStart"].startswith(f"{PREFIX}/venv/bin/{command} ")
        assert service["Restart"] in {"on-failure", "always"}
        assert unit(name)["Install"]["WantedBy"] == "multi-user.target"
    assert exec_start("screening-web.service")[-1] == "screening:create_app()"
    assert set(readme_steps()) == {
        "create-database", "migrate", "first-admin", "health", "backup", "restore",
    }  # fmt: skip


class Deployment:
    """One machine's worth: a fresh PostgreSQL role and database, the environment file's
    settings, and the processes the units start."""

    def __init__(self, folder: Path, provider_issuer: str, tls: tuple[Path, Path], port: int):
        self.folder = folder
        self.role = f"screening_{uuid.uuid4().hex[:8]}"
        self.databases = [f"screening_deploy_{uuid.uuid4().hex[:8]}"]
        self.base_url = f"https://127.0.0.1:{port}"
        certificate, key = tls
        self.environ = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "HOME": str(folder),
            "PGHOST": "127.0.0.1",
            "PGUSER": self.role,
            "PGDATABASE": self.databases[0],
            "SCREENING_ENV": "production",
            "SCREENING_DATABASE_URL": self.database_url(self.databases[0]),
            "SCREENING_SECRET_KEY": "deployment-test-" + "k" * 40,
            "SCREENING_PUBLIC_BASE_URL": self.base_url,
            "SCREENING_INSTANCE_DIR": str(folder / "instance"),
            "SCREENING_CONFIG_DIR": str(ROOT / "config"),
            "SCREENING_QUESTIONNAIRE_DIR": str(ROOT / "questionnaires"),
            "SCREENING_RATELIMIT_STORAGE_URL": "redis://127.0.0.1:6379/5",
            "SCREENING_BIND": f"127.0.0.1:{port}",
            "SCREENING_WEB_WORKERS": "2",
            "SCREENING_TLS_CERT": str(certificate),
            "SCREENING_TLS_KEY": str(key),
            # The trust's own certificate authority, for curl and for the sign-in's calls.
            "CURL_CA_BUNDLE": str(certificate),
            "REQUESTS_CA_BUNDLE": str(certificate),
            "SCREENING_OIDC_ISSUER": provider_issuer,
            "SCREENING_OIDC_CLIENT_ID": CLIENT_ID,
            "SCREENING_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "SCREENING_OIDC_SCOPES": "openid email profile roles",
            "SCREENING_OIDC_ROLES": "prescriber=Screening.SP",
            "SCREENING_OIDC_NAME": "NHSmail",
        }
        self.processes: list[subprocess.Popen] = []

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://{self.role}@127.0.0.1:5432/{name}"

    def step(self, script: str, stdin: str = "", **more: str) -> str:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.folder,
            env={**self.environ, **more},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, unit_name: str) -> None:
        log = (self.folder / f"{unit_name}.log").open("w")
        self.processes.append(
            subprocess.Popen(
                exec_start(unit_name), cwd=ROOT, env=self.environ, stdout=log, stderr=log
            )
        )

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            assert process.wait(timeout=30) == 0, f"exit {process.returncode}"

    def drop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        admin = {**self.environ, "PGUSER": "postgres"}
        for name in self.databases:
            subprocess.run(["dropdb", "--if-exists", "--force", name], env=admin, check=False)
        subprocess.run(["dropuser", "--if-exists", self.role], env=admin, check=False)


def wait_for_health(deployment: Deployment, script: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        try:
            health = json.loads(deployment.step(script))
            if health["worker_last_run_at"]:
                return health
        except AssertionError:
            pass  # not listening yet
        assert time.monotonic() < deadline, deployment.folder / "screening-web.service.log"
        time.sleep(0.5)


@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL")
def test_readme_deploying_from_an_empty_postgresql_to_a_signed_in_prescriber(
    tmp_path: Path,
    fake_twilio: FakeTwilio,  # noqa: F811
) -> None:
    steps = readme_steps()
    tls = self_signed_certificate(tmp_path)
    port = free_port()
    accounts = {"sp": {"email": "sp@barts.nhs.uk", "roles": ["Screening.SP"]}}
    with running_provider(accounts, f"https://127.0.0.1:{port}", tls) as provider:
        deployment = Deployment(tmp_path, provider.issuer, tls, port)
        twilio = twilio_environ(fake_twilio, tmp_path / "instance")
        deployment.environ.update(
            {
                k: v
                for k, v in twilio.items()
                if k.startswith(("TWILIO_", "SCREENING_TWILIO", "SCREENING_SMS"))
            }
        )
        try:
            deployment.step(steps["create-database"])
            assert "database at revision" in deployment.step(steps["migrate"])
            created = deployment.step(steps["first-admin"], stdin=PASSWORD + "\n")
            assert created.startswith("created admin user")
            deployment.start("screening-web.service")
            deployment.start("screening-worker.service")
            health = wait_for_health(deployment, steps["health"])
            assert health["status"] == "ok"
            sign_in_as_prescriber(deployment, tls[0])

            # Back up, restore into an empty database, and find the accounts there.
            deployment.step(steps["backup"])
            restored = f"screening_restored_{uuid.uuid4().hex[:8]}"
            deployment.databases.append(restored)
            into = {
                "PGDATABASE": restored,
                "SCREENING_DATABASE_URL": deployment.database_url(restored),
            }
            deployment.step(steps["create-database"].splitlines()[1], **into)  # role exists
            backup = next(tmp_path.glob("screening-*.dump")).name
            deployment.step(steps["restore"], BACKUP=backup, **into)
            emails = deployment.step(
                "psql --tuples-only --no-align -c 'SELECT email, role FROM staff_users "
                "ORDER BY email'",
                **into,
            ).split()
            assert emails == ["it.lead@example.nhs.uk|admin", "sp@barts.nhs.uk|prescriber"]
            deployment.stop()
        finally:
            deployment.drop()


def sign_in_as_prescriber(deployment: Deployment, certificate: Path) -> None:
    """Through gunicorn over TLS: our sign-in page, the provider's, and back to the queue."""
    staff = requests.Session()
    staff.trust_env = False
    staff.verify = str(certificate)
    login = BeautifulSoup(staff.get(f"{deployment.base_url}/login").text, "html.parser")
    start = staff.get(
        deployment.base_url + login.find("a", string="Sign in with NHSmail")["href"],
        allow_redirects=False,
    )
    browser = ProviderBrowser(deployment.base_url, verify=str(certificate))
    callback = browser.submit(browser.follow(start.headers["Location"]), login="sp", password="x")
    landed = staff.get(callback, allow_redirects=False)
    assert landed.status_code == 302, landed.text[:300]
    queue = staff.get(f"{deployment.base_url}/triage")
    assert queue.status_code == 200
    assert 'data-page="queue"' in queue.text
    # Secure, HttpOnly cookies under https.
    cookie = next(c for c in staff.cookies if c.name == "screening_session")
    assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
