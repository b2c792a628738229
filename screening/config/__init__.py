"""Settings from `config/*.yaml` and the environment (SPEC §6).

Files hold the service's settings, environment variables override the deployment ones.
The YAML files are checked like questionnaires: unknown keys and bad values are reported
as `FILE:LINE: message`, all at once.
"""

from .environment import load_config
from .files import (
    MAX_WORKER_CONCURRENCY,
    SMS_PLACEHOLDERS,
    RawClinic,
    RawService,
    RawSettings,
    clinic_problems,
    sms_length_warnings,
)
from .model import (
    ENVIRONMENTS,
    LOG_LEVELS,
    SMS_BACKENDS,
    Clinic,
    Config,
    ConfigError,
    Settings,
    SingleSignOn,
)

__all__ = [
    "ENVIRONMENTS",
    "LOG_LEVELS",
    "MAX_WORKER_CONCURRENCY",
    "SMS_BACKENDS",
    "SMS_PLACEHOLDERS",
    "Clinic",
    "Config",
    "ConfigError",
    "RawClinic",
    "RawService",
    "RawSettings",
    "Settings",
    "SingleSignOn",
    "clinic_problems",
    "load_config",
    "sms_length_warnings",
]
