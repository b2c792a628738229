"""The Twilio client, through the real SDK, against the local fake Twilio."""

from __future__ import annotations

import base64
import re
import socket
import time
import urllib.error
import urllib.request

import pytest
from twilio.rest.api.v2010.account.message import MessageInstance

from screening.core.constants import FINAL_MESSAGE_STATUSES, MESSAGE_SENT, MESSAGE_STATUSES
from screening.sms import client_for
from screening.sms.client import (
    ConfigurationSmsError,
    OptedOutError,
    OutgoingSms,
    PermanentSmsError,
    SmsError,
    TransientSmsError,
    status_callback_url,
)
from screening.sms.twilio_client import (
    MAX_VALIDITY_SECONDS,
    STATUS_MAP,
    TwilioSmsClient,
    our_status,
)
from tests.fake_twilio import FakeTwilio

from .conftest import MESSAGING_SERVICE_SID, ConfigFactory

MOBILE = "+447400123456"
LINK = "http://127.0.0.1:5000/s/abc123"
BODY = f"Barts Health: please answer a few questions before your appointment {LINK}"
CALLBACK = "http://127.0.0.1:5000/webhooks/twilio/status"
TWILIO_STATUSES = sorted(
    value
    for name, value in vars(MessageInstance.Status).items()
    if name.isupper() and isinstance(value, str)
)


def an_sms(**changes: object) -> OutgoingSms:
    fields: dict[str, object] = {
        "to": MOBILE,
        "body": BODY,
        "status_callback": CALLBACK,
        "validity_period": 3600,
    }
    fields.update(changes)
    return OutgoingSms(**fields)  # type: ignore[arg-type]


@pytest.fixture
def client(twilio_config: ConfigFactory) -> TwilioSmsClient:
    return TwilioSmsClient(twilio_config())


# --- a send ------------------------------------------------------------------------------


