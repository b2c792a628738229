"""SMS wording (SPEC §6, §9): the hospital, the date, the link and how to opt out.

Never a name, NHS number, date of birth, specialty, clinic name or the questionnaire's
topics: a text can be read by whoever holds the phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import LONDON

DEFAULT_INVITE = (
    "{hospital}: before your appointment on {date}, please answer a few short questions "
    "so we can offer you support: {link} Reply STOP to stop these texts."
)
DEFAULT_REMINDER = (
    "{hospital}: a reminder to answer a few short questions before your appointment on "
    "{date}: {link} Reply STOP to stop these texts."
)

# A follow-up questionnaire (SPEC §11) has no appointment: no date, and no topic either.
DEFAULT_FOLLOW_UP = (
    "{hospital}: please answer a few short questions about how you have been: {link} "
    "Reply STOP to stop these texts."
)

# The longest date `render` can write, for checking lengths before any appointment exists.
LONGEST_DATE = "Wednesday 30 September"

# GSM 03.38 basic set and its extension table (each extension character costs two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


def segments(body: str) -> Segments:
    """How many SMS parts a body takes (single: 160 GSM-7 / 70 UCS-2; parts: 153 / 67)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in body)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    count = 1 if units <= single else -(-units // part)
    return Segments(encoding, units, count)


def render(template: str, *, hospital: str, appointment_at: datetime, link: str) -> str:
    local = appointment_at.astimezone(LONDON)
    return template.format(
        hospital=hospital,
        date=f"{local:%A} {local.day} {local:%B}",
        time=f"{local:%H:%M}",
        link=link,
    )


def render_plain(template: str, *, hospital: str, link: str = "") -> str:
    """Wording without an appointment: only {hospital} (and {link}, where there is one)."""
    return template.format(hospital=hospital, link=link)
