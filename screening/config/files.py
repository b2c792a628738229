"""Reading the config files (`config/settings.yaml`, `clinics.yaml`, `services.yaml`,
`practices.yaml`), checked like questionnaires (unknown keys and bad values are
`FILE:LINE: message`)."""

from __future__ import annotations

from pathlib import Path

from ..core.yamlsource import Problem, Source, read, validate
from .model import Clinic, Config, Settings
from .schema import RawClinics, RawPractice, RawPractices, RawService, RawServices, RawSettings
from .wording import DEFAULT_INVITE, DEFAULT_REMINDER, LONGEST_DATE, segments


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


def load_practices(path: Path, problems: list[Problem]) -> dict[str, RawPractice]:
    """`config/practices.yaml`: the GP practices letters may go to, by ODS code."""
    source = _read_optional(path, problems)
    if source is None:
        return {}
    raw = validate(source, RawPractices)
    practices: dict[str, RawPractice] = {}
    lines: dict[str, int] = {}
    for index, practice in enumerate(raw.practices if isinstance(raw, RawPractices) else ()):
        if practice.code in practices:
            source.problems.append(
                source.problem(
                    ("practices", index, "code"),
                    f"practice code '{practice.code}' is already used at line "
                    f"{lines[practice.code]}",
                )
            )
            continue
        practices[practice.code] = practice
        lines[practice.code] = source.line(("practices", index))
    problems.extend(source.problems)
    return practices


def sms_length_warnings(path: Path, clinics: dict[str, Clinic], base_url: str) -> list[str]:
    """Wording that takes more than two SMS parts costs more and may arrive split."""
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
