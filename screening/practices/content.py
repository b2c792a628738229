"""What the letter to a GP practice says (SPEC §13): the PRSB Social Prescribing
Standard's message back to the GP, as plain values the PDF lays out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

# The SNOMED CT codes the practice files (SPEC §12, §13): NHS England's national codes.
REFERRAL_TO_SOCIAL_PRESCRIBING = ("871731000000106", "Referral to social prescribing service")
SOCIAL_PRESCRIBING_DECLINED = ("871711000000103", "Social prescribing declined")


@dataclass(frozen=True)
class LetterPatient:
    name: str
    date_of_birth: date | None
    nhs_number: str | None  # ten digits


@dataclass(frozen=True)
class LetterReferral:
    service: str  # the service's name
    need: str | None  # the need it was for, by name
    referred_on: date
    status: str  # as a reader says it: "Made", "Accepted", "Declined: no capacity"...


@dataclass(frozen=True)
class LetterContent:
    """One letter. Every text is ready to print: names, not codes."""

    practice_name: str
    practice_code: str
    patient: LetterPatient
    sender: str  # "Social prescribing team, {hospital}"
    hospital: str
    written_on: date
    task_opened_on: date
    task_closed_on: date
    needs: tuple[str, ...]  # the needs identified, by name
    contacts: int  # contact attempts
    contacts_reached: int  # of which reached the patient
    sessions: int
    session_minutes: int
    referrals: tuple[LetterReferral, ...]
    outcome: str  # how the task ended, as a reader says it
    snomed: tuple[str, str]  # (code, display) to file
    made_at: datetime
