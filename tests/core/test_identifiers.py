"""NHS numbers (modulus 11) and UK mobiles (SPEC §4).

`parse_uk_mobile` short-cuts the library for the plain forms of a UK mobile; the properties at
the end hold it to exactly what the library's own calls answer.
"""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber, PhoneNumberType

from screening.core.identifiers import (
    _NOT_MOBILE,
    _PLAIN_MOBILE,
    EMAIL_FORMAT,
    Mobile,
    _parse,
    email_problem,
    normalise_nhs_number,
    parse_uk_mobile,
)


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


# --- the short cut for plain mobiles, against the library (hypothesis) ----------------------

PROPERTIES = settings(max_examples=500, deadline=None)


def library_parse_uk_mobile(raw: str) -> Mobile:
    """`parse_uk_mobile` as the library spells it out: every step its own call."""
    text = raw.strip()
    if not text:
        return Mobile(None, "mobile is blank")
    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        return Mobile(None, "mobile is not a phone number")
    if number.country_code != 44:
        return Mobile(None, "mobile is not a UK number")
    if not phonenumbers.is_valid_number(number):
        return Mobile(None, "mobile is not a valid UK number")
    kind = phonenumbers.number_type(number)
    if kind not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return Mobile(None, f"mobile {_NOT_MOBILE.get(kind, 'is not a mobile number')}")
    return Mobile(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@st.composite
def spaced(draw: st.DrawFn, text: str) -> str:
    """`text` with spaces put anywhere, as people type numbers."""
    pieces = [draw(st.sampled_from(["", "", " ", "  "])) + ch for ch in text]
    return "".join(pieces) + draw(st.sampled_from(["", " "]))


@st.composite
def plain_mobiles(draw: st.DrawFn) -> str:
    """The forms the short cut takes: 0 or +44, then 7 and nine digits, spaced any way."""
    digits = draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    return draw(spaced(draw(st.sampled_from(["0", "+44"])) + "7" + digits))


@st.composite
def number_like(draw: st.DrawFn) -> str:
    """Near misses: other prefixes, first digits and lengths, and stray punctuation."""
    prefix = draw(st.sampled_from(["", "0", "00", "0044", "+44", "+440", "44", "+", "+33", "("]))
    first = draw(st.sampled_from("0123456789"))
    rest = draw(st.text(alphabet="0123456789", min_size=7, max_size=11))
    tail = draw(st.sampled_from(["", "", "", ")", "-", " ext 12", "x", "\t"]))
    return draw(spaced(prefix + first + rest)) + tail


@PROPERTIES
@given(plain_mobiles())
def test_plain_mobiles_are_built_exactly_as_phonenumbers_parses_them(raw: str) -> None:
    assert _PLAIN_MOBILE.fullmatch(raw.replace(" ", "")), "not a plain form: test the short cut"
    assert _parse(raw) == phonenumbers.parse(raw, "GB")


ANY_TEXT = st.one_of(
    plain_mobiles(),
    number_like(),
    st.text(alphabet="0123456789 +()-.x", max_size=20),
    st.text(max_size=20),
)


def parsed_or_error(parse: Callable[[str], PhoneNumber], text: str) -> PhoneNumber | str:
    try:
        return parse(text)
    except phonenumbers.NumberParseException as exc:
        return f"error: {exc.error_type}"


# Near misses are where a short cut goes wrong, and most of them are cheap to parse.
@settings(max_examples=3000, deadline=None)
@given(st.one_of(number_like(), ANY_TEXT))
def test_the_short_cut_parses_any_text_as_phonenumbers_does(raw: str) -> None:
    text = raw.strip()
    assert parsed_or_error(_parse, text) == parsed_or_error(
        lambda t: phonenumbers.parse(t, "GB"), text
    )


@PROPERTIES
@given(ANY_TEXT)
def test_parse_uk_mobile_answers_as_the_library_calls_do(raw: str) -> None:
    assert parse_uk_mobile(raw) == library_parse_uk_mobile(raw)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("sam.prescriber@nhs.net", None),
        ("  Sam@Example.NHS.uk ", None),
        ("admin@demo.screening.invalid", None),  # the demo's reserved names pass
        ("sp@example.test", None),
        ("sp@", EMAIL_FORMAT),
        ("no at sign", EMAIL_FORMAT),
        ("sp@localhost", EMAIL_FORMAT),  # no dot: not an address mail can reach
        ("two@@nhs.net", EMAIL_FORMAT),
        ("a" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".nhs.uk", None),
        ("a" * 250 + "@nhs.net", "The email address must be 254 characters or fewer"),
    ],
)
def test_email_addresses_are_checked_for_syntax_only(address: str, problem: str | None) -> None:
    assert email_problem(address) == problem
