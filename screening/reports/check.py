"""`screening report check` (SPEC §5): the counts the report keeps precomputed, worked out
again from what they were computed from, with every difference.

The report keeps two things precomputed. Each episode's `stages_reached` (the bits every
funnel pass groups by) is computed by the database from the stage timestamps; a schema
whose expression lags behind the stages (a stage added, like `helped`, without rebuilding
it) would count wrongly, silently. And the `helped` stage is a timestamp set when a
service completes a referral saying it helped, so it can drift from the referrals if a
change of a referral ever missed it.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.orm import Session

from ..core import constants as c
from ..models import Episode, Referral, TriageTask
from ..models.funnel_indexes import FUNNEL_STAGE_COLUMNS


class Difference(NamedTuple):
    clinic_code: str | None
    stage: str
    kept: int  # as the report counts it
    recomputed: int  # from the timestamps, or for `helped` from the referrals

    def __str__(self) -> str:
        return (
            f"{self.clinic_code or 'no clinic'} {self.stage}: the report counts {self.kept}, "
            f"recomputed {self.recomputed}"
        )


def differences(session: Session) -> list[Difference]:
    """Every screening episode's stages by clinic, as kept and as recomputed: one pass."""
    counted = []
    for bit, column in enumerate(FUNNEL_STAGE_COLUMNS):
        reached = Episode.stages_reached.op("&")(1 << bit) != 0
        counted += [
            func.count(case((reached, 1))),
            func.count(Episode.__table__.c[column]),
        ]
    counted += [func.count(Episode.helped_at), func.count(case((_helped_by_a_referral(), 1)))]
    query = (
        select(Episode.clinic_code, *counted)
        .where(Episode.follow_up_task_id.is_(None))
        .group_by(Episode.clinic_code)
        .order_by(Episode.clinic_code)
    )
    found = []
    for clinic_code, *counts in session.execute(query):
        for position, stage in enumerate((*c.FUNNEL_STAGES, "helped, from its referrals")):
            kept, recomputed = counts[2 * position], counts[2 * position + 1]
            if kept != recomputed:
                found.append(Difference(clinic_code, stage, kept, recomputed))
    return found


def _helped_by_a_referral() -> ColumnElement[bool]:
    """One of the episode's task's referrals completed with a helped outcome (SPEC §7)."""
    return exists().where(
        TriageTask.episode_id == Episode.id,
        Referral.task_id == TriageTask.id,
        Referral.status == c.REFERRAL_COMPLETED,
        Referral.outcome.in_(sorted(c.HELPED_OUTCOMES)),
    )
