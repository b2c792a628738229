"""Settings from `config/*.yaml` and the environment (SPEC §6).

Files hold the service's settings, environment variables override the deployment ones.
The YAML files are checked like questionnaires: unknown keys and bad values are reported
as `FILE:LINE: message`, all at once.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator

from .constants import ROLES
from .questionnaire.schema import Strict, Text
from .yamlsource import Problem, Source, read, validate

ENVIRONMENTS = ("development", "demo", "test", "production")
SMS_BACKENDS = ("console", "twilio")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SMS_PLACEHOLDERS = ("hospital", "date", "time", "link")
_CLOCK = r"([01]\d|2[0-3]):[0-5]\d"
# Sender threads per worker, each holding a database connection (and briefly a second for
# a rarer outcome): a couple of workers stay well inside PostgreSQL's default 100.
MAX_WORKER_CONCURRENCY = 32


class ConfigError(Exception):
    """The configuration cannot be used; `messages` say where and how to fix it."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))


# --- file shapes -----------------------------------------------------------------------


class SlaDays(Strict):
    """Working days from a task's creation to its due date, by priority."""

    urgent: StrictInt = Field(default=1, ge=0, le=60)
    high: StrictInt = Field(default=3, ge=0, le=60)
    routine: StrictInt = Field(default=5, ge=0, le=60)


class ReferenceRates(Strict):
    """Percentages: engaged of invited, completed of engaged, flagged of completed."""

    engaged: StrictInt | float = Field(default=45, ge=0, le=100)
    completed: StrictInt | float = Field(default=50, ge=0, le=100)
    flagged: StrictInt | float = Field(default=56, ge=0, le=100)


class RawSettings(Strict):
    quiet_hours: str = Field(default="20:00-09:00", pattern=rf"^{_CLOCK}-{_CLOCK}$")
    rescreen_days: StrictInt = Field(default=365, ge=1)
    link_expiry_days_after_appointment: StrictInt = Field(default=2, ge=0)
    privacy_notice_url: str | None = None
    accessibility_statement_url: str | None = None
    contact_promise: Text | None = None
    signposting: dict[str, Text] = Field(default_factory=dict)
    min_age_for_sms: StrictInt = Field(default=16, ge=0, le=120)
    worker_interval_seconds: StrictInt | float = Field(default=60, gt=0)
    # Provider calls the worker keeps in flight, and the sender's allowance (messages a
    # second across every worker of the database; no cap unless set).
    worker_concurrency: StrictInt = Field(default=1, ge=1, le=MAX_WORKER_CONCURRENCY)
    sms_rate_per_second: StrictInt | float | None = Field(default=None, gt=0, le=10_000)
    # The social prescriber's work (SPEC §10, §11).
    triage_sla_working_days: SlaDays = Field(default_factory=lambda: SlaDays())
    unable_to_contact_after: StrictInt = Field(default=3, ge=1, le=20)
    to_call_days_before: StrictInt = Field(default=2, ge=0, le=60)
    urgent_alert_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    unable_to_contact_sms: str | None = Field(default=None, min_length=1, max_length=480)
    follow_up_link_days: StrictInt = Field(default=14, ge=1, le=90)
    # The funnel report's comparison (SPEC §7): the Newham pilot's rates unless set.
    reference_rates: ReferenceRates = Field(default_factory=lambda: ReferenceRates())

    @field_validator("unable_to_contact_sms")
    @classmethod
    def _only_the_hospital(cls, value: str | None) -> str | None:
        # The text goes to a patient nobody could reach: it names the hospital, never them.
        if value is None:
            return None
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"broken placeholder ({exc}); write braces as {{{{ and }}}}") from None
        if names - {"hospital"}:
            raise ValueError("the only placeholder this text may use is {hospital}")
        return value


def _check_sms_template(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(f"broken placeholder ({exc}); write braces as {{{{ and }}}}") from None
    unknown = sorted({name for name in fields if name not in SMS_PLACEHOLDERS})
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}}; use only "
            + ", ".join(f"{{{name}}}" for name in SMS_PLACEHOLDERS)
        )
    if "link" not in fields:
        raise ValueError("the message must carry the {link}")
    return value