def test_a_send_posts_the_message_to_the_accounts_messages_endpoint(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    client.send(an_sms())

    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.form == {
        "To": MOBILE,
        "Body": BODY,
        "StatusCallback": CALLBACK,
        "ValidityPeriod": "3600",
        "MessagingServiceSid": MESSAGING_SERVICE_SID,
    }
    assert request.auth == (fake_twilio.account_sid, fake_twilio.auth_token)


def test_a_send_returns_the_twilio_sid_with_status_sent(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    accepted = client.send(an_sms())

    assert re.fullmatch(r"SM[0-9a-f]{32}", accepted.provider_sid)
    assert accepted.provider_status == MESSAGE_SENT
    assert fake_twilio.messages[accepted.provider_sid]["status"] == "queued"


def test_the_from_number_is_the_sender_when_there_is_no_messaging_service(
    twilio_config: ConfigFactory, fake_twilio: FakeTwilio
) -> None:
    config = twilio_config(TWILIO_MESSAGING_SERVICE_SID=None, TWILIO_FROM_NUMBER="+447400000001")

    TwilioSmsClient(config).send(an_sms())

    [request] = fake_twilio.requests
    assert request.form["From"] == "+447400000001"
    assert "MessagingServiceSid" not in request.form


def test_the_status_callback_is_built_from_the_public_base_url(
    twilio_config: ConfigFactory,
) -> None:
    config = twilio_config(SCREENING_PUBLIC_BASE_URL="https://screen.example.nhs.uk/")

    assert status_callback_url(config) == "https://screen.example.nhs.uk/webhooks/twilio/status"


def test_a_validity_period_beyond_twilios_limit_is_clamped(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    client.send(an_sms(validity_period=7 * 24 * 3600))

    assert fake_twilio.requests[0].form["ValidityPeriod"] == str(MAX_VALIDITY_SECONDS)


def test_no_validity_period_leaves_twilios_default(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    client.send(an_sms(validity_period=None, status_callback=None))

    assert "ValidityPeriod" not in fake_twilio.requests[0].form
    assert "StatusCallback" not in fake_twilio.requests[0].form


@pytest.mark.parametrize("seconds", [0, -60])
def test_nothing_is_sent_once_the_appointment_has_begun(
    client: TwilioSmsClient, fake_twilio: FakeTwilio, seconds: int
) -> None:
    with pytest.raises(PermanentSmsError):
        client.send(an_sms(validity_period=seconds))

    assert fake_twilio.requests == []


def test_client_for_the_twilio_backend_sends_through_twilio(
    twilio_config: ConfigFactory, fake_twilio: FakeTwilio
) -> None:
    client = client_for(twilio_config())

    assert client.name == "twilio"
    client.send(an_sms())
    assert len(fake_twilio.requests) == 1


# --- nothing reaches the real Twilio -----------------------------------------------------


def test_the_sdks_request_is_rewritten_to_the_fake(
    client: TwilioSmsClient, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    intended: list[str] = []
    rewrite = client.http_client.redirected

    def spy(url: str) -> str:
        intended.append(url)
        return rewrite(url)

    monkeypatch.setattr(client.http_client, "redirected", spy)

    client.send(an_sms())

    # The SDK aimed at api.twilio.com; the fake saw the same path, and nothing else did.
    [url] = intended
    assert url.startswith("https://api.twilio.com/2010-04-01/Accounts/")
    assert fake_twilio.requests[0].path == url.removeprefix("https://api.twilio.com")
    assert client.http_client._test_only_last_request.url.startswith(fake_twilio.base_url)


def test_a_proxy_in_the_environment_does_not_capture_the_fakes_traffic(
    client: TwilioSmsClient, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")

    client.send(an_sms())

    assert len(fake_twilio.requests) == 1


def test_the_guard_refuses_any_twilio_host() -> None:
    with pytest.raises(AssertionError, match="real Twilio"):
        socket.getaddrinfo("api.twilio.com", 443)


# --- refusals ----------------------------------------------------------------------------


def test_an_opted_out_number_raises_opted_out_error_with_its_code(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.respond_next(
        status=400, code=21610, message="Attempt to send to unsubscribed recipient"
    )

    with pytest.raises(OptedOutError) as caught:
        client.send(an_sms())

    assert caught.value.code == 21610
    assert caught.value.http_status == 400
    assert isinstance(caught.value, PermanentSmsError)
    assert not caught.value.maybe_sent


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, "Invalid 'To' Phone Number: +447400123456"),
        (21614, "'To' number is not a valid mobile number"),
        (21612, "The 'To' phone number is not currently reachable via SMS"),
        (21408, "Permission to send an SMS has not been enabled for the region"),
        (30006, "Landline or unreachable carrier"),
    ],
)
def test_a_message_that_can_never_be_sent_raises_permanent_error_with_its_code(
    client: TwilioSmsClient, fake_twilio: FakeTwilio, code: int, message: str
) -> None:
    fake_twilio.respond_next(status=400, code=code, message=message)

    with pytest.raises(PermanentSmsError) as caught:
        client.send(an_sms())

    assert type(caught.value) is PermanentSmsError
    assert caught.value.code == code


def test_a_refusal_detail_does_not_repeat_the_phone_number(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.respond_next(
        status=400, code=21211, message="Invalid 'To' Phone Number: +447400123456"
    )

    with pytest.raises(PermanentSmsError) as caught:
        client.send(an_sms())

    assert "123456" not in str(caught.value)
    assert "Invalid 'To' Phone Number" in caught.value.detail


def test_a_body_over_1600_characters_is_refused_by_twilio(client: TwilioSmsClient) -> None:
    with pytest.raises(PermanentSmsError) as caught:
        client.send(an_sms(body="x" * 1601))

    assert caught.value.code == 21617


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (429, None), (500, None), (503, 20503)])
def test_a_busy_or_failing_twilio_is_transient_and_the_next_send_succeeds(
    client: TwilioSmsClient, fake_twilio: FakeTwilio, status: int, code: int | None
) -> None:
    fake_twilio.respond_next(status=status, code=code, message="Too Many Requests")

    with pytest.raises(TransientSmsError) as caught:
        client.send(an_sms())
    assert caught.value.http_status == status
    assert caught.value.code == code

    assert client.send(an_sms()).provider_status == MESSAGE_SENT
    assert len(fake_twilio.requests) == 2


def test_a_rate_limited_request_was_certainly_not_sent(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.respond_next(status=429, code=20429, message="Too Many Requests")

    with pytest.raises(TransientSmsError) as caught:
        client.send(an_sms())

    # Twilio never processes a 429, so a retry cannot text the patient twice.
    assert not caught.value.maybe_sent


def test_a_reply_slower_than_the_timeout_is_transient_and_may_have_been_sent(
    twilio_config: ConfigFactory, fake_twilio: FakeTwilio
) -> None:
    client = TwilioSmsClient(twilio_config(), timeout=0.3)
    fake_twilio.delay_next(1.0)
    started = time.monotonic()

    with pytest.raises(TransientSmsError) as caught:
        client.send(an_sms())

    assert time.monotonic() - started < 1.0
    assert caught.value.maybe_sent
    assert client.send(an_sms()).provider_status == MESSAGE_SENT


def test_an_unreachable_twilio_is_transient_and_certainly_not_sent(
    twilio_config: ConfigFactory,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = twilio_config(SCREENING_TWILIO_API_BASE=f"http://127.0.0.1:{port}")

    with pytest.raises(TransientSmsError) as caught:
        TwilioSmsClient(config, timeout=1).send(an_sms())

    assert not caught.value.maybe_sent


def test_wrong_credentials_are_a_configuration_error(
    twilio_config: ConfigFactory, fake_twilio: FakeTwilio
) -> None:
    client = TwilioSmsClient(twilio_config(TWILIO_AUTH_TOKEN="not-the-token"))

    with pytest.raises(ConfigurationSmsError) as caught:
        client.send(an_sms())

    assert caught.value.code == 20003
    assert caught.value.http_status == 401
    assert fake_twilio.messages == {}


def test_a_wrong_account_sid_is_a_configuration_error(
    twilio_config: ConfigFactory, fake_twilio: FakeTwilio
) -> None:
    client = TwilioSmsClient(twilio_config(TWILIO_ACCOUNT_SID="AC" + "0" * 32))

    with pytest.raises(ConfigurationSmsError):
        client.send(an_sms())


@pytest.mark.parametrize("code", [21606, 21212])
def test_a_bad_sender_is_a_configuration_error(
    client: TwilioSmsClient, fake_twilio: FakeTwilio, code: int
) -> None:
    fake_twilio.respond_next(status=400, code=code, message="The 'From' number is not valid")

    with pytest.raises(ConfigurationSmsError) as caught:
        client.send(an_sms())

    assert caught.value.code == code


def test_an_unknown_refusal_is_about_this_message_only(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.respond_next(status=400, code=29999, message="Something new")

    with pytest.raises(PermanentSmsError) as caught:
        client.send(an_sms())

    assert caught.value.code == 29999


def test_every_sms_error_is_an_sms_error() -> None:
    for error in (TransientSmsError, PermanentSmsError, OptedOutError, ConfigurationSmsError):
        assert issubclass(error, SmsError)


# --- statuses ----------------------------------------------------------------------------


def test_every_twilio_message_status_maps_to_one_of_ours() -> None:
    assert len(TWILIO_STATUSES) >= 13
    assert set(TWILIO_STATUSES) <= set(STATUS_MAP)
    assert set(STATUS_MAP.values()) <= set(MESSAGE_STATUSES)


@pytest.mark.parametrize(
    "twilio_status", ["delivered", "undelivered", "failed", "canceled", "read"]
)
def test_a_final_twilio_status_maps_to_a_final_status(twilio_status: str) -> None:
    assert our_status(twilio_status) in FINAL_MESSAGE_STATUSES


@pytest.mark.parametrize("twilio_status", ["queued", "accepted", "scheduled", "sending", "sent"])
def test_a_message_still_with_twilio_is_sent_and_not_final(twilio_status: str) -> None:
    assert our_status(twilio_status) == MESSAGE_SENT
    assert MESSAGE_SENT not in FINAL_MESSAGE_STATUSES


def test_an_unknown_twilio_status_has_no_status_of_ours() -> None:
    assert our_status("teleported") is None
    assert our_status(" Delivered ") == "delivered"


def test_the_fake_answers_a_fetch_with_the_stored_message(
    client: TwilioSmsClient, fake_twilio: FakeTwilio
) -> None:
    accepted = client.send(an_sms())
    fake_twilio.set_status(accepted.provider_sid, "delivered")

    fetched = client._client.messages(accepted.provider_sid).fetch()

    assert fetched.status == "delivered"
    assert fetched.to == MOBILE
    assert fetched.date_created is not None


def test_the_fake_checks_basic_auth_on_every_request(fake_twilio: FakeTwilio) -> None:
    token = base64.b64encode(f"{fake_twilio.account_sid}:wrong".encode()).decode()
    request = urllib.request.Request(
        f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json",
        data=b"To=%2B447400123456&Body=hi",
        headers={"Authorization": f"Basic {token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=2)

    assert caught.value.code == 401
