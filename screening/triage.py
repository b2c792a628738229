"""The triage queue: queries over tasks (SPEC §5). Task actions come with the queue screens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from . import constants as c
from .models import Appointment, Episode, Flag, TriageTask


@dataclass(frozen=True)
class TaskRow:
    id: int
    status: str
    priority: str
    domains: list[str]
    questionnaire_id: str
    appointment_id: str | None
    clinic_code: str | None
    created_at: datetime

    def as_json(self) -> dict[str, object]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


_PRIORITY_ORDER = case(
    {c.PRIORITY_URGENT: 0, c.PRIORITY_HIGH: 1, c.PRIORITY_ROUTINE: 2}, value=TriageTask.priority
)


def list_tasks(session: Session, *, status: str | None = None) -> list[TaskRow]:
    """Tasks, most pressing first, then oldest first; all statuses unless one is given."""
    query = (
        select(TriageTask, Episode.questionnaire_id, Episode.clinic_code, Appointment.external_id)
        .join(Episode, TriageTask.episode_id == Episode.id)
        .outerjoin(Appointment, Episode.appointment_id == Appointment.id)
        .order_by(_PRIORITY_ORDER, TriageTask.created_at, TriageTask.id)
    )
    if status is not None:
        query = query.where(TriageTask.status == status)
    rows = session.execute(query).all()
    domains = _domains(session, [task.response_id for task, *_ in rows if task.response_id])
    return [
        TaskRow(
            id=task.id,
            status=task.status,
            priority=task.priority,
            domains=domains.get(task.response_id or 0, []),
            questionnaire_id=questionnaire_id,
            appointment_id=appointment_id,
            clinic_code=clinic_code,
            created_at=task.created_at,
        )
        for task, questionnaire_id, clinic_code, appointment_id in rows
    ]


def _domains(session: Session, response_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not response_ids:
        return found
    flags = session.execute(
        select(Flag.response_id, Flag.domain)
        .where(Flag.response_id.in_(response_ids))
        .order_by(Flag.response_id, Flag.id)
    )
    for response_id, domain in flags:
        if domain not in found.setdefault(response_id, []):
            found[response_id].append(domain)
    return found
