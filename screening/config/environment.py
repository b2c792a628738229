"""Reading the configuration: the environment's deployment settings (SPEC §6) over the
files' service settings, every problem gathered into one `ConfigError`."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.constants import SSO_ROLES
from ..core.numbers import whole_number
from ..core.yamlsource import Problem
from .files import (
    load_clinics,
    load_practices,
    load_services,
    load_settings,
    sms_length_warnings,
)
from .model import ENVIRONMENTS, LOG_LEVELS, SMS_BACKENDS, Config, ConfigError, SingleSignOn

MAX_PROXIES = 10  # hops in front of the app; more is a typo, not a deployment


def load_config(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """Read files and environment; raise `ConfigError` with every problem found."""
    env = dict(os.environ if environ is None else environ)
    env.update({k: str(v) for k, v in (overrides or {}).items() if v is not None})
    messages: list[str] = []

    environment = env.get("SCREENING_ENV", "development")
    if environment not in ENVIRONMENTS:
        messages.append(f"SCREENING_ENV: '{environment}' is not one of {', '.join(ENVIRONMENTS)}")
        environment = "development"
    instance_dir = Path(env.get("SCREENING_INSTANCE_DIR", "instance"))
    config_dir = Path(env.get("SCREENING_CONFIG_DIR", "config"))
    questionnaire_dir = Path(env.get("SCREENING_QUESTIONNAIRE_DIR", "questionnaires"))
    database_url = env.get("SCREENING_DATABASE_URL") or _default_database(instance_dir)

    backend = env.get("SCREENING_SMS_BACKEND", "console")
    if backend not in SMS_BACKENDS:
        messages.append(f"SCREENING_SMS_BACKEND: '{backend}' is not one of console, twilio")
    if environment == "production" and backend == "console":
        messages.append(
            "SCREENING_SMS_BACKEND: production cannot use the console backend "
            "(it sends nothing); set it to twilio"
        )
    if backend == "twilio":
        messages.extend(_twilio_problems(env))

    public_base_url = env.get("SCREENING_PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", public_base_url):
        messages.append(
            "SCREENING_PUBLIC_BASE_URL: give a full URL such as https://screen.example.nhs.uk"
        )

    if environment == "production":
        messages.extend(_production_problems(public_base_url, database_url))

    smtp_url = env.get("SCREENING_SMTP_URL") or None
    if smtp_url is not None and not re.match(
        r"^(smtp|smtp\+starttls|smtps)://[^/\s]+/?$", smtp_url
    ):
        messages.append(
            "SCREENING_SMTP_URL: give smtp://host:port, smtp+starttls://user:password@host:587 "
            "or smtps://user:password@host:465"
        )
        smtp_url = None

    proxies = whole_number(env.get("SCREENING_TRUSTED_PROXIES", "0"), at_most=MAX_PROXIES)
    if proxies is None:
        messages.append("SCREENING_TRUSTED_PROXIES: give the number of proxies in front, e.g. 1")
        proxies = 0

    sso = _single_sign_on(env, environment, messages)

    log_level = env.get("SCREENING_LOG_LEVEL", "INFO").upper()
    if log_level not in LOG_LEVELS:
        messages.append(f"SCREENING_LOG_LEVEL: '{log_level}' is not one of {', '.join(LOG_LEVELS)}")
        log_level = "INFO"

    secret_key = env.get("SCREENING_SECRET_KEY", "")
    if not secret_key:
        if environment == "production":
            messages.append("SCREENING_SECRET_KEY: required in production")
        else:
            secret_key = _instance_secret(instance_dir)

    problems: list[Problem] = []
    settings = load_settings(config_dir / "settings.yaml", problems)
    hospital, clinics = load_clinics(config_dir / "clinics.yaml", settings, problems)
    warnings = sms_length_warnings(config_dir / "clinics.yaml", clinics, public_base_url)
    services = load_services(config_dir / "services.yaml", problems)
    practices = load_practices(config_dir / "practices.yaml", problems)
    messages.extend(str(p) for p in sorted(problems))
    if messages:
        raise ConfigError(messages)

    return Config(
        env=environment,  # type: ignore[arg-type]
        database_url=database_url,
        instance_dir=instance_dir,
        secret_key=secret_key,
        public_base_url=public_base_url,
        sms_backend=backend,
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN"),
        twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID"),
        twilio_from_number=env.get("TWILIO_FROM_NUMBER"),
        twilio_api_base=env.get("SCREENING_TWILIO_API_BASE"),
        questionnaire_dir=questionnaire_dir,
        config_dir=config_dir,
        ratelimit_storage_url=env.get("SCREENING_RATELIMIT_STORAGE_URL", "memory://"),
        smtp_url=smtp_url,
        mail_from=env.get("SCREENING_MAIL_FROM") or f"screening@{_host(public_base_url)}",
        trusted_proxies=proxies,
        translation_dirs=tuple(
            d for d in env.get("SCREENING_TRANSLATIONS_DIR", "").split(os.pathsep) if d
        ),
        log_level=log_level,
        sso=sso,
        settings=settings,
        hospital=hospital,
        clinics=clinics,
        services=services,
        clinics_file=str(config_dir / "clinics.yaml"),
        practices=practices,
        warnings=tuple(warnings),
    )


def _single_sign_on(
    env: Mapping[str, str], environment: str, messages: list[str]
) -> SingleSignOn | None:
    """SCREENING_OIDC_ISSUER turns single sign-on on; the rest are then required."""
    issuer = env.get("SCREENING_OIDC_ISSUER", "").rstrip("/")
    if not issuer:
        return None
    found = len(messages)
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", issuer):
        messages.append("SCREENING_OIDC_ISSUER: give the provider's issuer URL")
    elif environment == "production" and not issuer.startswith("https://"):
        messages.append("SCREENING_OIDC_ISSUER: production needs an https:// issuer")
    for name in ("SCREENING_OIDC_CLIENT_ID", "SCREENING_OIDC_CLIENT_SECRET"):
        if not env.get(name):
            messages.append(f"{name}: required with SCREENING_OIDC_ISSUER")
    roles = _role_map(env.get("SCREENING_OIDC_ROLES", ""), messages)
    if len(messages) > found:
        return None
    optional = {
        key: env[variable]
        for key, variable in (
            ("role_claim", "SCREENING_OIDC_ROLE_CLAIM"),
            ("email_claim", "SCREENING_OIDC_EMAIL_CLAIM"),
            ("scopes", "SCREENING_OIDC_SCOPES"),
            ("name", "SCREENING_OIDC_NAME"),
        )
        if env.get(variable)
    }
    return SingleSignOn(
        issuer=issuer,
        client_id=env["SCREENING_OIDC_CLIENT_ID"],
        client_secret=env["SCREENING_OIDC_CLIENT_SECRET"],
        roles=roles,
        **optional,
    )


def _role_map(text: str, messages: list[str]) -> dict[str, tuple[str, ...]]:
    """`admin=Screening.Admin,prescriber=Screening.SP|SP-Group,clinician=...`."""
    example = "admin=Screening.Admin,prescriber=Screening.Prescriber"
    roles: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, _, values = part.partition("=")
        granted = tuple(v.strip() for v in values.split("|") if v.strip())
        if role.strip() not in SSO_ROLES or not granted:
            messages.append(
                f"SCREENING_OIDC_ROLES: '{part}' is not role=claim value; roles are "
                f"{', '.join(SSO_ROLES)}, e.g. {example}"
            )
            continue
        roles[role.strip()] = granted
    if not roles and not any(m.startswith("SCREENING_OIDC_ROLES") for m in messages):
        messages.append(
            f"SCREENING_OIDC_ROLES: required with SCREENING_OIDC_ISSUER, e.g. {example}"
        )
    return roles


def _production_problems(public_base_url: str, database_url: str) -> list[str]:
    """What a live service must not run with: each a one-line reason and its fix."""
    found = []
    if public_base_url.startswith("http://"):
        found.append(
            "SCREENING_PUBLIC_BASE_URL: production needs https:// (the links patients are "
            "texted, and the staff's cookies, must travel encrypted)"
        )
    if database_url.startswith("sqlite"):
        found.append(
            "SCREENING_DATABASE_URL: production needs PostgreSQL (SQLite is one file on one "
            "machine, with one writer at a time); set postgresql+psycopg://user@host/db"
        )
    return found


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"


def _default_database(instance_dir: Path) -> str:
    return f"sqlite:///{(instance_dir / 'screening.db').resolve()}"


def _instance_secret(instance_dir: Path) -> str:
    """Outside production the key is generated once and kept in the instance folder."""
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _twilio_problems(env: Mapping[str, str]) -> list[str]:
    problems = [
        f"{name}: required with SCREENING_SMS_BACKEND=twilio"
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
        if not env.get(name)
    ]
    if not env.get("TWILIO_MESSAGING_SERVICE_SID") and not env.get("TWILIO_FROM_NUMBER"):
        problems.append(
            "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER: one is required with "
            "SCREENING_SMS_BACKEND=twilio"
        )
    return problems
