"""Properties of the engine and the loader, over many generated inputs (hypothesis).

- A hidden item never keeps an answer and never raises a flag.
- Flags, kept answers and the task depend only on the answers of visible items.
- The loader only ever raises `SourceError`, whatever text it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screening.core.yamlsource import SourceError
from screening.questionnaire.engine import evaluate, triage_decision
from screening.questionnaire.loader import load_file, load_text
from screening.questionnaire.model import Item, Questionnaire

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "questionnaires").glob("*.yaml"))
SHIPPED_QUESTIONNAIRES = [load_file(path) for path in SHIPPED]
BARTS_LINES = (ROOT / "questionnaires" / "barts-social-welfare.yaml").read_text().splitlines()

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- generated questionnaires --------------------------------------------------------------

DOMAINS = ["d1", "d2", "d3"]
VALUES = ["a", "b", "c"]


@st.composite
def conditions(draw: st.DrawFn, earlier: list[dict[str, Any]], depth: int = 0) -> dict[str, Any]:
    """A valid show_if over the items written before (each a raw item mapping)."""
    flagged = [raw["flag"]["domain"] for raw in earlier if "flag" in raw]
    forms = ["equals", "in", "answered"]
    if flagged:
        forms += ["any_flag_true", "any_flag_domains"]
    if depth < 2:
        forms += ["all", "any", "not"]
    form = draw(st.sampled_from(forms))
    target = draw(st.sampled_from(earlier))
    values = VALUES if target["type"] != "scale" else [str(n) for n in range(6)]
    if form == "equals":
        return {"item": target["id"], "equals": draw(st.sampled_from(values))}
    if form == "in":
        chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
        return {"item": target["id"], "in": chosen}
    if form == "answered":
        return {"item": target["id"], "answered": draw(st.booleans())}
    if form == "any_flag_true":
        return {"any_flag": True}
    if form == "any_flag_domains":
        chosen = draw(st.lists(st.sampled_from(flagged), min_size=1, max_size=2, unique=True))
        return {"any_flag": chosen}
    if form == "not":
        return {"not": draw(conditions(earlier, depth + 1))}
    parts = draw(st.lists(conditions(earlier, depth + 1), min_size=1, max_size=3))
    return {form: parts}


@st.composite
def generated_questionnaires(draw: st.DrawFn) -> Questionnaire:
    raw_items: list[dict[str, Any]] = []
    for index in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.sampled_from(["choice", "multi", "scale"]))
        raw: dict[str, Any] = {"id": f"item_{index}", "type": kind, "text": f"Question {index}?"}
        domain = draw(st.sampled_from(DOMAINS))
        if kind == "scale":
            raw.update(min=0, max=5)
            if draw(st.booleans()):
                bound = draw(st.sampled_from(["at_least", "at_most"]))
                raw["flag"] = {bound: draw(st.integers(0, 5)), "domain": domain}
        else:
            raw["answers"] = "abc"
            if draw(st.booleans()):
                when = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True))
                raw["flag"] = {"when": when, "domain": domain}
        if raw_items and draw(st.booleans()):
            raw["show_if"] = draw(conditions(list(raw_items)))
        raw_items.append(raw)
    document = {
        "id": "generated",
        "version": 1,
        "domains": {domain: domain.upper() for domain in DOMAINS},
        "answer_sets": {"abc": [{"value": v, "label": v.upper()} for v in VALUES]},
        "items": raw_items,
    }
    text = yaml.safe_dump(document, sort_keys=False)
    try:
        return load_text(text, "generated.yaml")
    except SourceError as exc:  # the generator only writes valid files
        raise AssertionError(f"{exc}\n{text}") from exc


def answer_for(item: Item) -> st.SearchStrategy[Any]:
    if item.type == "multi":
        return st.lists(st.sampled_from([*item.values, "junk"]), max_size=3, unique=True)
    if item.type == "choice":
        return st.sampled_from([*item.values, "", "junk"])
    if item.type in {"scale", "number"}:
        low = item.min if item.min is not None else -5
        high = item.max if item.max is not None else 50
        return st.integers(low - 1, high + 1).map(str) | st.sampled_from(["", "x", " 3 "])
    return st.text(max_size=10)


@st.composite
def questionnaire_and_answers(draw: st.DrawFn) -> tuple[Questionnaire, dict[str, Any]]:
    questionnaire = draw(st.sampled_from(SHIPPED_QUESTIONNAIRES) | generated_questionnaires())
    answers = {}
    for item in questionnaire.items:
        if draw(st.integers(0, 4)) > 0:  # now and then, an item left out altogether
            answers[item.id] = draw(answer_for(item))
    return questionnaire, answers


# --- the engine ------------------------------------------------------------------------------


@FAST
@given(questionnaire_and_answers())
def test_a_hidden_item_never_keeps_an_answer_nor_raises_a_flag(
    case: tuple[Questionnaire, dict[str, Any]],
) -> None:
    questionnaire, answers = case
    evaluation = evaluate(questionnaire, answers)
    hidden = {item.id for item in questionnaire.items} - set(evaluation.visible)
    assert not hidden & set(evaluation.answers)
    assert not hidden & {flag.item_id for flag in evaluation.flags}
    # And the other way round: every flag comes from a kept answer of a visible item.
    assert {flag.item_id for flag in evaluation.flags} <= set(evaluation.answers)
    assert set(evaluation.answers) <= set(evaluation.visible)


@FAST
@given(questionnaire_and_answers(), st.data())
def test_changing_a_hidden_answer_changes_nothing(
    case: tuple[Questionnaire, dict[str, Any]], data: st.DataObject
) -> None:
    questionnaire, answers = case
    before = evaluate(questionnaire, answers)
    hidden = [item for item in questionnaire.items if item.id not in before.visible]
    changed = dict(answers)
    for item in hidden:
        if data.draw(st.booleans()):
            changed[item.id] = data.draw(answer_for(item))
        else:
            changed.pop(item.id, None)
    after = evaluate(questionnaire, changed)
    assert after == before
    assert triage_decision(questionnaire, after) == triage_decision(questionnaire, before)


@FAST
@given(questionnaire_and_answers())
def test_the_kept_answers_alone_give_the_same_evaluation(
    case: tuple[Questionnaire, dict[str, Any]],
) -> None:
    questionnaire, answers = case
    evaluation = evaluate(questionnaire, answers)
    assert evaluate(questionnaire, evaluation.answers) == evaluation


# --- the loader never crashes ------------------------------------------------------------------


def loads_or_reports(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml")
    except SourceError as exc:
        assert exc.problems, "a SourceError must carry at least one problem"
        for problem in exc.problems:
            assert problem.file == "fuzz.yaml"
            assert problem.line >= 1
            assert problem.message


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_only_ever_raises_source_error(text: str) -> None:
    loads_or_reports(text)


# Keys the schema knows, so that random documents reach past the first checks.
KEYS = st.sampled_from(
    [
        "id", "version", "title", "languages", "intro", "domains", "answer_sets", "items",
        "type", "text", "hint", "answers", "value", "label", "required", "min", "max",
        "min_label", "max_label", "max_length", "flag", "when", "at_least", "at_most",
        "domain", "priority", "always_triage", "show_if", "item", "equals", "in", "answered",
        "any_flag", "all", "any", "not", "triage", "consent_item", "contact_values",
        "create_tasks", "examples", "name", "flags", "task", "status", "code", "system",
        "en", "bn", "choice", "scale", "yes",
    ]
) | st.text(max_size=8)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["choice", "multi", "scale", "yes", "no", "urgent", "none", "en", "a"])
    | st.text(max_size=12)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(DOCUMENTS, st.booleans())
def test_random_yaml_documents_only_ever_raise_source_error(document: Any, flow: bool) -> None:
    loads_or_reports(yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(KEYS, DOCUMENTS, max_size=8).map(
        lambda extra: {"id": "x", "version": 1, "items": [{"id": "a", "type": "text"}], **extra}
    )
)
def test_random_questionnaire_shaped_documents_only_ever_raise_source_error(
    document: dict[str, Any],
) -> None:
    loads_or_reports(yaml.safe_dump(document, sort_keys=False))


NEW_VALUES = st.sampled_from(
    [
        "", "yes", "no", "~", "null", "0", "-1", "11", "1.5", ".inf", ".nan", "[]", "{}",
        "[yes, no]", "{a: 1}", "&anchor x", "*anchor", '!!int ""', "!!binary x", "!!bool x",
        "!!set {a}", "!!float x", "'", '"', "|", "- x", "? x", "1e999", "9" * 30,
        "urgent", "choice", "multi", "scale", "info", "text", "financial", "wants_help",
    ]
) | st.text(max_size=15)  # fmt: skip


@st.composite
def barts_mutations(draw: st.DrawFn) -> str:
    lines = list(BARTS_LINES)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "swap", "value", "duplicate"]))
        if action == "delete":
            del lines[index]
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[draw(st.integers(0, len(lines) - 1))])
        elif ":" in lines[index]:
            head = lines[index][: lines[index].index(":") + 1]
            lines[index] = f"{head} {draw(NEW_VALUES)}"
        if not lines:
            break
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None)
@given(barts_mutations())
def test_mutations_of_the_barts_file_only_ever_raise_source_error(text: str) -> None:
    loads_or_reports(text)


def test_the_mutation_strategy_starts_from_a_valid_file() -> None:
    assert load_text("\n".join(BARTS_LINES) + "\n").id == "barts-social-welfare"
