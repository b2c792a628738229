"""The `screening` command (SPEC §5). Thin: each command calls a service and reports.

Errors go to stderr; a usage error, an unreadable file or a refused operation exits 1.
Bad input never produces a traceback: configuration and file problems are printed as
`FILE:LINE: message`. Each module registers its commands on the group when imported here.

- base: the group, the app and session for a command, shared helpers
- data: `init-db`, `import-appointments`, `create-user`
- sending: `send-due` and `worker`
- records: `tasks`, `report funnel`, `export fhir`
- privacy: `purge`, `subject-access`
- validate: `validate`
- demo: `demo`; demo_day: its fictional list, users and living day
"""

from . import data, demo, privacy, records, sending, validate
from .base import cli, main

__all__ = ["cli", "data", "demo", "main", "privacy", "records", "sending", "validate"]
