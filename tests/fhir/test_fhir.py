"""FHIR R4 export (SPEC §12): every resource validates with fhir.resources' R4B models, and
every `enableWhen` (or FHIRPath `enableWhenExpression`) says what the engine says."""

from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy import evaluate as fhirpath_evaluate
from fhirpathpy.models import models
from flask import Flask
from hypothesis import given
from sqlalchemy import select

from screening.config.loaded import state
from screening.core import constants as c
from screening.core.extensions import db
from screening.fhir.export import export_fhir
from screening.fhir.questionnaire import ENABLE_WHEN_EXPRESSION, questionnaire_resource
from screening.fhir.records import NHS_NUMBER_SYSTEM
from screening.models import AuditEvent
from screening.questionnaire.engine import evaluate
from screening.questionnaire.loader import answer_problem, load_paths
from screening.questionnaire.model import Questionnaire
from tests.conftest import FIXTURES, ROOT
from tests.fake_twilio import FakeTwilio
from tests.questionnaire.test_properties import FAST, questionnaire_and_answers
from tests.reports.test_pilot import COMPLETED, FINANCIAL, FLAGGED, rebuild_pilot
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
    counts = export_fhir(session, loaded.questionnaires.questionnaires, BASE, folder)
    session.commit()
    resources = {kind: read(folder, kind) for kind in counts.written}
    # The files hold NHS numbers and answers: their owner alone may read them.
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert sorted(p.name for p in folder.iterdir()) == [
        "Observation.ndjson", "Questionnaire.ndjson", "QuestionnaireResponse.ndjson",
        "Task.ndjson",
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
    tasks = resources["Task"]
    assert len(tasks) == FLAGGED
    statuses = Counter(t["status"] for t in tasks)
    assert statuses == {"ready": 5, "in-progress": 7, "cancelled": 4, "completed": 3}
    declined = [t for t in tasks if t["status"] == "cancelled"]
    assert {t["code"]["coding"][0]["code"] for t in declined} == {"871711000000103"}
    assert {t["code"]["coding"][0]["code"] for t in tasks if t not in declined} == {
        "871731000000106"
    }
