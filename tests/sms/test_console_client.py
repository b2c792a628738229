"""The console backend logs instead of sending, and marks messages delivered."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from screening.config import load_config
from screening.core.constants import MESSAGE_DELIVERED
from screening.sms import client_for
from screening.sms.client import OutgoingSms
from screening.sms.console_client import ConsoleSmsClient

from .conftest import ROOT

LINK = "http://127.0.0.1:5000/s/abc123"
SMS = OutgoingSms(
    to="+447400123456",
    body=f"Barts Health: a few questions before your appointment {LINK} Reply STOP to opt out",
    status_callback=None,
    validity_period=3600,
)


def test_the_console_logs_the_body_with_its_link(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="screening.sms.console"):
        ConsoleSmsClient().send(SMS)

    [record] = caplog.records
    assert record.name == "screening.sms.console"
    assert record.levelno == logging.INFO
    assert LINK in record.getMessage()


def test_the_console_masks_all_but_the_last_three_digits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="screening.sms.console"):
        ConsoleSmsClient().send(SMS)

    logged = caplog.records[0].getMessage()
    assert "+447400123456" not in logged
    assert "7400123" not in logged
    assert "**********456" in logged


def test_the_console_marks_the_message_delivered() -> None:
    accepted = ConsoleSmsClient().send(SMS)

    assert accepted.provider_status == MESSAGE_DELIVERED
    assert re.fullmatch(r"CONSOLE[0-9a-f]{30}", accepted.provider_sid)


def test_each_console_message_gets_its_own_sid() -> None:
    client = ConsoleSmsClient()

    assert client.send(SMS).provider_sid != client.send(SMS).provider_sid


def test_client_for_the_console_backend_is_the_console(tmp_path: Path) -> None:
    config = load_config(
        environ={
            "SCREENING_INSTANCE_DIR": str(tmp_path),
            "SCREENING_CONFIG_DIR": str(ROOT / "config"),
        }
    )

    client = client_for(config)

    assert config.sms_backend == "console"
    assert client.name == "console"
    assert isinstance(client, ConsoleSmsClient)
