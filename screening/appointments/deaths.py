"""A `deceased` row in a list: nothing more is sent to the patient, and nobody phones
their family (SPEC §4, §10)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..core import clock
from ..core import constants as c
from ..invitations.placement import cancel_unsent
from ..models import Episode, Patient
from ..triage.tasks import close_for_deceased


def stop_everything_for(session: Session, patient: Patient) -> None:
    """A deceased patient: no unsent message of theirs may ever go."""
    episode_ids = list(
        session.scalars(
            select(Episode.id).where(
                Episode.patient_id == patient.id, Episode.status != c.EPISODE_COMPLETED
            )
        )
    )
    session.execute(
        update(Episode)
        .where(Episode.id.in_(episode_ids))
        .values(status=c.EPISODE_CANCELLED, cancelled_at=clock.now())
    )
    cancel_unsent(session, episode_ids)
    # Their active tasks close too, so nobody phones the family of a patient who has died.
    close_for_deceased(session, patient.id, clock.now())
