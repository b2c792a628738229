"""The SMS client interface the outbox sends through (SPEC §6), and its errors.

A client takes one `OutgoingSms` and either returns `Accepted` (the provider has the
message; delivery is reported later by callback) or raises one of the `SmsError`
classes below. The class tells the outbox what to do next:

- `TransientSmsError`: try this message again later; `RateLimitedSmsError`, one of them,
  also holds every worker back for a moment (the provider wants fewer messages a second).
- `PermanentSmsError` (and `OptedOutError`): never retry this message.
- `ConfigurationSmsError`: nothing will send until someone fixes the settings; stop the
  batch and leave the message as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..config import Config

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


@dataclass(frozen=True)
class OutgoingSms:
    to: str  # E.164, e.g. +447400123456
    body: str
    status_callback: str | None = None
    # Seconds until the appointment: the provider drops the message after that, so a
    # backlog is never delivered late (SPEC §9).
    validity_period: int | None = None


@dataclass(frozen=True)
class Accepted:
    provider_sid: str
    provider_status: str  # one of our MESSAGE_* statuses


class SmsError(Exception):
    """A message was not accepted. `code` is the provider's own error code, kept raw."""

    def __init__(
        self,
        detail: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        maybe_sent: bool = False,
    ):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.http_status = http_status
        # True when the request may have reached the provider before failing (a reply
        # that timed out, a 5xx). There is no idempotency key, so a retry can duplicate.
        self.maybe_sent = maybe_sent

    def __str__(self) -> str:
        return f"{self.detail} (code {self.code}, HTTP {self.http_status})"


class TransientSmsError(SmsError):
    """Retry later: rate limited, provider trouble, timeout, network."""


class RateLimitedSmsError(TransientSmsError):
    """Too many requests (HTTP 429, Twilio 20429): not processed, safe to send again."""


class PermanentSmsError(SmsError):
    """This message can never be sent as it is (bad or unreachable number, body too long)."""


class OptedOutError(PermanentSmsError):
    """The number replied STOP (Twilio 21610): no SMS may go to it (SPEC §6)."""


class ConfigurationSmsError(SmsError):
    """Credentials or sender are wrong: every message would fail, so stop the batch."""


class SmsClient(Protocol):
    name: str

    def prepare(self) -> None:
        """Get ready to send from the calling thread (its own connection, the provider
        library loaded): called before a paced slot is taken, so that no slot is spent on
        set-up and several late first messages do not reach the provider together."""

    def send(self, sms: OutgoingSms) -> Accepted: ...


def status_callback_url(config: Config) -> str:
    """Where Twilio reports delivery; built from the public URL Twilio signs (SPEC §6)."""
    return config.public_base_url + STATUS_CALLBACK_PATH
