"""The report's tests use the fake Twilio of the SMS tests for the pilot's journey."""

from tests.sms.conftest import fake_twilio, fake_twilio_server, no_real_twilio  # noqa: F401
