"""Configuration from config/*.yaml and the environment (SPEC §6)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from screening.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


PRODUCTION = {
    "SCREENING_ENV": "production",
    "SCREENING_SECRET_KEY": "production-" + "k" * 40,
    "SCREENING_PUBLIC_BASE_URL": "https://screen.example.nhs.uk",
    "SCREENING_DATABASE_URL": "postgresql+psycopg://screening@db.example.nhs.uk/screening",
    "SCREENING_SMS_BACKEND": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
}


def config_env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        "SCREENING_INSTANCE_DIR": str(tmp_path / "instance"),
        "SCREENING_CONFIG_DIR": str(tmp_path / "config"),
        **more,
    }


def write(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config_env(tmp_path, **env))
    return caught.value.messages


def test_shipped_config_loads_with_its_clinics() -> None:
    config = load_config({"SCREENING_CONFIG_DIR": str(ROOT / "config")})
    assert config.clinics["CARD-NUH"].hospital == "Newham University Hospital"
    assert config.clinics["CARD-NUH"].questionnaire == "barts-social-welfare"
    # A clinic without its own hospital takes the file's default.
    assert config.hospital == "Barts Health NHS Trust"


def test_defaults_apply_without_config_files(tmp_path: Path) -> None:
    config = load_config(config_env(tmp_path))
    assert config.settings.quiet_hours == "20:00-09:00"
    assert config.settings.rescreen_days == 365
    assert config.settings.link_expiry_days_after_appointment == 2
    assert config.settings.min_age_for_sms == 16
    assert config.sms_backend == "console"
    assert config.public_base_url == "http://127.0.0.1:5000"
    assert config.database_url.endswith("/instance/screening.db")
    assert not config.uses_tls


def test_clinic_defaults_and_overrides(tmp_path: Path) -> None:
    write(tmp_path, "settings.yaml", "rescreen_days: 180\n")
    write(
        tmp_path,
        "clinics.yaml",
        "hospital: Barts Health NHS Trust\n"
        "clinics:\n"
        "  - code: A\n    name: Cardiology\n    questionnaire: simple-question\n"
        "  - code: B\n    name: Renal\n    questionnaire: simple-question\n"
        "    rescreen_days: 30\n    remind_days_before: 0\n",
    )
    clinics = load_config(config_env(tmp_path)).clinics
    assert (clinics["A"].invite_days_before, clinics["A"].remind_days_before) == (7, 3)
    assert clinics["A"].rescreen_days == 180
    assert (clinics["B"].rescreen_days, clinics["B"].remind_days_before) == (30, 0)


def test_unknown_keys_and_bad_values_name_file_and_line(tmp_path: Path) -> None:
    settings = write(tmp_path, "settings.yaml", "quiet_hours: 8pm-9am\nquiet_time: 1\n")
    clinics = write(
        tmp_path,
        "clinics.yaml",
        "hospital: X\nclinics:\n  - code: A\n    name: Cardiology\n"
        "    questionnaire: simple-question\n    verify_dob: maybe\n",
    )
    found = problems(tmp_path)
    assert any(m.startswith(f"{settings}:1: quiet_hours") for m in found)
    assert any(m.startswith(f"{settings}:2: unknown key 'quiet_time'") for m in found)
    assert any(m.startswith(f"{clinics}:6: clinics[0].verify_dob") for m in found)


def test_a_repeated_clinic_code_is_reported_at_the_second(tmp_path: Path) -> None:
    clinics = write(
        tmp_path,
        "clinics.yaml",
        "hospital: X\nclinics:\n"
        "  - {code: A, name: One, questionnaire: q}\n"
        "  - {code: A, name: Two, questionnaire: q}\n",
    )
    assert f"{clinics}:4: clinic code 'A' is already used at line 3" in problems(tmp_path)


def test_practices_and_services_for_closing_the_loop_are_checked(tmp_path: Path) -> None:
    """An ODS code that is not one, a repeated practice, a mailbox that is not one: each
    named at its line, so no letter can go to a practice nobody meant (SPEC §13)."""
    practices = write(
        tmp_path,
        "practices.yaml",
        "practices:\n"
        "  - {code: F84003, name: Lower Clapton, email: surgery@nhs.example}\n"
        "  - {code: f84003x, name: Lowercase}\n"
        "  - {code: F84017, name: Wick, email: not-a-mailbox}\n",
    )
    services = write(
        tmp_path,
        "services.yaml",
        "services:\n  - {id: bank, name: Bank, referral_email: nope, nhs_service: maybe}\n",
    )
    found = problems(tmp_path)
    assert any(m.startswith(f"{practices}:3: practices[1].code") for m in found), found
    assert any(m.startswith(f"{practices}:4: practices[2].email") for m in found), found
    assert any(m.startswith(f"{services}:2: services[0].referral_email") for m in found), found
    assert any(m.startswith(f"{services}:2: services[0].nhs_service") for m in found), found
    write(
        tmp_path,
        "practices.yaml",
        "practices:\n  - {code: F84003, name: One}\n  - {code: F84003, name: Again}\n",
    )
    (tmp_path / "config" / "services.yaml").unlink()
    assert problems(tmp_path) == [
        f"{practices}:3: practice code 'F84003' is already used at line 2"
    ]


def test_the_shipped_practices_and_referral_settings_load() -> None:
    config = load_config({"SCREENING_CONFIG_DIR": str(ROOT / "config")})
    assert set(config.practices) == {"DEMO01"}
    assert config.practices["DEMO01"].email.endswith(".invalid")
    assert config.settings.referral_response_working_days == 10
    pcn = next(s for s in config.services if s.id == "pcn-social-prescriber")
    assert pcn.nhs_service is True


def test_sms_wording_with_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    clinics = write(
        tmp_path,
        "clinics.yaml",
        "hospital: X\nclinics:\n  - code: A\n    name: One\n    questionnaire: q\n"
        '    sms_invite: "Hello {name}, see {link}"\n',
    )
    found = problems(tmp_path)
    assert any(m.startswith(f"{clinics}:6:") and "{name}" in m for m in found)


def test_production_refuses_the_console_backend_and_needs_a_secret(tmp_path: Path) -> None:
    found = problems(tmp_path, SCREENING_ENV="production")
    assert any("SCREENING_SMS_BACKEND" in m and "console" in m for m in found)
    assert any(m.startswith("SCREENING_SECRET_KEY: required in production") for m in found)


def test_production_refuses_plain_http_and_sqlite(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        SCREENING_ENV="production",
        SCREENING_PUBLIC_BASE_URL="http://screen.example.nhs.uk",
        SCREENING_DATABASE_URL="sqlite:////srv/screening.db",
    )
    assert any(m.startswith("SCREENING_PUBLIC_BASE_URL: production needs https://") for m in found)
    assert any(m.startswith("SCREENING_DATABASE_URL: production needs PostgreSQL") for m in found)
    # Outside production both are what development and tests use.
    config = load_config(config_env(tmp_path, SCREENING_PUBLIC_BASE_URL="http://127.0.0.1:5000"))
    assert config.database_url.startswith("sqlite")


def test_a_complete_production_configuration_loads(tmp_path: Path) -> None:
    config = load_config(config_env(tmp_path, **PRODUCTION))
    assert config.env == "production" and config.uses_tls


def test_twilio_backend_needs_credentials_and_a_sender(tmp_path: Path) -> None:
    found = problems(tmp_path, SCREENING_SMS_BACKEND="twilio")
    assert any(m.startswith("TWILIO_ACCOUNT_SID") for m in found)
    assert any(m.startswith("TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER") for m in found)


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_config(config_env(tmp_path)).secret_key
    second = load_config(config_env(tmp_path)).secret_key
    assert first == second and len(first) >= 48
    mode = (tmp_path / "instance" / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_environment_overrides_files(tmp_path: Path) -> None:
    config = load_config(
        config_env(
            tmp_path,
            SCREENING_PUBLIC_BASE_URL="https://screen.example.nhs.uk/",
            SCREENING_DATABASE_URL="sqlite:///elsewhere.db",
        )
    )
    assert config.public_base_url == "https://screen.example.nhs.uk"
    assert config.uses_tls
    assert config.database_url == "sqlite:///elsewhere.db"


def test_wording_longer_than_two_sms_parts_is_a_warning_not_an_error(tmp_path: Path) -> None:
    long_invite = "{hospital} on {date}: " + "please answer a few questions " * 12 + "{link}"
    clinics = write(
        tmp_path,
        "clinics.yaml",
        "hospital: X\nclinics:\n  - code: A\n    name: One\n    questionnaire: q\n"
        f'    sms_invite: "{long_invite}"\n',
    )
    config = load_config(config_env(tmp_path))
    (warning,) = config.warnings
    assert warning.startswith(f"{clinics}:3: warning: clinic 'A' sms_invite can take 3 SMS parts")


def test_the_default_wording_fits_two_parts() -> None:
    assert load_config({"SCREENING_CONFIG_DIR": str(ROOT / "config")}).warnings == ()


def test_single_sign_on_needs_its_client_and_a_role_map(tmp_path: Path) -> None:
    found = problems(tmp_path, SCREENING_OIDC_ISSUER="https://login.example.nhs.uk")
    assert "SCREENING_OIDC_CLIENT_ID: required with SCREENING_OIDC_ISSUER" in found
    assert "SCREENING_OIDC_CLIENT_SECRET: required with SCREENING_OIDC_ISSUER" in found
    assert any(m.startswith("SCREENING_OIDC_ROLES: required") for m in found)
    bad = problems(
        tmp_path,
        SCREENING_OIDC_ISSUER="http://login.example.nhs.uk",
        SCREENING_OIDC_CLIENT_ID="screening",
        SCREENING_OIDC_CLIENT_SECRET="secret",
        SCREENING_OIDC_ROLES="superuser=Everyone",
        SCREENING_ENV="production",
    )
    assert "SCREENING_OIDC_ISSUER: production needs an https:// issuer" in bad
    assert any(m.startswith("SCREENING_OIDC_ROLES: 'superuser=Everyone' is not") for m in bad)


def test_single_sign_on_settings_are_read(tmp_path: Path) -> None:
    config = load_config(
        config_env(
            tmp_path,
            SCREENING_OIDC_ISSUER="https://login.microsoftonline.com/tenant/v2.0/",
            SCREENING_OIDC_CLIENT_ID="screening",
            SCREENING_OIDC_CLIENT_SECRET="secret",
            SCREENING_OIDC_ROLES="admin=Screening.Admin,prescriber=SP|Social Prescribers",
            SCREENING_OIDC_EMAIL_CLAIM="preferred_username",
        )
    )
    assert config.sso is not None
    assert config.sso.roles == {
        "admin": ("Screening.Admin",), "prescriber": ("SP", "Social Prescribers"),
    }  # fmt: skip
    assert config.sso.metadata_url == (
        "https://login.microsoftonline.com/tenant/v2.0/.well-known/openid-configuration"
    )
    assert (config.sso.email_claim, config.sso.role_claim) == ("preferred_username", "roles")
