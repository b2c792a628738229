"""NHS numbers and UK mobiles, as the appointment list gives them (SPEC §4), and the
email addresses of staff and mailboxes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumber, PhoneNumberType

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
UK_COUNTRY_CODE = 44
EMAIL_MAX = 254  # RFC 5321's limit on a path, less its angle brackets
EMAIL_FORMAT = "Enter an email address in the correct format, like name@nhs.net"

# The reserved names (RFC 2606) the demo and the tests use must pass; email-validator
# refuses them unless taken off its list, which is how its README says to allow one.
for _reserved in ("invalid", "test"):
    if _reserved in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove(_reserved)


def email_problem(address: str) -> str | None:
    """What is wrong with an email address, in words to show; None if it is fine. Syntax
    only: no DNS look-up, so a server without the internet can check one."""
    text = address.strip()
    if len(text) > EMAIL_MAX:
        return f"The email address must be {EMAIL_MAX} characters or fewer"
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return EMAIL_FORMAT
    return None


def normalise_nhs_number(raw: str) -> str | None:
    """The 10 digits of a valid NHS number (spaces and dashes allowed), else None.

    The modulus-11 check of the NHS Data Dictionary: weights 10..2 over the first nine
    digits; 11 minus the remainder is the check digit, 11 reads as 0 and 10 is never valid.
    """
    digits = raw.replace(" ", "").replace("-", "")
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return None
    total = sum(int(d) * w for d, w in zip(digits[:9], _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != int(digits[9]):
        return None
    return digits


@dataclass(frozen=True, slots=True)
class Mobile:
    """A parsed mobile: `e164` when an SMS can go to it, else the reason it cannot."""

    e164: str | None
    problem: str | None = None


# Why a number that parses is still not one we text (SPEC §4).
_NOT_MOBILE = {
    PhoneNumberType.FIXED_LINE: "is a landline",
    PhoneNumberType.PERSONAL_NUMBER: "is a 070 personal number, not a mobile",
    PhoneNumberType.PAGER: "is a 076 pager number, not a mobile",
    PhoneNumberType.VOIP: "is an internet phone number, not a mobile",
    PhoneNumberType.TOLL_FREE: "is a freephone number",
    PhoneNumberType.PREMIUM_RATE: "is a premium-rate number",
    PhoneNumberType.SHARED_COST: "is a shared-cost number",
    PhoneNumberType.UAN: "is a non-geographic number",
}


# The forms nearly every clinic list writes: 07xxx xxxxxx or +44 7xxx xxxxxx, spaced any way.
# For these `phonenumbers.parse` returns just the country code and the ten digits after the
# 0 or +44 (tests/core/test_identifiers.py checks that property over generated numbers), so the
# number is built directly, at a fraction of parse's cost. Every other form goes to parse.
_PLAIN_MOBILE = re.compile(r"(?:0|\+44)(7[0-9]{9})")


# A clinic list names many patients more than once. `Mobile` is immutable, so one instance
# can be shared; the bound keeps the cache small however long the file.
@lru_cache(maxsize=16_384)
def parse_uk_mobile(raw: str) -> Mobile:
    text = raw.strip()
    if not text:
        return Mobile(None, "mobile is blank")
    try:
        number = _parse(text)
    except phonenumbers.NumberParseException:
        return Mobile(None, "mobile is not a phone number")
    if number.country_code != UK_COUNTRY_CODE:
        return Mobile(None, "mobile is not a UK number")
    # For a +44 number, UNKNOWN is exactly "not valid": `is_valid_number` would find the
    # same region (GB, GG, IM or JE) and run the same pattern match a second time.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return Mobile(None, "mobile is not a valid UK number")
    if kind not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return Mobile(None, f"mobile {_NOT_MOBILE.get(kind, 'is not a mobile number')}")
    return Mobile(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _parse(text: str) -> PhoneNumber:
    """`phonenumbers.parse(text, "GB")`, short-cut for the plain forms of a UK mobile."""
    plain = _PLAIN_MOBILE.fullmatch(text.replace(" ", ""))
    if plain is not None:
        return PhoneNumber(country_code=UK_COUNTRY_CODE, national_number=int(plain[1]))
    return phonenumbers.parse(text, "GB")


def parse_uk_phone(raw: str, *, landline_only: bool = False) -> str | None:
    """A number to call, as E.164: any valid UK number, or only a landline (the `mobile`
    column's landlines are kept this way, SPEC §4); None when there is none."""
    text = raw.strip()
    if not text:
        return None
    try:
        number = _parse(text)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != UK_COUNTRY_CODE or not phonenumbers.is_valid_number(number):
        return None
    if landline_only and phonenumbers.number_type(number) != PhoneNumberType.FIXED_LINE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_format(e164: str) -> str:
    """A stored number as people in the UK write it: `07400 100030`, `020 7946 0000`."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
