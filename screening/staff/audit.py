"""The audit trail: who did what to which record, and from where.

`detail` holds codes, counts and ids only. Never put a password, a patient's details or an
email address typed for an unknown account in it: the audit log is read by more people
than the data it describes.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ..core import clock, constants
from ..core.dates import iso_date_in
from ..core.identifiers import normalise_nhs_number
from ..core.numbers import page_number
from ..core.refusals import Problems
from ..models import AuditEvent, Patient, StaffUser


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


def operator() -> str:
    """Who ran a command: the person behind sudo, else the account itself."""
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # an account with no name (a container's bare uid)
        return f"uid {os.getuid()}"


def patient_id_of(session: Session, nhs_number: str | None) -> int | None:
    if not nhs_number:
        return None
    return session.scalar(select(Patient.id).where(Patient.nhs_number == nhs_number))


# --- reading the trail (the admin's audit page) --------------------------------------------

ACTIONS = tuple(sorted(v for k, v in vars(constants).items() if k.startswith("AUDIT_")))
PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilters:
    user: str | None = None  # the actor's email
    nhs_number: str | None = None  # the patient's
    action: str | None = None
    since: date | None = None  # London calendar days, inclusive
    until: date | None = None
    page: int = 1

    def as_params(self, **changes: Any) -> dict[str, str]:
        values = {
            "user": self.user,
            "patient": self.nhs_number,
            "action": self.action,
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
            "page": str(self.page) if self.page > 1 else None,
            **changes,
        }
        return {key: str(value) for key, value in values.items() if value}


def parse_filters(values: Mapping[str, str]) -> AuditFilters:
    """The trail's filters from the page's query string; every problem is refused at once."""
    problems = Problems()
    patient = values.get("patient", "").strip()
    nhs_number = normalise_nhs_number(patient) if patient else None
    if patient and nhs_number is None:
        problems.add("patient", "Enter a valid 10-digit NHS number")
    action = values.get("action", "").strip() or None
    if action is not None and action not in ACTIONS:
        problems.add("action", "Select an action from the list")
    since, until = iso_date_in(values, "from", problems), iso_date_in(values, "to", problems)
    if since and until and since > until:
        problems.add("to", "The end date must be the same as or after the start date")
    page = page_number(values, problems)
    problems.refuse()
    return AuditFilters(
        user=values.get("user", "").strip() or None,
        nhs_number=nhs_number,
        action=action,
        since=since,
        until=until,
        page=page,
    )


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    action: str
    actor_email: str | None
    actor_name: str | None
    subject_type: str | None
    subject_id: str | None
    nhs_number: str | None
    patient_name: str | None
    remote_addr: str | None
    detail: dict[str, Any] | None


def find_events(session: Session, filters: AuditFilters) -> tuple[list[AuditRow], int]:
    """Events newest first, with the actor's email and the patient's NHS number."""
    conditions: list[Any] = []
    if filters.user:
        conditions.append(func.lower(StaffUser.email) == filters.user.strip().lower())
    if filters.nhs_number:
        conditions.append(Patient.nhs_number == filters.nhs_number)
    if filters.action:
        conditions.append(AuditEvent.action == filters.action)
    if filters.since:
        start = datetime.combine(filters.since, time(), tzinfo=clock.LONDON)
        conditions.append(AuditEvent.at >= start.astimezone(UTC))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time(), tzinfo=clock.LONDON)
        conditions.append(AuditEvent.at < end.astimezone(UTC))
    query = (
        select(
            AuditEvent.at,
            AuditEvent.action,
            StaffUser.email,
            StaffUser.display_name,
            AuditEvent.subject_type,
            AuditEvent.subject_id,
            Patient.nhs_number,
            func.trim(
                func.coalesce(Patient.given_name, "") + " " + func.coalesce(Patient.family_name, "")
            ),
            AuditEvent.remote_addr,
            AuditEvent.detail,
        )
        .outerjoin(StaffUser, AuditEvent.actor_user_id == StaffUser.id)
        .outerjoin(Patient, AuditEvent.patient_id == Patient.id)
        .where(*conditions)
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE).offset((filters.page - 1) * PAGE_SIZE)
    )
    return [AuditRow(*row) for row in rows], total


def record_patient_views(
    session: Session,
    patient_ids: list[int],
    *,
    actor: Actor,
    view: str,
    remote_addr: str | None = None,
) -> None:
    """One event per patient shown on a page, written in one statement whatever their
    number, so a list page costs the same number of statements at any page size."""
    if not patient_ids:
        return
    at = clock.now()
    session.execute(
        insert(AuditEvent),
        [
            {
                "at": at,
                "action": constants.AUDIT_VIEW_PATIENT,
                "actor_user_id": actor.id,
                "subject_type": "patient",
                "subject_id": str(patient_id),
                "patient_id": patient_id,
                "remote_addr": remote_addr,
                "detail": {"view": view},
            }
            for patient_id in dict.fromkeys(patient_ids)
        ],
    )
