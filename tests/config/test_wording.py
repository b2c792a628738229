"""SMS length counting (GSM-7 and UCS-2) and what the default wording says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from screening.config.wording import DEFAULT_INVITE, DEFAULT_REMINDER, Segments, render, segments


@pytest.mark.parametrize(
    ("body", "encoding", "units", "count"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # the euro sign is an extension: two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("£é" * 80, "GSM-7", 160, 1),  # in the basic GSM set
        ("ş" * 70, "UCS-2", 70, 1),
        ("ş" * 71, "UCS-2", 71, 2),
        ("😀" * 35, "UCS-2", 70, 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, "UCS-2", 72, 2),
    ],
)
def test_segments_are_counted_as_phones_count_them(
    body: str, encoding: str, units: int, count: int
) -> None:
    assert segments(body) == Segments(encoding, units, count)


@pytest.mark.parametrize("template", [DEFAULT_INVITE, DEFAULT_REMINDER])
def test_the_default_wording_names_hospital_date_link_and_stop(template: str) -> None:
    body = render(
        template,
        hospital="Newham University Hospital",
        appointment_at=datetime(2026, 7, 1, 9, 30, tzinfo=UTC),
        link="https://screen.example.nhs.uk/s/abc",
    )
    assert body.startswith("Newham University Hospital:")
    assert "Wednesday 1 July" in body  # the London date of the appointment
    assert "https://screen.example.nhs.uk/s/abc" in body and "STOP" in body
