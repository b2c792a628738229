"""The configuration the rest of the code uses: one frozen `Config`, and `ConfigError`
listing every problem found in the files and the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .schema import RawPractice, RawService

ENVIRONMENTS = ("development", "demo", "test", "production")
SMS_BACKENDS = ("console", "twilio")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """The configuration cannot be used; `messages` say where and how to fix it."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))


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
    referral_response_working_days: int = 10
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
    # GP practices by ODS code (SPEC §13): only these are ever mailed.
    practices: dict[str, RawPractice] = field(default_factory=dict)
    # Problems worth a look that do not stop the service (FILE:LINE: warning: ...).
    warnings: tuple[str, ...] = ()

    @property
    def uses_tls(self) -> bool:
        """An http:// public URL means development or tests: no Secure-only cookies."""
        return self.public_base_url.startswith("https://")
