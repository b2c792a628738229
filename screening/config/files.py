"""The config files (`config/settings.yaml`, `clinics.yaml`, `services.yaml`): their
shapes, checked like questionnaires (unknown keys and bad values are `FILE:LINE:
message`), and what is read from them."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator

from ..questionnaire.schema import Strict, Text
from ..yamlsource import Problem, Source, read, validate
from .model import Clinic, Config, Settings

SMS_PLACEHOLDERS = ("hospital", "date", "time", "link")
_CLOCK = r"([01]\d|2[0-3]):[0-5]\d"
# Sender threads per worker, each holding a database connection (and briefly a second for
# a rarer outcome): a couple of workers stay well inside PostgreSQL's default 100.
MAX_WORKER_CONCURRENCY = 32


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


def load_settings(path: Path, problems: list[Problem]) -> Settings:
    source = _read_optional(path, problems)
    if source is None:
        return Settings()
    raw = validate(source, RawSettings)
    problems.extend(source.problems)
    if not isinstance(raw, RawSettings):
        return Settings()
    return Settings(**raw.model_dump())


def load_clinics(
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


def load_services(path: Path, problems: list[Problem]) -> tuple[RawService, ...]:
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
    from ..sms.wording import DEFAULT_INVITE, DEFAULT_REMINDER, LONGEST_DATE, segments

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
