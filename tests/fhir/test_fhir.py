"""FHIR R4 export (SPEC §12): every resource validates with fhir.resources' R4B models, and
every `enableWhen` (or FHIRPath `enableWhenExpression`) says what the engine says."""

from __future__ import annotations

import json
import stat
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy import evaluate as fhirpath_evaluate
from fhirpathpy.models import models
from flask import Flask
from hypothesis import given
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.config.schema import RawService
from screening.core import clock
from screening.core import constants as c
from screening.core.extensions import db
from screening.fhir.export import export_fhir
from screening.fhir.questionnaire import ENABLE_WHEN_EXPRESSION, questionnaire_resource
from screening.fhir.records import NHS_NUMBER_SYSTEM
from screening.fhir.referrals import service_system
from screening.models import AuditEvent, Referral, TriageTask
from screening.questionnaire.engine import evaluate
from screening.questionnaire.loader import answer_problem, load_paths
from screening.questionnaire.model import Questionnaire
from tests.conftest import FIXTURES, ROOT
from tests.factories import make_task
from tests.fake_twilio import FakeTwilio
from tests.questionnaire.test_properties import FAST, questionnaire_and_answers
from tests.reports.test_pilot import COMPLETED, FINANCIAL, FLAGGED, REFERRED, rebuild_pilot
from tests.sms.conftest import fake_twilio, fake_twilio_server, no_real_twilio  # noqa: F401
from tests.sms.test_outbox import twilio_app  # noqa: F401

BASE = "https://screen.example.nhs.uk"
R4 = models["r4"]


def valid(resource: dict[str, Any]) -> None:
    """Raises unless the R4B model of its type accepts it."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def every_questionnaire() -> list[Questionnaire]:
    paths = [ROOT / "questionnaires", FIXTURES / "questionnaires" / "valid"]
    return list(load_paths(paths).questionnaires.values())


def test_every_shipped_and_test_questionnaire_validates() -> None:
    for questionnaire in every_questionnaire():
        resource = questionnaire_resource(questionnaire, BASE)
        valid(resource)
        assert resource["url"] == f"{BASE}/fhir/Questionnaire/{questionnaire.id}"
        assert resource["version"] == str(questionnaire.version)
        assert [i["linkId"] for i in resource["item"]] == [i.id for i in questionnaire.items]


def test_the_barts_consent_question_is_enabled_by_any_earlier_flag() -> None:
    barts = {q.id: q for q in every_questionnaire()}["barts-social-welfare"]
    items = {i["linkId"]: i for i in questionnaire_resource(barts, BASE)["item"]}
    (extension,) = items["wants_help"]["extension"]
    assert extension["url"] == ENABLE_WHEN_EXPRESSION
    expression = extension["valueExpression"]["expression"]
    assert "linkId = 'ends_meet'" in expression and "$this = 'yes'" in expression
    assert "linkId = 'stable_housing'" in expression and "$this = 'no'" in expression


# --- enableWhen against the engine ------------------------------------------------------------


def enabled(item: dict[str, Any], response: dict[str, Any]) -> bool:
    """FHIR's rule for one Questionnaire item over a QuestionnaireResponse."""
    for extension in item.get("extension", []):
        if extension["url"] == ENABLE_WHEN_EXPRESSION:
            expression = extension["valueExpression"]["expression"]
            result = fhirpath_evaluate(response, expression, {"resource": response}, model=R4)
            assert result in ([True], [False]), (expression, result)
            return result == [True]
    conditions = item.get("enableWhen")
    if not conditions:
        return True
    answers = {i["linkId"]: i["answer"] for i in response["item"]}
    results = [
        _holds(condition, answers.get(condition["question"], [])) for condition in conditions
    ]
    return all(results) if item.get("enableBehavior", "all") == "all" else any(results)


def _holds(condition: dict[str, Any], answers: list[dict[str, Any]]) -> bool:
    if condition["operator"] == "exists":
        return bool(answers) == condition["answerBoolean"]
    assert condition["operator"] == "="
    ((kind, wanted),) = [(k, v) for k, v in condition.items() if k.startswith("answer")]
    given_values = [a.get(kind.replace("answer", "value", 1)) for a in answers]
    if kind == "answerCoding":
        same = ("system", "code")
        return any(
            v is not None and all(v.get(k) == wanted.get(k) for k in same) for v in given_values
        )
    return wanted in given_values


