"""The Twilio backend: one `POST .../Messages.json` per message through the official SDK.

Twilio's words for a message's state and its error codes are translated here, once, into
ours: `STATUS_MAP` for states (also used by the status webhook through `our_status`) and
`ERROR_CLASSES` for what the outbox should do after a refusal.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from screening.config import Config
from screening.core.constants import (
    MESSAGE_CANCELLED,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    MESSAGE_SENT,
    MESSAGE_UNDELIVERED,
)

from .client import (
    Accepted,
    ConfigurationSmsError,
    OptedOutError,
    OutgoingSms,
    PermanentSmsError,
    RateLimitedSmsError,
    SmsError,
    TransientSmsError,
)

# Every state a Twilio Message can report, in our words. Anything short of an outcome is
# "sent": the message is with Twilio and a callback will follow.
STATUS_MAP: dict[str, str] = {
    "accepted": MESSAGE_SENT,  # a Messaging Service has it and is picking a sender
    "scheduled": MESSAGE_SENT,
    "queued": MESSAGE_SENT,
    "sending": MESSAGE_SENT,
    "sent": MESSAGE_SENT,  # handed to the carrier, not yet confirmed
    "delivered": MESSAGE_DELIVERED,
    "read": MESSAGE_DELIVERED,  # only on channels with read receipts; still delivered
    # Some parts arrived and some did not; the link may be in a missing part, so the
    # patient is treated as not reached and followed up by phone.
    "partially_delivered": MESSAGE_UNDELIVERED,
    "undelivered": MESSAGE_UNDELIVERED,  # the carrier could not deliver it
    "failed": MESSAGE_FAILED,  # Twilio never sent it
    "canceled": MESSAGE_CANCELLED,
    # Inbound-only states: never expected on a message we sent. Should one appear, it
    # tells us no more than "with Twilio", which cannot move a final status back.
    "receiving": MESSAGE_SENT,
    "received": MESSAGE_SENT,
}

# Twilio error codes (https://www.twilio.com/docs/api/errors) and what they mean for us.
ERROR_CLASSES: dict[int, type[SmsError]] = {
    # Credentials, account or sender: every message would fail the same way.
    20003: ConfigurationSmsError,  # authentication failed
    20005: ConfigurationSmsError,  # account not active
    20404: ConfigurationSmsError,  # the account's Messages resource was not found
    21212: ConfigurationSmsError,  # invalid From number
    21603: ConfigurationSmsError,  # From (or a Messaging Service) is required
    21606: ConfigurationSmsError,  # From is not a message-capable number of this account
    21703: ConfigurationSmsError,  # the Messaging Service has no sender available
    21704: ConfigurationSmsError,  # the Messaging Service contains no phone numbers
    21705: ConfigurationSmsError,  # the Messaging Service is invalid
    30002: ConfigurationSmsError,  # account suspended
    # Twilio is busy or unwell: the request was not processed, try again later.
    20429: RateLimitedSmsError,  # too many requests
    20500: TransientSmsError,  # internal error
    20503: TransientSmsError,  # service unavailable
    # This message, as it is, can never be sent.
    21211: PermanentSmsError,  # invalid To number
    21408: PermanentSmsError,  # sending to that region is not enabled
    21602: PermanentSmsError,  # body is required
    21604: PermanentSmsError,  # To is required
    21610: OptedOutError,  # the number replied STOP
    21612: PermanentSmsError,  # To cannot be reached from this sender
    21614: PermanentSmsError,  # To is not a mobile number
    21617: PermanentSmsError,  # body longer than 1600 characters
}
# 30xxx are delivery errors about the destination (unreachable, landline, filtered...).
DELIVERY_ERROR_CODES = range(30000, 31000)

DEFAULT_TIMEOUT_SECONDS = 10.0
# Twilio accepts a ValidityPeriod of 1 to 36000 seconds (10 hours, its default).
MIN_VALIDITY_SECONDS = 1
MAX_VALIDITY_SECONDS = 36_000

# Twilio's error messages can quote the number ("Invalid 'To' Phone Number: +44..."); the
# detail ends up in logs and the database, so numbers are blanked out of it.
_PHONE_NUMBER = re.compile(r"\+?\d[\d ()-]{5,}\d")


def our_status(twilio_status: str) -> str | None:
    """Our MESSAGE_* status for a Twilio message status; None for one we do not know."""
    return STATUS_MAP.get(twilio_status.strip().lower())


def error_class_for(code: int | None, http_status: int | None) -> type[SmsError]:
    """Which SmsError a Twilio refusal becomes: by code first, then by HTTP status."""
    if code in ERROR_CLASSES:
        return ERROR_CLASSES[code]
    if code in DELIVERY_ERROR_CODES:
        return PermanentSmsError
    status = http_status or 0
    if status == 429:
        return RateLimitedSmsError
    if status >= 500:
        return TransientSmsError
    if status in (401, 403, 404):
        return ConfigurationSmsError
    # Any other refusal is about this message. Halting the batch for an unknown code
    # would leave one bad message blocking every good one behind it.
    return PermanentSmsError


def validity_seconds(seconds_until_appointment: int) -> int:
    """Clamp to what Twilio accepts; the message must still be dropped at the appointment."""
    return max(MIN_VALIDITY_SECONDS, min(int(seconds_until_appointment), MAX_VALIDITY_SECONDS))


class RedirectingHttpClient(TwilioHttpClient):
    """Sends every SDK request to `api_base` (a local fake) instead of api.twilio.com.

    The SDK's region and edge settings cannot name http://127.0.0.1, so the URL is
    rewritten here, keeping path and query. Every host is rewritten, not just
    api.twilio.com, so nothing can leave for the real Twilio from a test.
    """

    def __init__(self, api_base: str, *, timeout: float):
        super().__init__(timeout=timeout)
        self.api_base = api_base.rstrip("/")
        if self.session is not None:
            # A developer's HTTP(S)_PROXY must not capture requests meant for 127.0.0.1.
            self.session.trust_env = False

    def redirected(self, url: str) -> str:
        parts = urlsplit(url)
        return self.api_base + parts.path + (f"?{parts.query}" if parts.query else "")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.redirected(url), *args, **kwargs)


class TwilioSmsClient:
    name = "twilio"

    def __init__(self, config: Config, *, timeout: float = DEFAULT_TIMEOUT_SECONDS):
        if not (config.twilio_account_sid and config.twilio_auth_token):
            raise ConfigurationSmsError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required")
        if not (config.twilio_messaging_service_sid or config.twilio_from_number):
            raise ConfigurationSmsError(
                "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER is required"
            )
        self.messaging_service_sid = config.twilio_messaging_service_sid
        self.from_number = config.twilio_from_number
        self._credentials = (config.twilio_account_sid, config.twilio_auth_token)
        self._api_base = config.twilio_api_base
        self._timeout = timeout
        # One SDK client per thread: a concurrent outbox sends from several, and each
        # keeps its own keep-alive connection (a shared requests.Session is not safe).
        self._per_thread = threading.local()

    @property
    def http_client(self) -> TwilioHttpClient:
        return self._sdk()[1]

    @property
    def _client(self) -> Client:
        return self._sdk()[0]

    def _sdk(self) -> tuple[Client, TwilioHttpClient]:
        sdk = getattr(self._per_thread, "sdk", None)
        if sdk is None:
            # An explicit timeout turns a hung provider into a TransientSmsError instead of
            # a worker stuck for ever. The SDK retries nothing by default, which is what we
            # want: there is no idempotency key, so a blind retry could text a patient twice.
            http_client = (
                RedirectingHttpClient(self._api_base, timeout=self._timeout)
                if self._api_base
                else TwilioHttpClient(timeout=self._timeout)
            )
            sdk = self._per_thread.sdk = (
                Client(*self._credentials, http_client=http_client),
                http_client,
            )
        return sdk

    def prepare(self) -> None:
        # The SDK loads its API modules on first use, which takes longer than a slot.
        self._client.messages  # noqa: B018

    def send(self, sms: OutgoingSms) -> Accepted:
        try:
            message = self._client.messages.create(**self._create_arguments(sms))
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _refusal(exc) from exc
        except requests.RequestException as exc:
            raise _network_failure(exc) from exc
        except json.JSONDecodeError as exc:
            # A 2xx with a body we cannot read: Twilio probably has the message.
            raise TransientSmsError(
                "unreadable reply from Twilio", http_status=None, maybe_sent=True
            ) from exc
        # A 2xx means Twilio has the message, whatever new state name it reports.
        return Accepted(
            provider_sid=message.sid or "",
            provider_status=our_status(message.status or "") or MESSAGE_SENT,
        )

    def _create_arguments(self, sms: OutgoingSms) -> dict[str, Any]:
        arguments: dict[str, Any] = {"to": sms.to, "body": sms.body}
        if sms.status_callback:
            arguments["status_callback"] = sms.status_callback
        if sms.validity_period is not None:
            if sms.validity_period < MIN_VALIDITY_SECONDS:
                # Clamping up to 1 s would still send after the appointment has begun.
                raise PermanentSmsError("the appointment has begun: not sending")
            arguments["validity_period"] = validity_seconds(sms.validity_period)
        # A Messaging Service picks the sender from its pool; a bare number is the fallback.
        if self.messaging_service_sid:
            arguments["messaging_service_sid"] = self.messaging_service_sid
        else:
            arguments["from_"] = self.from_number
        return arguments


def _refusal(exc: TwilioRestException | TwilioServiceException) -> SmsError:
    http_status = int(exc.status) if exc.status else None
    code = _twilio_code(exc.code)
    detail = exc.msg if isinstance(exc, TwilioRestException) else exc.detail or exc.title
    error_class = error_class_for(code, http_status)
    return error_class(
        _without_phone_numbers(str(detail or "refused by Twilio")),
        code=code,
        http_status=http_status,
        # A 5xx may come after Twilio created the message; a 4xx means it did not.
        maybe_sent=(http_status or 0) >= 500,
    )


def _twilio_code(code: object) -> int | None:
    """Twilio codes have 5 digits; without a JSON body the SDK fills in the HTTP status."""
    try:
        number = int(code)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return number if number >= 10_000 else None


def _network_failure(exc: requests.RequestException) -> SmsError:
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return ConfigurationSmsError(f"bad SCREENING_TWILIO_API_BASE: {type(exc).__name__}")
    return TransientSmsError(
        f"no reply from Twilio: {type(exc).__name__}", maybe_sent=_may_have_reached_twilio(exc)
    )


def _may_have_reached_twilio(exc: requests.RequestException) -> bool:
    """Only a connection never made is certainly not a sent message."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError)


def _without_phone_numbers(text: str) -> str:
    return _PHONE_NUMBER.sub("[number]", text)
