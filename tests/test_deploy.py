"""What hospital IT runs: the locked dependencies and the production web server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT
from .test_config import PRODUCTION

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