def response_items(questionnaire: Questionnaire, kept: dict[str, Any]) -> dict[str, Any]:
    from screening.fhir.questionnaire import answer_value

    items = []
    for item in questionnaire.items:
        if item.id in kept:
            values = [kept[item.id]] if isinstance(kept[item.id], str) else kept[item.id]
            answers = [answer_value(item, v, questionnaire.default_language) for v in values]
            items.append({"linkId": item.id, "answer": answers})
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items}


@FAST
@given(questionnaire_and_answers())
def test_enable_when_agrees_with_the_engine_on_every_show_if_form(
    case: tuple[Questionnaire, dict[str, Any]],
) -> None:
    questionnaire, answers = case
    # As the form stores them: trimmed, and only answers the item can take.
    trimmed = {k: v.strip() if isinstance(v, str) else v for k, v in answers.items()}
    possible = {
        item_id: value
        for item_id, value in trimmed.items()
        if answer_problem(questionnaire.item(item_id), value) is None
    }
    evaluation = evaluate(questionnaire, possible)
    response = response_items(questionnaire, evaluation.answers)
    resource = questionnaire_resource(questionnaire, BASE)
    for item, exported in zip(questionnaire.items, resource["item"], strict=True):
        assert enabled(exported, response) == (item.id in evaluation.visible), (
            item.id,
            item.show_if,
            exported,
            response,
        )


# --- the whole export ---------------------------------------------------------------------------


def read(folder: Path, kind: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / f"{kind}.ndjson").read_text().splitlines()]


def test_the_pilot_exports_and_every_resource_validates(
    twilio_app: Flask,  # noqa: F811
    fake_twilio: FakeTwilio,  # noqa: F811
    tmp_path: Path,
) -> None:
    rebuild_pilot(twilio_app, fake_twilio, tmp_path)
    session = db.session()
    loaded = state()
    folder = tmp_path / "fhir"
    counts = export_fhir(
        session,
        loaded.questionnaires.questionnaires,
        BASE,
        folder,
        services=loaded.config.services,
    )
    session.commit()
    resources = {kind: read(folder, kind) for kind in counts.written}
    # The files hold NHS numbers and answers: their owner alone may read them.
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert sorted(p.name for p in folder.iterdir()) == [
        "Observation.ndjson", "Organization.ndjson", "Questionnaire.ndjson",
        "QuestionnaireResponse.ndjson", "ServiceRequest.ndjson", "Task.ndjson",
    ]  # fmt: skip
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == c.AUDIT_EXPORT_FHIR))
    assert event.detail["QuestionnaireResponse"] == COMPLETED and event.detail["operator"]
    for kind, found in resources.items():
        assert len(found) == counts.written[kind]
        for resource in found:
            valid(resource)
    responses = resources["QuestionnaireResponse"]
    assert len(responses) == COMPLETED
    assert {r["questionnaire"] for r in responses} == {
        f"{BASE}/fhir/Questionnaire/barts-social-welfare|2"
    }
    assert all(r["subject"]["identifier"]["system"] == NHS_NUMBER_SYSTEM for r in responses)
    categories = Counter(o["category"][1]["coding"][0]["code"] for o in resources["Observation"])
    assert categories["financial-insecurity"] == FINANCIAL
    tasks = [t for t in resources["Task"] if "partOf" not in t]  # the triage tasks
    assert len(tasks) == FLAGGED
    statuses = Counter(t["status"] for t in tasks)
    assert statuses == {"ready": 5, "in-progress": 7, "cancelled": 4, "completed": 3}
    declined = [t for t in tasks if t["status"] == "cancelled"]
    assert {t["code"]["coding"][0]["code"] for t in declined} == {"871711000000103"}
    assert {t["code"]["coding"][0]["code"] for t in tasks if t not in declined} == {
        "871731000000106"
    }
    # The pilot's six referrals, none answered yet, to two services.
    referrals = [t for t in resources["Task"] if "partOf" in t]
    assert [t["status"] for t in referrals] == ["requested"] * REFERRED
    assert [r["status"] for r in resources["ServiceRequest"]] == ["active"] * REFERRED
    assert sorted(o["id"] for o in resources["Organization"]) == [
        "service-citizens-advice", "service-pcn-social-prescriber",
    ]  # fmt: skip


