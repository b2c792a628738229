"""Assisted mode: staff complete a questionnaire with a patient, in clinic or by phone.

This is the "human interface" the pilot asked for: it reaches the patients the SMS did
not (no mobile, under the SMS age, a locked link, no reply). The staff member finds the
patient, opens one of their episodes in a chosen mode, and then walks the same question
pages the patient would. The episode records the mode and who entered each answer, and
the funnel counts it as invited, delivered and engaged from the moment it starts (SPEC §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..core import constants as c
from ..core.identifiers import normalise_nhs_number
from ..core.refusals import Refused
from ..models import Episode, Patient

ASSISTED_MODES = (c.MODE_ASSISTED_IN_PERSON, c.MODE_ASSISTED_PHONE)
SEARCH_LIMIT = 20


@dataclass(frozen=True)
class Found:
    patient: Patient
    episodes: list[Episode]


def find_patients(session: Session, query: str) -> list[Found]:
    """Patients by exact NHS number, or by family name (with a given name, if typed)."""
    query = " ".join(query.split())
    if not query:
        return []
    nhs_number = normalise_nhs_number(query)
    digits = query.replace(" ", "").replace("-", "")
    if nhs_number is None and digits.isascii() and digits.isdigit():
        # Digits are an NHS number mistyped, not a name: "no patient matches" would mislead.
        raise Refused("Enter a valid 10-digit NHS number, or a name", field="q")
    if nhs_number is not None:
        condition = Patient.nhs_number == nhs_number
    else:
        words = query.lower().split()
        condition = func.lower(Patient.family_name) == words[-1]
        if len(words) > 1:
            condition = condition & or_(
                func.lower(Patient.given_name) == words[0],
                func.lower(Patient.given_name).startswith(words[0]),
            )
    patients = session.scalars(
        select(Patient)
        .where(condition, Patient.purged_at.is_(None))
        .order_by(Patient.family_name, Patient.given_name, Patient.id)
        .limit(SEARCH_LIMIT)
    ).all()
    return [Found(patient, _episodes_of(session, patient)) for patient in patients]


def _episodes_of(session: Session, patient: Patient) -> list[Episode]:
    return list(
        session.scalars(
            select(Episode)
            .where(Episode.patient_id == patient.id, Episode.status != c.EPISODE_CANCELLED)
            .order_by(Episode.created_at.desc())
        )
    )


def start_assisted(
    session: Session, episode: Episode, *, mode: str, user_id: int, now: datetime
) -> None:
    """Open an episode in assisted mode; the funnel counts it from here (SPEC §7)."""
    if mode not in ASSISTED_MODES:
        raise ValueError(f"assisted mode must be one of {ASSISTED_MODES}, not {mode!r}")
    if episode.completed_at is not None:
        return
    episode.mode = mode
    episode.entered_by_user_id = user_id
    episode.invited_at = episode.invited_at or now
    episode.delivered_at = episode.delivered_at or now
    episode.opened_at = episode.opened_at or now
    if episode.status not in (c.EPISODE_STARTED, c.EPISODE_COMPLETED):
        episode.status = c.EPISODE_OPENED
    session.commit()
