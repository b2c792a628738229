"""NHS numbers (modulus 11) and UK mobiles (SPEC §4)."""

from __future__ import annotations

import pytest

from screening.identifiers import normalise_nhs_number, parse_uk_mobile


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9434765919", "9434765919"),  # the NHS Data Dictionary's worked example
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        ("9990000018", "9990000018"),  # the 999 test range
        ("9434765918", None),  # wrong check digit
        ("9434765910", None),
        ("1000000010", None),  # the check digit would be 10: never valid
        ("943476591", None),  # nine digits
        ("94347659190", None),
        ("943476591X", None),
        ("９４３４７６５９１９", None),  # full-width digits are not an NHS number
        ("", None),
    ],
)
def test_nhs_numbers_pass_the_modulus_11_check(raw: str, expected: str | None) -> None:
    assert normalise_nhs_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("07400 123456", "+447400123456"),
        ("+44 7400 123456", "+447400123456"),
        ("0044 7400 123456", "+447400123456"),
        ("7400123456", "+447400123456"),
    ],
)
def test_uk_mobiles_are_stored_as_e164(raw: str, e164: str) -> None:
    assert parse_uk_mobile(raw).e164 == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "blank"),
        ("   ", "blank"),
        ("020 7946 0000", "landline"),
        ("07000 123456", "070 personal number"),
        ("07640 123456", "076 pager"),
        ("0800 123 4567", "freephone"),
        ("+33 6 12 34 56 78", "not a UK number"),
        ("07700 900123", "not a valid UK number"),  # Ofcom's drama range
        ("call me", "not a phone number"),
    ],
)
def test_numbers_that_cannot_take_an_sms_say_why(raw: str, reason: str) -> None:
    mobile = parse_uk_mobile(raw)
    assert mobile.e164 is None and reason in (mobile.problem or "")