# --- referrals (SPEC §13) -----------------------------------------------------------------------

# The PCN's social prescriber is coded with the national social prescribing referral code;
# the other services of the shipped directory have no code.
PCN_SNOMED = "871731000000106"


def coded_services() -> tuple[RawService, ...]:
    return tuple(
        s.model_copy(update={"snomed": PCN_SNOMED}) if s.id == "pcn-social-prescriber" else s
        for s in state().config.services
    )


def add_referral(
    session: Session,
    task: TriageTask,
    service: str,
    status: str = c.REFERRAL_MADE,
    **fields: object,
) -> Referral:
    """A referral as the service left it, set on the model: what writes it is not tested here."""
    made = clock.now() - timedelta(days=10)
    names = {s.id: s.name for s in state().config.services}
    fields.setdefault("service_name", names.get(service))
    referral = Referral(
        task_id=task.id, service_id=service, status=status, referred_at=made, **fields
    )
    if status != c.REFERRAL_MADE:
        referral.status_changed_at = made + timedelta(days=3)
    session.add(referral)
    session.commit()
    return referral


def referrals_in_every_status(session: Session) -> dict[str, Referral]:
    task = make_task(session)
    later = clock.now() - timedelta(days=5)
    return {
        "made": add_referral(session, task, "citizens-advice", domain="financial"),
        "accepted": add_referral(
            session, task, "food-bank", c.REFERRAL_ACCEPTED, domain="food", accepted_at=later
        ),
        "declined": add_referral(
            session, task, "housing-options", c.REFERRAL_DECLINED,
            domain="housing", declined_at=later, reason="no_capacity",
        ),
        "completed": add_referral(
            session, task, "pcn-social-prescriber", c.REFERRAL_COMPLETED,
            accepted_at=later, completed_at=clock.now(), outcome=c.REFERRAL_HELPED,
        ),
        "other": add_referral(
            session, task, c.SERVICE_OTHER, service_name="Bromley by Bow Centre",
            domain="isolation",
        ),
        "other again": add_referral(
            session, task, c.SERVICE_OTHER, service_name="BROMLEY BY BOW CENTRE"
        ),
    }  # fmt: skip


