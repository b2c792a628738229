"""Assisted mode: staff complete a questionnaire with a patient, in clinic or by phone.

This is the "human interface" the pilot asked for: it reaches the patients the SMS did
not (no mobile, under the SMS age, a locked link, no reply). The staff member finds the
patient, opens one of their episodes in a chosen mode, and then walks the same question
pages the patient would. The episode records the mode and who entered each answer, and
the funnel counts it as invited, delivered and engaged from the moment it starts (SPEC §7).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..core import constants as c
from ..core.identifiers import normalise_nhs_number
from ..core.numbers import page_number
from ..core.refusals import Problems, Refused
from ..models import Episode, Patient

ASSISTED_MODES = (c.MODE_ASSISTED_IN_PERSON, c.MODE_ASSISTED_PHONE)
PAGE_SIZE = 25  # patients a page of search results shows


@dataclass(frozen=True)
class Found:
    patient: Patient
    episodes: list[Episode]


@dataclass(frozen=True)
class Search:
    """One page of the patients a search matched, and how many pages there are."""

    query: str
    found: list[Found]
    total: int
    page: int
    pages: int


def find_patients(session: Session, values: Mapping[str, str]) -> Search:
    """Patients by exact NHS number, or by family name (with a given name, if typed),
    `PAGE_SIZE` a page."""
    problems = Problems()
    query = " ".join(values.get("q", "").split())
    page = page_number(values, problems)
    condition = _matching(query, problems)
    problems.refuse()
    if condition is None:
        return Search(query, [], 0, 1, 1)
    matched = [condition, Patient.purged_at.is_(None)]
    total = session.scalar(select(func.count()).select_from(Patient).where(*matched)) or 0
    patients = session.scalars(
        select(Patient)
        .where(*matched)
        .order_by(Patient.family_name, Patient.given_name, Patient.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    found = [Found(patient, _episodes_of(session, patient)) for patient in patients]
    return Search(query, found, total, page, max(1, math.ceil(total / PAGE_SIZE)))


def _matching(query: str, problems: Problems) -> Any:
    if not query:
        return None
    nhs_number = normalise_nhs_number(query)
    digits = query.replace(" ", "").replace("-", "")
    if nhs_number is None and digits.isascii() and digits.isdigit():
        # Digits are an NHS number mistyped, not a name: "no patient matches" would mislead.
        problems.add("q", "Enter a valid 10-digit NHS number, or a name")
        return None
    if nhs_number is not None:
        return Patient.nhs_number == nhs_number
    words = query.lower().split()
    condition = func.lower(Patient.family_name) == words[-1]
    if len(words) > 1:
        condition = condition & or_(
            func.lower(Patient.given_name) == words[0],
            func.lower(Patient.given_name).startswith(words[0]),
        )
    return condition


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
        raise Refused("Select how you are talking to the patient", field="mode")
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
