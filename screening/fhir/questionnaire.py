"""A questionnaire version as a FHIR `Questionnaire`, and its `show_if` as `enableWhen`.

`show_if` maps to `enableWhen` where FHIR can say the same thing: one equals, an `in`
(several answers, any of them), an answered/not-answered test, or an all/any of those.
The rest (a `not`, an `any_flag`, or mixed nesting) becomes the SDC
`enableWhenExpression` extension in FHIRPath over the response. Both read answers as the
engine does: a hidden question has no answer, and a `multi` question matches when any of
its answers does. The tests check every item's rule against the engine.
"""

from __future__ import annotations

from typing import Any

from ..questionnaire.model import (
    All,
    Answered,
    AnyFlag,
    AnyOf,
    Condition,
    Equals,
    In,
    Item,
    Not,
    Questionnaire,
)

ENABLE_WHEN_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
)
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
FHIR_TYPES = {
    "choice": "choice",
    "multi": "choice",
    "scale": "integer",
    "number": "decimal",
    "text": "text",
    "info": "display",
}


def canonical_url(base_url: str, questionnaire_id: str) -> str:
    return f"{base_url}/fhir/Questionnaire/{questionnaire_id}"


def resource_id(questionnaire: Questionnaire) -> str:
    return f"{questionnaire.id}-{questionnaire.version}"


def questionnaire_resource(questionnaire: Questionnaire, base_url: str) -> dict[str, Any]:
    language = questionnaire.default_language
    return {
        "resourceType": "Questionnaire",
        "id": resource_id(questionnaire),
        "url": canonical_url(base_url, questionnaire.id),
        "version": str(questionnaire.version),
        "title": questionnaire.title[language],
        "status": "active",
        "language": language,
        "subjectType": ["Patient"],
        "item": [_item(questionnaire, item) for item in questionnaire.items],
    }


def option_coding(item: Item, value: str, language: str) -> dict[str, Any]:
    """The coding an answer value is exported as: its `code:` where the file gives one."""
    for option in item.answers:
        if option.value == value:
            if option.code is not None:
                coding = {"system": option.code.system, "code": option.code.code}
                return coding | {"display": option.code.display or option.label[language]}
            return {"code": value, "display": option.label[language]}
    return {"code": value}


def answer_value(item: Item, value: str, language: str) -> dict[str, Any]:
    """One answer as `value[x]`, by the item's FHIR type."""
    if item.type in ("choice", "multi"):
        return {"valueCoding": option_coding(item, value, language)}
    if item.type == "scale":
        return {"valueInteger": int(value)}
    if item.type == "number":
        number = float(value)
        return {"valueDecimal": int(number) if number.is_integer() else number}
    return {"valueString": value}


def _item(questionnaire: Questionnaire, item: Item) -> dict[str, Any]:
    language = questionnaire.default_language
    entry: dict[str, Any] = {
        "linkId": item.id,
        "text": item.text[language],
        "type": FHIR_TYPES[item.type],
    }
    if item.code is not None:
        entry["code"] = [
            {"system": item.code.system, "code": item.code.code}
            | ({"display": item.code.display} if item.code.display else {})
        ]
    if item.asks:
        entry["required"] = item.required
    if item.type == "multi":
        entry["repeats"] = True
    if item.answers and item.type in ("choice", "multi"):
        entry["answerOption"] = [
            {"valueCoding": option_coding(item, option.value, language)} for option in item.answers
        ]
    if item.type in ("scale", "number"):
        entry["extension"] = _bounds(item)
    if item.type == "text" and item.max_length:
        entry["maxLength"] = item.max_length
    if item.show_if is not None:
        rule = enable_when(questionnaire, item)
        entry["extension"] = entry.get("extension", []) + rule.pop("extension", [])
        entry.update(rule)
    if not entry.get("extension"):
        entry.pop("extension", None)
    return entry


def _bounds(item: Item) -> list[dict[str, Any]]:
    kind = "valueInteger" if item.type == "scale" else "valueDecimal"
    bounds = ((MIN_VALUE, item.min), (MAX_VALUE, item.max))
    return [{"url": url, kind: limit} for url, limit in bounds if limit is not None]


# --- show_if ---------------------------------------------------------------------------