def export_referrals(session: Session, folder: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Every resource of the export by type, then by id, each validated."""
    export_fhir(
        session,
        state().questionnaires.questionnaires,
        BASE,
        folder,
        services=coded_services(),
    )
    session.commit()
    exported = {}
    for kind in ("Task", "ServiceRequest", "Organization"):
        for resource in read(folder, kind):
            valid(resource)
        exported[kind] = {r["id"]: r for r in read(folder, kind)}
    return exported


def test_each_referral_exports_as_a_service_request_with_a_task_following_its_status(
    session: Session, tmp_path: Path
) -> None:
    made = referrals_in_every_status(session)
    exported = export_referrals(session, tmp_path)
    requests, tasks = exported["ServiceRequest"], exported["Task"]
    assert len(requests) == len(made)
    triage = f"Task/task-{made['made'].task_id}"
    expected = {
        "made": ("active", "requested", "financial-insecurity"),
        "accepted": ("active", "accepted", "food-insecurity"),
        "declined": ("revoked", "rejected", "housing-instability"),
        "completed": ("completed", "completed", "sdoh-category-unspecified"),
        "other": ("active", "requested", "social-connection"),
    }
    for name, (request_status, task_status, category) in expected.items():
        referral = made[name]
        request = requests[f"referral-{referral.id}"]
        task = tasks[f"referral-task-{referral.id}"]
        assert (request["status"], task["status"]) == (request_status, task_status), name
        assert request["intent"] == task["intent"] == "order"
        assert request["category"][0]["coding"][0]["code"] == category
        assert request["subject"]["identifier"] == {
            "system": NHS_NUMBER_SYSTEM, "value": "9990000018",
        }  # fmt: skip
        assert task["for"] == request["subject"]
        assert request["authoredOn"] == referral.referred_at.isoformat()
        assert task["focus"] == {"reference": f"ServiceRequest/{request['id']}"}
        # Told apart from the triage task it belongs to.
        assert task["partOf"] == [{"reference": triage}]
        assert task["code"]["coding"][0]["code"] == "fulfill"
        assert request["supportingInfo"] == [{"reference": triage}]
        assert task["owner"] == request["performer"][0]
    triage_task = tasks[f"task-{made['made'].task_id}"]  # as before referrals
    assert "partOf" not in triage_task and triage_task["status"] == "ready"
    assert triage_task["code"]["coding"][0]["code"] == "871731000000106"


def test_a_declined_referral_gives_its_reason_and_a_completed_one_its_outcome(
    session: Session, tmp_path: Path
) -> None:
    made = referrals_in_every_status(session)
    tasks = export_referrals(session, tmp_path)["Task"]
    declined = tasks[f"referral-task-{made['declined'].id}"]
    assert declined["statusReason"]["coding"] == [
        {"system": f"{BASE}/fhir/CodeSystem/referral-decline-reason", "code": "no_capacity"}
    ]
    assert declined["executionPeriod"]["end"] == made["declined"].declined_at.isoformat()
    completed = tasks[f"referral-task-{made['completed'].id}"]
    (output,) = completed["output"]
    assert output["valueCodeableConcept"]["coding"] == [
        {"system": f"{BASE}/fhir/CodeSystem/referral-outcome", "code": "helped"}
    ]
    waiting = tasks[f"referral-task-{made['made'].id}"]
    assert not {"statusReason", "output", "executionPeriod"} & set(waiting)


def test_a_referral_is_coded_as_its_service_says_and_performed_by_an_exported_organization(
    session: Session, tmp_path: Path
) -> None:
    made = referrals_in_every_status(session)
    exported = export_referrals(session, tmp_path)
    requests, organizations = exported["ServiceRequest"], exported["Organization"]
    pcn = requests[f"referral-{made['completed'].id}"]
    assert pcn["code"]["coding"] == [{"system": "http://snomed.info/sct", "code": PCN_SNOMED}]
    assert pcn["code"]["text"] == "GP practice (PCN) social prescribing link worker"
    assert requests[f"referral-{made['made'].id}"]["code"] == {
        "text": "Citizens Advice (money, benefits and debt)"
    }
    for request in requests.values():
        (performer,) = request["performer"]
        kind, organization_id = performer["reference"].split("/")
        assert kind == "Organization" and organization_id in organizations
    # Each service once: four from the directory, and the one `other` named twice alike.
    assert len(organizations) == 5
    citizens_advice = organizations["service-citizens-advice"]
    assert citizens_advice["identifier"] == [
        {"system": service_system(BASE), "value": "citizens-advice"}
    ]
    assert citizens_advice["identifier"][0]["system"] == f"{BASE}/fhir/Id/service"
    assert citizens_advice["name"] == "Citizens Advice (money, benefits and debt)"
    assert {"system": "phone", "value": "0800 144 8848"} in citizens_advice["telecom"]
    other = requests[f"referral-{made['other'].id}"]["performer"][0]["reference"]
    again = requests[f"referral-{made['other again'].id}"]["performer"][0]["reference"]
    assert other == again
    named = organizations[other.split("/")[1]]
    assert named["name"] == "BROMLEY BY BOW CENTRE"  # as last referred to
    assert "identifier" not in named


def test_an_organization_keeps_its_id_from_one_export_to_the_next(
    session: Session, tmp_path: Path
) -> None:
    referrals_in_every_status(session)
    first = export_referrals(session, tmp_path / "first")["Organization"]
    task = make_task(session, nhs_number="9990000026")
    add_referral(session, task, c.SERVICE_OTHER, service_name="A new drop-in")
    second = export_referrals(session, tmp_path / "second")["Organization"]
    assert set(first) < set(second)
    assert all(second[key] == first[key] for key in first)


def test_a_purged_patients_referral_still_validates_without_naming_them(
    session: Session, tmp_path: Path
) -> None:
    made = referrals_in_every_status(session)
    patient = made["made"].task.episode.patient
    patient.nhs_number = None
    session.commit()
    exported = export_referrals(session, tmp_path)
    request = exported["ServiceRequest"][f"referral-{made['made'].id}"]
    assert "identifier" not in request["subject"]
    assert request["subject"]["extension"][0]["valueCode"] == "masked"
    assert "for" not in exported["Task"][f"referral-task-{made['made'].id}"]
