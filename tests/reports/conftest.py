"""The report's tests use the fake Twilio and the Twilio-backed app of the SMS tests for the
pilot's journey."""

from tests.sms.conftest import fake_twilio, fake_twilio_server, no_real_twilio  # noqa: F401
from tests.sms.test_outbox import twilio_app  # noqa: F401
