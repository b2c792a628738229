"""The console backend: logs each message instead of sending it (development and demo).

It marks messages delivered straight away (SPEC §6) so the demo funnel moves. Bodies carry
the link, which `make demo` shows; they never carry names by design (SPEC §9), but the
number is masked all the same.
"""

from __future__ import annotations

import logging
import secrets

from screening.core.constants import MESSAGE_DELIVERED

from .client import Accepted, OutgoingSms

CONSOLE_LOGGER = "screening.sms.console"
logger = logging.getLogger(CONSOLE_LOGGER)


def masked(number: str) -> str:
    """All but the last 3 digits hidden: enough to tell test patients apart in a log."""
    return "*" * max(len(number) - 3, 0) + number[-3:]


class ConsoleSmsClient:
    name = "console"

    def prepare(self) -> None:
        """Nothing to set up: messages go to the log."""

    def send(self, sms: OutgoingSms) -> Accepted:
        logger.info("SMS to %s: %s", masked(sms.to), sms.body)
        # 37 characters like a Twilio sid, and never mistaken for one.
        return Accepted(
            provider_sid="CONSOLE" + secrets.token_hex(15),
            provider_status=MESSAGE_DELIVERED,
        )
