"""The audit trail: who did what to which record, and from where.

`detail` holds codes, counts and ids only. Never put a password, a patient's details or an
email address typed for an unknown account in it: the audit log is read by more people
than the data it describes.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from . import clock
from .models import AuditEvent


class Actor(Protocol):
    """A staff user, or anything that carries a staff user's id (the signed-in identity)."""

    id: int


def record(
    session: Session,
    action: str,
    *,
    actor: Actor | None = None,
    subject_type: str | None = None,
    subject_id: object | None = None,
    patient_id: int | None = None,
    remote_addr: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session; the caller's transaction commits it."""
    event = AuditEvent(
        at=clock.now(),
        action=action,
        actor_user_id=actor.id if actor is not None else None,
        subject_type=subject_type,
        subject_id=str(subject_id) if subject_id is not None else None,
        patient_id=patient_id,
        remote_addr=remote_addr,
        detail=detail,
    )
    session.add(event)
    return event