class RawClinic(Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str
    hospital: str | None = None
    questionnaire: str
    invite_days_before: StrictInt = Field(default=7, ge=0)
    remind_days_before: StrictInt = Field(default=3, ge=0)
    verify_dob: StrictBool = False
    rescreen_days: StrictInt | None = Field(default=None, ge=1)
    sms_invite: str | None = None
    sms_reminder: str | None = None

    _templates = field_validator("sms_invite", "sms_reminder")(_check_sms_template)


class RawClinics(Strict):
    hospital: str
    clinics: list[RawClinic] = Field(default_factory=list)


class RawService(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    name: str
    domains: list[str] = Field(default_factory=list)
    description: str | None = None
    phone: str | None = None
    email: str | None = None
    url: str | None = None
    # `pcn`: the patient's GP practice (PCN) social prescribing service; a referral to it is
    # a "referral back to the PCN" (SPEC §6).
    kind: Literal["pcn"] | None = None


class RawServices(Strict):
    services: list[RawService] = Field(default_factory=list)


# --- what the rest of the code uses ----------------------------------------------------


@dataclass(frozen=True)
class Clinic:
    code: str
    name: str
    hospital: str
    questionnaire: str
    invite_days_before: int
    remind_days_before: int
    verify_dob: bool
    rescreen_days: int
    sms_invite: str | None
    sms_reminder: str | None
    line: int  # where it is defined, for messages about it
    questionnaire_line: int


@dataclass(frozen=True)
class Settings:
    quiet_hours: str = "20:00-09:00"
    rescreen_days: int = 365
    link_expiry_days_after_appointment: int = 2
    privacy_notice_url: str | None = None
    accessibility_statement_url: str | None = None
    contact_promise: Any = None
    signposting: dict[str, Any] = field(default_factory=dict)
    min_age_for_sms: int = 16
    worker_interval_seconds: float = 60
    worker_concurrency: int = 1
    sms_rate_per_second: float | None = None
    triage_sla_working_days: dict[str, int] = field(
        default_factory=lambda: {"urgent": 1, "high": 3, "routine": 5}
    )
    unable_to_contact_after: int = 3
    to_call_days_before: int = 2
    urgent_alert_email: str | None = None
    unable_to_contact_sms: str | None = None
    follow_up_link_days: int = 14
    reference_rates: dict[str, float] = field(
        default_factory=lambda: {"engaged": 45, "completed": 50, "flagged": 56}
    )


@dataclass(frozen=True)
class SingleSignOn:
    """The trust's OpenID Connect provider (NHSmail, Entra ID...): SCREENING_OIDC_*."""

    issuer: str
    client_id: str
    client_secret: str
    # role -> the claim values that grant it (app roles or group ids)
    roles: dict[str, tuple[str, ...]]
    role_claim: str = "roles"
    email_claim: str = "email"
    scopes: str = "openid email profile"
    name: str = "your organisation's account"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


@dataclass(frozen=True)
class Config:
    env: Literal["development", "demo", "test", "production"]
    database_url: str
    instance_dir: Path
    secret_key: str
    public_base_url: str
    sms_backend: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_messaging_service_sid: str | None
    twilio_from_number: str | None
    twilio_api_base: str | None
    questionnaire_dir: Path
    config_dir: Path
    ratelimit_storage_url: str
    smtp_url: str | None
    mail_from: str
    trusted_proxies: int
    translation_dirs: tuple[str, ...]
    log_level: str
    sso: SingleSignOn | None
    settings: Settings
    hospital: str
    clinics: dict[str, Clinic]
    services: tuple[RawService, ...]
    clinics_file: str
    # Problems worth a look that do not stop the service (FILE:LINE: warning: ...).
    warnings: tuple[str, ...] = ()

    @property
    def uses_tls(self) -> bool:
        """An http:// public URL means development or tests: no Secure-only cookies."""
        return self.public_base_url.startswith("https://")


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

    proxies = env.get("SCREENING_TRUSTED_PROXIES", "0")
    if not proxies.isdigit():
        messages.append("SCREENING_TRUSTED_PROXIES: give the number of proxies in front, e.g. 1")
        proxies = "0"

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
    settings = _load_settings(config_dir / "settings.yaml", problems)
    hospital, clinics = _load_clinics(config_dir / "clinics.yaml", settings, problems)
    warnings = sms_length_warnings(config_dir / "clinics.yaml", clinics, public_base_url)
    services = _load_services(config_dir / "services.yaml", problems)
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
        trusted_proxies=int(proxies),
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
        if role.strip() not in ROLES or not granted:
            messages.append(
                f"SCREENING_OIDC_ROLES: '{part}' is not role=claim value; roles are "
                f"{', '.join(ROLES)}, e.g. {example}"
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


def _read_optional(path: Path, problems: list[Problem]) -> Source | None:
    """A missing config file means its defaults; a broken one is a problem."""
    if not path.exists():
        return None
    source = read(path)
    if source.data is None and not source.problems:
        return None  # an empty file
    if not source.problems and not isinstance(source.data, dict):
        source.problems.append(source.problem((), "this file must be a mapping of keys to values"))
    problems.extend(source.problems)
    return None if source.problems else source


def _load_settings(path: Path, problems: list[Problem]) -> Settings:
    source = _read_optional(path, problems)
    if source is None:
        return Settings()
    raw = validate(source, RawSettings)
    problems.extend(source.problems)
    if not isinstance(raw, RawSettings):
        return Settings()
    return Settings(**raw.model_dump())


def _load_clinics(
    path: Path, settings: Settings, problems: list[Problem]
) -> tuple[str, dict[str, Clinic]]:
    source = _read_optional(path, problems)
    if source is None:
        return "", {}
    raw = validate(source, RawClinics)
    clinics: dict[str, Clinic] = {}
    if isinstance(raw, RawClinics):
        for index, clinic in enumerate(raw.clinics):
            path_ = ("clinics", index)
            if clinic.code in clinics:
                source.problems.append(
                    source.problem(
                        (*path_, "code"),
                        f"clinic code '{clinic.code}' is already used at line "
                        f"{clinics[clinic.code].line}",
                    )
                )
                continue
            if 0 < clinic.invite_days_before <= clinic.remind_days_before:
                source.problems.append(
                    source.problem(
                        (*path_, "remind_days_before"),
                        f"clinic '{clinic.code}': the reminder ({clinic.remind_days_before} days "
                        f"before) must come after the invitation ({clinic.invite_days_before} "
                        "days before); use 0 for no reminder",
                    )
                )
            clinics[clinic.code] = Clinic(
                code=clinic.code,
                name=clinic.name,
                hospital=clinic.hospital or raw.hospital,
                questionnaire=clinic.questionnaire,
                invite_days_before=clinic.invite_days_before,
                remind_days_before=clinic.remind_days_before,
                verify_dob=clinic.verify_dob,
                rescreen_days=clinic.rescreen_days or settings.rescreen_days,
                sms_invite=clinic.sms_invite,
                sms_reminder=clinic.sms_reminder,
                line=source.line(path_),
                questionnaire_line=source.line((*path_, "questionnaire")),
            )
    problems.extend(source.problems)
    return (raw.hospital if isinstance(raw, RawClinics) else ""), clinics


def _load_services(path: Path, problems: list[Problem]) -> tuple[RawService, ...]:
    source = _read_optional(path, problems)
    if source is None:
        return ()
    raw = validate(source, RawServices)
    if not isinstance(raw, RawServices):
        problems.extend(source.problems)
        return ()
    seen: dict[str, int] = {}
    for index, service in enumerate(raw.services):
        if service.id in seen:
            source.problems.append(
                source.problem(
                    ("services", index, "id"),
                    f"service id '{service.id}' is already used at line {seen[service.id]}",
                )
            )
        seen.setdefault(service.id, source.line(("services", index)))
    problems.extend(source.problems)
    return tuple(raw.services)


def sms_length_warnings(path: Path, clinics: dict[str, Clinic], base_url: str) -> list[str]:
    """Wording that takes more than two SMS parts costs more and may arrive split."""
    from .sms.wording import DEFAULT_INVITE, DEFAULT_REMINDER, LONGEST_DATE, segments

    link = f"{base_url}/s/{'x' * 43}"
    warnings = []
    for clinic in clinics.values():
        for kind, template in (
            ("sms_invite", clinic.sms_invite or DEFAULT_INVITE),
            ("sms_reminder", clinic.sms_reminder or DEFAULT_REMINDER),
        ):
            body = template.format(
                hospital=clinic.hospital, date=LONGEST_DATE, time="10:30", link=link
            )
            parts = segments(body)
            if parts.count > 2:
                warnings.append(
                    f"{path}:{clinic.line}: warning: clinic '{clinic.code}' {kind} can take "
                    f"{parts.count} SMS parts ({parts.units} {parts.encoding} characters); "
                    "keep it within 2"
                )
    return warnings


def clinic_problems(config: Config, questionnaire_ids: set[str]) -> list[Problem]:
    """Every clinic must name a questionnaire that exists (checked by `validate`)."""
    found = ", ".join(sorted(questionnaire_ids)) or "none"
    return [
        Problem(
            config.clinics_file,
            clinic.questionnaire_line,
            f"clinic '{clinic.code}' uses questionnaire '{clinic.questionnaire}', which is not "
            f"in {config.questionnaire_dir} (found: {found})",
        )
        for clinic in config.clinics.values()
        if clinic.questionnaire not in questionnaire_ids
    ]