def enable_when(questionnaire: Questionnaire, item: Item) -> dict[str, Any]:
    """`enableWhen` and `enableBehavior`, or the FHIRPath extension where they fall short."""
    assert item.show_if is not None
    mapped = _as_enable_when(questionnaire, item.show_if)
    if mapped is not None:
        conditions, behavior = mapped
        return {"enableWhen": conditions} | (
            {"enableBehavior": behavior} if len(conditions) > 1 else {}
        )
    expression = fhirpath(questionnaire, item.show_if, before=item.id)
    return {
        "extension": [
            {
                "url": ENABLE_WHEN_EXPRESSION,
                "valueExpression": {"language": "text/fhirpath", "expression": expression},
            }
        ]
    }


def _as_enable_when(
    questionnaire: Questionnaire, condition: Condition
) -> tuple[list[dict[str, Any]], str] | None:
    match condition:
        case Equals() | Answered():
            return [_one(questionnaire, condition)], "all"
        case In(item=item_id, values=values):
            return [_one(questionnaire, Equals(item=item_id, value=v)) for v in values], "any"
        case All(conditions=inner) if all(isinstance(c, Equals | Answered) for c in inner):
            return [_one(questionnaire, c) for c in inner], "all"
        case AnyOf(conditions=inner) if all(isinstance(c, Equals | In | Answered) for c in inner):
            # Lists, not generators: a generator would read `c.item` only when consumed,
            # by then the last condition's item.
            flat = [[Equals(item=c.item, value=v) for v in c.values] if isinstance(c, In)
                    else [c] for c in inner]  # fmt: skip
            return [_one(questionnaire, c) for group in flat for c in group], "any"
    return None


def _one(questionnaire: Questionnaire, condition: Equals | Answered) -> dict[str, Any]:
    if isinstance(condition, Answered):
        return {
            "question": condition.item,
            "operator": "exists",
            "answerBoolean": condition.answered,
        }
    item = questionnaire.item(condition.item)
    value = answer_value(item, condition.value, questionnaire.default_language)
    (kind, answer), *_ = value.items()
    return {"question": item.id, "operator": "=", kind.replace("value", "answer", 1): answer}


def fhirpath(questionnaire: Questionnaire, condition: Condition, *, before: str) -> str:
    """The condition as a FHIRPath boolean over the response (`%resource`); `any_flag`
    looks at the flags of the items before `before`, as the engine does."""
    match condition:
        case Equals(item=item_id, value=value):
            return _matches(questionnaire, item_id, (value,))
        case In(item=item_id, values=values):
            return _matches(questionnaire, item_id, values)
        case Answered(item=item_id, answered=answered):
            found = f"{_answers(questionnaire.item(item_id))}.exists()"
            return found if answered else f"{found}.not()"
        case AnyFlag(domains=domains, raised=raised):
            hit = _any_flag(questionnaire, domains, before)
            return hit if raised else f"({hit}).not()"
        case All(conditions=inner):
            return " and ".join(f"({fhirpath(questionnaire, c, before=before)})" for c in inner)
        case AnyOf(conditions=inner):
            return " or ".join(f"({fhirpath(questionnaire, c, before=before)})" for c in inner)
        case Not(condition=inner):
            return f"({fhirpath(questionnaire, inner, before=before)}).not()"
    raise TypeError(f"unknown condition {condition!r}")


def _answers(item: Item) -> str:
    """The item's answers, as codes for choices and as values otherwise."""
    path = f"%resource.repeat(item).where(linkId = {_literal(item.id)}).answer.value"
    return f"{path}.code" if item.type in ("choice", "multi") else path


def _matches(questionnaire: Questionnaire, item_id: str, values: tuple[str, ...]) -> str:
    item = questionnaire.item(item_id)
    language = questionnaire.default_language
    literals = []
    for value in values:
        exported = answer_value(item, value, language)
        (answer,) = exported.values()
        literals.append(_literal(answer["code"] if isinstance(answer, dict) else answer))
    test = " or ".join(f"$this = {literal}" for literal in literals)
    return f"{_answers(item)}.where({test}).exists()"


def _any_flag(questionnaire: Questionnaire, domains: tuple[str, ...] | None, before: str) -> str:
    fires = []
    for item in questionnaire.items:
        if item.id == before:
            break
        rule = item.flag
        if rule is None or (domains is not None and rule.domain not in domains):
            continue
        if rule.when is not None:
            fires.append(_matches(questionnaire, item.id, rule.when))
            continue
        limits = [f"$this >= {_number(rule.at_least)}"] if rule.at_least is not None else []
        if rule.at_most is not None:
            limits.append(f"$this <= {_number(rule.at_most)}")
        fires.append(f"{_answers(item)}.where({' or '.join(limits)}).exists()")
    return " or ".join(f"({f})" for f in fires) if fires else "false"


def _literal(value: str | int | float) -> str:
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    return _number(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
