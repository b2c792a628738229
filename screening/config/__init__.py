"""Settings from `config/*.yaml` and the environment (SPEC §6).

Files hold the service's settings, environment variables override the deployment ones.
The YAML files are checked like questionnaires: unknown keys and bad values are reported
as `FILE:LINE: message`, all at once.

- schema: the files' shapes (pydantic, unknown keys refused)
- files: reading them, with `FILE:LINE` problems and the SMS length warnings
- wording: the SMS texts' defaults, placeholders, rendering and length in SMS parts
- environment: the deployment's variables over the files, into one `Config`
- model: the frozen `Config` the rest of the code reads, and `ConfigError`
- loaded: what the app loaded at start-up, for views (`state()`)
"""

from .environment import load_config
from .files import clinic_problems, sms_length_warnings
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
from .schema import (
    MAX_WORKER_CONCURRENCY,
    SMS_PLACEHOLDERS,
    RawClinic,
    RawPractice,
    RawService,
    RawSettings,
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
    "RawPractice",
    "RawService",
    "RawSettings",
    "Settings",
    "SingleSignOn",
    "clinic_problems",
    "load_config",
    "sms_length_warnings",
]
