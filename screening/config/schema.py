"""The config files' shapes (`config/settings.yaml`, `clinics.yaml`, `services.yaml`):
pydantic models that refuse unknown keys, read by `files` and kept whole in `Config`."""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator

from ..core.identifiers import email_problem
from ..questionnaire.schema import Strict, Text

SMS_PLACEHOLDERS = ("hospital", "date", "time", "link")
_CLOCK = r"([01]\d|2[0-3]):[0-5]\d"
# Sender threads per worker, each holding a database connection (and briefly a second for
# a rarer outcome): a couple of workers stay well inside PostgreSQL's default 100.
MAX_WORKER_CONCURRENCY = 32


def _mailbox(value: str | None) -> str | None:
    # The same rule as a staff account's address on the admin page and the command line.
    if value is None:
        return None
    if problem := email_problem(value):
        raise ValueError(problem)
    return value.strip()


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
    urgent_alert_email: str | None = None
    unable_to_contact_sms: str | None = Field(default=None, min_length=1, max_length=480)
    follow_up_link_days: StrictInt = Field(default=14, ge=1, le=90)
    # Closing the loop (SPEC §13): a referral unanswered this long is overdue.
    referral_response_working_days: StrictInt = Field(default=10, ge=1, le=60)
    # The funnel report's comparison (SPEC §7): the Newham pilot's rates unless set.
    reference_rates: ReferenceRates = Field(default_factory=lambda: ReferenceRates())

    _mailbox = field_validator("urgent_alert_email")(lambda cls, value: _mailbox(value))

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
    # Closing the loop (SPEC §13): where a new referral's notice goes; whether the service
    # is part of the NHS (its partners see the NHS number and date of birth); the SNOMED CT
    # code of a referral to it, for the FHIR ServiceRequest.
    referral_email: str | None = None
    nhs_service: StrictBool = False
    snomed: Annotated[str, Field(pattern=r"^[1-9][0-9]{5,17}$")] | None = None

    _mailbox = field_validator("referral_email")(lambda cls, value: _mailbox(value))


class RawServices(Strict):
    services: list[RawService] = Field(default_factory=list)


class RawPractice(Strict):
    """A GP practice that hears back when a task closes (SPEC §13)."""

    code: Annotated[str, Field(pattern=r"^[A-Z0-9]{3,8}$")]
    name: str = Field(min_length=1, max_length=200)
    # The practice's secure mailbox; without one its letters are downloaded instead.
    email: str | None = None

    _mailbox = field_validator("email")(lambda cls, value: _mailbox(value))


class RawPractices(Strict):
    practices: list[RawPractice] = Field(default_factory=list)
