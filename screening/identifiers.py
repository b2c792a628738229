"""NHS numbers and UK mobiles, as the appointment list gives them (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
UK_COUNTRY_CODE = 44


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


@dataclass(frozen=True)
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


def parse_uk_mobile(raw: str) -> Mobile:
    text = raw.strip()
    if not text:
        return Mobile(None, "mobile is blank")
    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        return Mobile(None, "mobile is not a phone number")
    if number.country_code != UK_COUNTRY_CODE:
        return Mobile(None, "mobile is not a UK number")
    if not phonenumbers.is_valid_number(number):
        return Mobile(None, "mobile is not a valid UK number")
    kind = phonenumbers.number_type(number)
    if kind not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return Mobile(None, f"mobile {_NOT_MOBILE.get(kind, 'is not a mobile number')}")
    return Mobile(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
