"""The `screening` command (SPEC §5). Thin: each command calls a service and reports.

Errors go to stderr; a usage error, an unreadable file or a refused operation exits 1.
Bad input never produces a traceback: configuration and file problems are printed as
`FILE:LINE: message`. One module per family of commands; each registers its own on the
group when imported here.
"""

from . import data, demo, privacy, records, sending, validate
from .base import cli, main

__all__ = ["cli", "data", "demo", "main", "privacy", "records", "sending", "validate"]
