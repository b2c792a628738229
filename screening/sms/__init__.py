"""Sending SMS: the client interface, one module per provider, the outbox (SPEC §6, §9).

- client: the interface a provider implements, and the errors that tell the outbox what next
- console_client, twilio_client: the providers (`client_for` picks one from the settings)
- outbox: claiming due messages and the run, with N senders at once
- sending: one message: the checks at send time, the call, its outcome
- pacing: the one pace every worker shares under the provider's cap
- recording: a sent message, written where the SIGKILL window is smallest
- delivery: the provider's status callbacks
- heartbeat: when each host's worker last ran, for /healthz
"""

from __future__ import annotations

from ..config import Config
from .client import ConfigurationSmsError, SmsClient
from .console_client import ConsoleSmsClient
from .twilio_client import TwilioSmsClient


def client_for(config: Config) -> SmsClient:
    """The client for `config.sms_backend`."""
    if config.sms_backend == "twilio":
        return TwilioSmsClient(config)
    if config.sms_backend == "console":
        return ConsoleSmsClient()
    raise ConfigurationSmsError(f"unknown SMS backend {config.sms_backend!r}")


__all__ = ["client_for"]
