"""Referrals as FHIR (SPEC §13): each a `ServiceRequest` to its service's `Organization`,
with a `Task` that asks the service to fulfil it and follows the service's answer.

This is the Gravity Project's SDOH Clinical Care referral pattern: the request says what
was asked, for whom and of whom, and stays `active` while the service works on it; the
task carries the service's side (accepted, declined with a reason, completed with an
outcome). A receiving system reads our referrals as it reads its own. The referral's task
is `partOf` the triage task it came from and its `code` is `fulfill`, which tells it from
the triage task (coded with the national social prescribing code).

Notes are free text and stay here, as the triage task's do: the resources carry codes,
times and references.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..config.schema import RawService
from ..core import constants as c
from ..models import Referral
from .records import (
    SDOH_CATEGORIES,
    SNOMED,
    instant,
    sdoh_category,
    subject,
    task_resource_id,
)

# The request stands while the service may still act on it; a service that declined
# withdrew it, which FHIR calls `revoked`.
SERVICE_REQUEST_STATUS = {
    c.REFERRAL_MADE: "active",
    c.REFERRAL_ACCEPTED: "active",
    c.REFERRAL_DECLINED: "revoked",
    c.REFERRAL_COMPLETED: "completed",
}
# SPEC §13, exactly.
REFERRAL_TASK_STATUS = {
    c.REFERRAL_MADE: "requested",
    c.REFERRAL_ACCEPTED: "accepted",
    c.REFERRAL_DECLINED: "rejected",
    c.REFERRAL_COMPLETED: "completed",
}
TASK_CODES = "http://hl7.org/fhir/CodeSystem/task-code"
FULFILL = {"system": TASK_CODES, "code": "fulfill", "display": "Fulfill the focal request"}
# ServiceRequest.subject is required: a purged patient's referral says why it has none.
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
MAX_ID = 64  # FHIR's limit on a resource id


def service_system(base_url: str) -> str:
    """The identifier system of our services' ids (those of `config/services.yaml`)."""
    return f"{base_url}/fhir/Id/service"


def decline_reason_system(base_url: str) -> str:
    return f"{base_url}/fhir/CodeSystem/referral-decline-reason"


def outcome_system(base_url: str) -> str:
    return f"{base_url}/fhir/CodeSystem/referral-outcome"


def service_request_id(referral_pk: int) -> str:
    return f"referral-{referral_pk}"


def referral_task_id(referral_pk: int) -> str:
    return f"referral-task-{referral_pk}"


def organization_id(service_id: str, name: str | None) -> str:
    """The same in every export: a directory service by its id; an `other` service, which
    has only the name a prescriber typed, by a digest of that name (case and spacing
    aside, so two referrals to one service meet in one Organization)."""
    if service_id == c.SERVICE_OTHER:
        return f"other-{_digest(' '.join((name or '').split()).casefold())}"
    candidate = f"service-{service_id}"
    return candidate if len(candidate) <= MAX_ID else f"service-{_digest(service_id)}"


def organization_resource(
    service_id: str, name: str | None, entry: RawService | None, base_url: str
) -> dict[str, Any]:
    """A service referred to. A directory service is named as configured now, or, once it
    has left the directory, as it was named when last referred to."""
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": organization_id(service_id, name),
        "name": entry.name if entry is not None else name or service_id,
    }
    if service_id != c.SERVICE_OTHER:
        resource["identifier"] = [{"system": service_system(base_url), "value": service_id}]
    telecom = _telecom(entry)
    if telecom:
        resource["telecom"] = telecom
    return resource


def service_request_resource(
    referral: Referral, entry: RawService | None, nhs_number: str | None
) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": service_request_id(referral.id),
        "status": SERVICE_REQUEST_STATUS[referral.status],
        "intent": "order",
        "category": [
            {"coding": [{"system": SDOH_CATEGORIES, "code": sdoh_category(referral.domain)}]}
        ],
        "code": _service_code(referral, entry),
        "subject": _required_subject(nhs_number),
        "authoredOn": instant(referral.referred_at),
        "performer": [_service_reference(referral, entry)],
        # The triage task that led to it (`basedOn` takes requests only, not tasks).
        "supportingInfo": [{"reference": f"Task/{task_resource_id(referral.task_id)}"}],
    }


def referral_task_resource(
    referral: Referral, entry: RawService | None, nhs_number: str | None, base_url: str
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": referral_task_id(referral.id),
        "status": REFERRAL_TASK_STATUS[referral.status],
        "intent": "order",
        "code": {"coding": [FULFILL]},
        "focus": {"reference": f"ServiceRequest/{service_request_id(referral.id)}"},
        "partOf": [{"reference": f"Task/{task_resource_id(referral.task_id)}"}],
        "owner": _service_reference(referral, entry),
        "authoredOn": instant(referral.referred_at),
        "lastModified": instant(referral.status_changed_at or referral.referred_at),
    }
    if nhs_number is not None:
        resource["for"] = subject(nhs_number)["subject"]
    resource.update(_answer(referral, base_url))
    ended = referral.completed_at or referral.declined_at
    if referral.status in (c.REFERRAL_COMPLETED, c.REFERRAL_DECLINED) and ended is not None:
        resource["executionPeriod"] = {
            "start": instant(referral.referred_at),
            "end": instant(ended),
        }
    return resource


def _answer(referral: Referral, base_url: str) -> dict[str, Any]:
    """Why the service declined (`statusReason`, FHIR's reason for the task's status), or
    what came of it once completed (`output`, what the task produced)."""
    if referral.status == c.REFERRAL_DECLINED and referral.reason:
        return {"statusReason": _concept(decline_reason_system(base_url), referral.reason)}
    if referral.status == c.REFERRAL_COMPLETED and referral.outcome:
        concept = _concept(outcome_system(base_url), referral.outcome)
        return {"output": [{"type": {"text": "Referral outcome"}, "valueCodeableConcept": concept}]}
    return {}


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}], "text": code.replace("_", " ")}


def _service_code(referral: Referral, entry: RawService | None) -> dict[str, Any]:
    """What was asked for: the service's SNOMED CT code when `services.yaml` gives one,
    always with the service's name as referred to (directories change)."""
    text = _name(referral, entry)
    if entry is None or entry.snomed is None:
        return {"text": text}
    return {"coding": [{"system": SNOMED, "code": entry.snomed}], "text": text}


def _service_reference(referral: Referral, entry: RawService | None) -> dict[str, Any]:
    return {
        "reference": f"Organization/{organization_id(referral.service_id, referral.service_name)}",
        "display": _name(referral, entry),
    }


def _name(referral: Referral, entry: RawService | None) -> str:
    return referral.service_name or (entry.name if entry is not None else referral.service_id)


def _required_subject(nhs_number: str | None) -> dict[str, Any]:
    if nhs_number is None:
        return {
            "type": "Patient",
            "extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}],
        }
    return subject(nhs_number)["subject"]


def _telecom(entry: RawService | None) -> list[dict[str, str]]:
    """The service's public contacts from the directory."""
    if entry is None:
        return []
    given = (("phone", entry.phone), ("email", entry.email), ("url", entry.url))
    return [{"system": system, "value": value} for system, value in given if value]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
