"""What patients and staff did, as FHIR: `QuestionnaireResponse`, `Observation`, `Task`.

The patient is named by NHS number only (`Reference.identifier`), so a receiving system
matches its own record; a purged patient's resources carry no subject at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..core import constants as c
from ..models import Flag, Response, TriageTask
from ..questionnaire.engine import evaluate
from ..questionnaire.model import AnswerValue, Questionnaire
from .questionnaire import answer_value, canonical_url, option_coding

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED = "http://snomed.info/sct"
SDOH_CATEGORIES = (
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
)
OBSERVATION_CATEGORIES = "http://terminology.hl7.org/CodeSystem/observation-category"
# SPEC §12: each domain's Gravity Project SDOH category.
SDOH_CATEGORY = {
    "financial": "financial-insecurity",
    "food": "food-insecurity",
    "housing": "housing-instability",
    "isolation": "social-connection",
    "safety": "intimate-partner-violence",
}
UNSPECIFIED_CATEGORY = "sdoh-category-unspecified"
# NHS England's national codes for social prescribing (SPEC §12).
REFERRAL_TO_SOCIAL_PRESCRIBING = ("871731000000106", "Referral to social prescribing service")
SOCIAL_PRESCRIBING_DECLINED = ("871711000000103", "Social prescribing declined")
TASK_STATUS = {
    c.TASK_OPEN: "ready",
    c.TASK_ASSIGNED: "in-progress",
    c.TASK_DECLINED: "cancelled",
    c.TASK_CLOSED: "completed",
}
# FHIR's request priorities by their definitions: "urgent" is above routine, "asap" above
# urgent; ours are routine, high (within 3 working days) and urgent (the same day).
TASK_PRIORITY = {"routine": "routine", "high": "urgent", "urgent": "asap"}


def sdoh_category(domain: str | None) -> str:
    """The Gravity SDOH category of a need's domain: a flag's and a referral's alike."""
    return SDOH_CATEGORY.get(domain or "", UNSPECIFIED_CATEGORY)


def subject(nhs_number: str | None) -> dict[str, Any]:
    if nhs_number is None:
        return {}
    return {
        "subject": {
            "type": "Patient",
            "identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number},
        }
    }


def response_resource(
    response: Response,
    questionnaire: Questionnaire,
    answers: dict[str, AnswerValue],
    nhs_number: str | None,
    base_url: str,
) -> dict[str, Any]:
    """The answers the engine keeps (visible, non-blank), in the questionnaire's order."""
    language = questionnaire.default_language
    kept = evaluate(questionnaire, answers).answers
    items = []
    for item in questionnaire.items:
        if item.id not in kept:
            continue
        values = kept[item.id]
        values = [values] if isinstance(values, str) else values
        items.append(
            {
                "linkId": item.id,
                "text": item.text[language],
                "answer": [answer_value(item, value, language) for value in values],
            }
        )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": response_id(response.id),
        "questionnaire": f"{canonical_url(base_url, questionnaire.id)}|{questionnaire.version}",
        "status": "completed",
        "language": response.language,
        "authored": instant(response.submitted_at),
        **subject(nhs_number),
        "item": items,
    }


def observation_resource(
    flag: Flag,
    response: Response,
    questionnaire: Questionnaire,
    answer: AnswerValue | None,
    nhs_number: str | None,
) -> dict[str, Any]:
    language = questionnaire.default_language
    item = questionnaire.item(flag.item_id)
    code = (
        {
            "coding": [{"system": item.code.system, "code": item.code.code}],
            "text": item.text[language],
        }
        if item.code is not None
        else {"text": item.text[language]}
    )
    category = sdoh_category(flag.domain)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"flag-{flag.id}",
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORIES, "code": "social-history"}]},
            {"coding": [{"system": SDOH_CATEGORIES, "code": category}]},
        ],
        "code": code,
        **subject(nhs_number),
        "effectiveDateTime": instant(response.submitted_at),
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{response_id(response.id)}"}],
    }
    resource.update(_observed_value(questionnaire, item, answer, language))
    return resource


def task_resource(task: TriageTask, nhs_number: str | None) -> dict[str, Any]:
    status = TASK_STATUS[task.status]
    if task.status == c.TASK_CLOSED and task.outcome == "unable_to_contact":
        status = "failed"
    code, display = (
        SOCIAL_PRESCRIBING_DECLINED
        if task.status == c.TASK_DECLINED
        else REFERRAL_TO_SOCIAL_PRESCRIBING
    )
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_resource_id(task.id),
        "status": status,
        "intent": "order",
        "priority": TASK_PRIORITY[task.priority],
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "authoredOn": instant(task.created_at),
        "lastModified": instant(task.updated_at),
    }
    if task.response_id is not None:
        resource["focus"] = {"reference": f"QuestionnaireResponse/{response_id(task.response_id)}"}
    if nhs_number is not None:
        resource["for"] = subject(nhs_number)["subject"]
    if task.outcome:
        resource["businessStatus"] = {"text": task.outcome}
    if task.closed_at is not None:
        resource["executionPeriod"] = {
            "start": instant(task.created_at),
            "end": instant(task.closed_at),
        }
    return resource


def response_id(response_pk: int) -> str:
    return f"response-{response_pk}"


def task_resource_id(task_pk: int) -> str:
    return f"task-{task_pk}"


def _observed_value(
    questionnaire: Questionnaire, item: Any, answer: AnswerValue | None, language: str
) -> dict[str, Any]:
    if answer is None:
        return {}
    rule = item.flag
    values = [answer] if isinstance(answer, str) else list(answer)
    if item.type in ("choice", "multi"):
        firing = [v for v in values if rule is None or rule.when is None or v in rule.when]
        codings = [option_coding(item, v, language) for v in firing or values]
        return {"valueCodeableConcept": {"coding": codings}}
    (exported,) = answer_value(item, values[0], language).items()
    kind, value = exported
    return (
        {"valueInteger": value} if kind == "valueInteger" else {"valueQuantity": {"value": value}}
    )


def instant(moment: datetime) -> str:
    return moment.isoformat()
