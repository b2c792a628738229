"""The engine reads SPEC §3 one way: visibility, flags and the triage rule."""

from __future__ import annotations

import textwrap

import pytest

from screening.questionnaire.engine import (
    TaskDecision,
    evaluate,
    triage_decision,
    visible_items,
    wants_contact,
)
from screening.questionnaire.loader import load_text
from screening.questionnaire.model import Questionnaire

HEADER = """\
id: engine-test
version: 1
domains:
  financial: Money
  food: Food
  housing: Housing
  safety: Safety
  wellbeing: Wellbeing
answer_sets:
  yes_no:
    - {value: "yes", label: "Yes"}
    - {value: "no", label: "No"}
    - {value: "decline", label: "I don't want to answer"}
"""


def build(items: str, triage: str = "") -> Questionnaire:
    """A questionnaire from the shared header, an `items:` body and an optional triage."""
    text = HEADER + "items:\n" + textwrap.dedent(items)
    if triage:
        text += "triage:\n" + textwrap.indent(textwrap.dedent(triage), "  ")
    return load_text(text, "engine-test.yaml")


def choice(item_id: str, *extra: str) -> str:
    lines = [f"- id: {item_id}", "  type: choice", f"  text: {item_id}?", "  answers: yes_no"]
    return "\n".join([*lines, *(f"  {line}" for line in extra)]) + "\n"


def shown(questionnaire: Questionnaire, answers: dict[str, str | list[str]]) -> list[str]:
    return [item.id for item in visible_items(questionnaire, answers)]


# --- show_if, every form ----------------------------------------------------------------


def test_equals_shows_the_item_only_for_that_answer() -> None:
    q = build(choice("first") + choice("second", 'show_if: {item: first, equals: "yes"}'))
    assert shown(q, {"first": "yes"}) == ["first", "second"]
    assert shown(q, {"first": "no"}) == ["first"]
    assert shown(q, {}) == ["first"]


def test_in_shows_the_item_for_any_listed_answer() -> None:
    q = build(choice("first") + choice("second", 'show_if: {item: first, in: ["no", "decline"]}'))
    assert shown(q, {"first": "no"}) == ["first", "second"]
    assert shown(q, {"first": "decline"}) == ["first", "second"]
    assert shown(q, {"first": "yes"}) == ["first"]
    assert shown(q, {}) == ["first"]


def test_answered_true_and_false() -> None:
    q = build(
        choice("first")
        + choice("if_answered", "show_if: {item: first, answered: true}")
        + choice("if_skipped", "show_if: {item: first, answered: false}")
    )
    assert shown(q, {"first": "no"}) == ["first", "if_answered"]
    assert shown(q, {}) == ["first", "if_skipped"]
    # Blank is not an answer.
    assert shown(q, {"first": "   "}) == ["first", "if_skipped"]


def test_any_flag_true_shows_the_item_once_any_earlier_flag_is_raised() -> None:
    q = build(
        choice("money", 'flag: {when: ["yes"], domain: financial}')
        + choice("food", 'flag: {when: ["yes"], domain: food}')
        + choice("wants_help", "show_if: {any_flag: true}")
    )
    assert shown(q, {"money": "no", "food": "no"}) == ["money", "food"]
    assert shown(q, {"money": "yes", "food": "no"}) == ["money", "food", "wants_help"]
    assert shown(q, {"money": "no", "food": "yes"}) == ["money", "food", "wants_help"]


def test_any_flag_with_domains_looks_only_at_those_domains() -> None:
    q = build(
        choice("money", 'flag: {when: ["yes"], domain: financial}')
        + choice("food", 'flag: {when: ["yes"], domain: food}')
        + choice("home", 'flag: {when: ["no"], domain: housing}')
        + choice("follow_up", "show_if: {any_flag: [food, housing]}")
    )
    assert "follow_up" not in shown(q, {"money": "yes", "food": "no", "home": "yes"})
    assert "follow_up" in shown(q, {"money": "no", "food": "yes", "home": "yes"})
    assert "follow_up" in shown(q, {"money": "no", "food": "no", "home": "no"})


def test_all_needs_every_condition() -> None:
    q = build(
        choice("a")
        + choice("b")
        + choice("both", 'show_if: {all: [{item: a, equals: "yes"}, {item: b, equals: "yes"}]}')
    )
    assert "both" in shown(q, {"a": "yes", "b": "yes"})
    assert "both" not in shown(q, {"a": "yes", "b": "no"})
    assert "both" not in shown(q, {"a": "no", "b": "yes"})


def test_any_needs_one_condition() -> None:
    q = build(
        choice("a")
        + choice("b")
        + choice("either", 'show_if: {any: [{item: a, equals: "yes"}, {item: b, equals: "yes"}]}')
    )
    assert "either" in shown(q, {"a": "yes", "b": "no"})
    assert "either" in shown(q, {"a": "no", "b": "yes"})
    assert "either" not in shown(q, {"a": "no", "b": "no"})
    assert "either" not in shown(q, {})


def test_not_inverts_its_condition() -> None:
    q = build(choice("a") + choice("unless_yes", 'show_if: {not: {item: a, equals: "yes"}}'))
    assert "unless_yes" in shown(q, {"a": "no"})
    assert "unless_yes" in shown(q, {})
    assert "unless_yes" not in shown(q, {"a": "yes"})


def test_a_condition_on_a_hidden_item_sees_no_answer() -> None:
    q = build(
        choice("a")
        + choice("b", 'show_if: {item: a, equals: "yes"}')
        + choice("c", 'show_if: {item: b, equals: "yes"}')
    )
    # b's answer is given but b is hidden, so c must be hidden too.
    assert shown(q, {"a": "no", "b": "yes"}) == ["a"]
    assert shown(q, {"a": "yes", "b": "yes"}) == ["a", "b", "c"]


def test_visible_items_are_items_in_file_order() -> None:
    q = build(choice("a") + choice("b", 'show_if: {item: a, equals: "yes"}') + choice("c"))
    items = visible_items(q, {"a": "yes"})
    assert [item.id for item in items] == ["a", "b", "c"]
    assert items[1] is q.item("b")


# --- hidden items keep nothing and raise nothing --------------------------------------------


def test_a_hidden_item_keeps_no_answer_and_raises_no_flag() -> None:
    q = build(
        choice("a")
        + choice("b", 'show_if: {item: a, equals: "yes"}', 'flag: {when: ["yes"], domain: food}')
    )
    evaluation = evaluate(q, {"a": "no", "b": "yes"})
    assert evaluation.visible == ("a",)
    assert evaluation.answers == {"a": "no"}
    assert evaluation.flags == ()
    assert triage_decision(q, evaluation) is None


def test_a_visible_item_keeps_its_answer_and_flags() -> None:
    q = build(
        choice("a")
        + choice("b", 'show_if: {item: a, equals: "yes"}', 'flag: {when: ["yes"], domain: food}')
    )
    evaluation = evaluate(q, {"a": "yes", "b": "yes"})
    assert evaluation.answers == {"a": "yes", "b": "yes"}
    assert evaluation.domains == ("food",)
    assert [flag.item_id for flag in evaluation.flags] == ["b"]


def test_blank_and_unknown_answers_are_not_kept() -> None:
    q = build(
        choice("a")
        + "- id: note\n  type: info\n  text: Thank you.\n"
        + "- id: free\n  type: text\n  text: Anything else?\n"
    )
    evaluation = evaluate(q, {"a": "  ", "note": "ignored", "free": "hello", "ghost": "yes"})
    assert evaluation.visible == ("a", "note", "free")
    assert evaluation.answers == {"free": "hello"}


# --- flags -------------------------------------------------------------------------------------


def test_a_choice_flags_on_a_listed_value_only() -> None:
    q = build(choice("home", 'flag: {when: ["no"], domain: housing}'))
    assert evaluate(q, {"home": "no"}).domains == ("housing",)
    assert evaluate(q, {"home": "yes"}).domains == ()
    assert evaluate(q, {"home": "decline"}).domains == ()
    assert evaluate(q, {}).domains == ()


MULTI = """\
- id: worries
  type: multi
  text: Which of these worry you?
  answers:
    - {value: "rent", label: "Rent"}
    - {value: "bills", label: "Bills"}
    - {value: "none", label: "None of these"}
  flag: {when: ["rent", "bills"], domain: financial}
"""


@pytest.mark.parametrize(
    ("chosen", "flagged"),
    [
        (["rent"], True),
        (["bills"], True),
        (["none", "bills"], True),
        (["rent", "bills"], True),
        (["none"], False),
        ([], False),
    ],
)
def test_a_multi_flags_when_any_chosen_value_is_listed(chosen: list[str], flagged: bool) -> None:
    q = build(MULTI)
    evaluation = evaluate(q, {"worries": chosen})
    assert evaluation.domains == (("financial",) if flagged else ())
    assert ("worries" in evaluation.answers) == bool(chosen)


SCALES = """\
- id: satisfied
  type: scale
  text: How satisfied are you?
  min: 0
  max: 10
  flag: {at_most: 4, domain: wellbeing}
- id: anxious
  type: scale
  text: How anxious were you?
  min: 0
  max: 10
  flag: {at_least: 6, domain: food}
"""


@pytest.mark.parametrize(
    ("satisfied", "anxious", "domains"),
    [
        ("0", "0", ("wellbeing",)),
        ("4", "5", ("wellbeing",)),
        ("5", "5", ()),
        ("10", "6", ("food",)),
        ("5", "10", ("food",)),
        ("3", "7", ("wellbeing", "food")),
    ],
)
def test_at_most_and_at_least_include_the_threshold(
    satisfied: str, anxious: str, domains: tuple[str, ...]
) -> None:
    q = build(SCALES)
    assert evaluate(q, {"satisfied": satisfied, "anxious": anxious}).domains == domains


def test_a_number_item_flags_on_its_threshold() -> None:
    q = build(
        "- id: days\n  type: number\n  text: Days without food?\n  min: 0\n"
        "  flag: {at_least: 2.5, domain: food}\n"
    )
    assert evaluate(q, {"days": "2.5"}).domains == ("food",)
    assert evaluate(q, {"days": "2"}).domains == ()
    assert evaluate(q, {"days": "not a number"}).domains == ()


def test_a_domain_is_listed_once_in_the_order_first_raised() -> None:
    q = build(
        choice("food_one", 'flag: {when: ["yes"], domain: food}')
        + choice("money", 'flag: {when: ["yes"], domain: financial}')
        + choice("food_two", 'flag: {when: ["yes"], domain: food}')
    )
    evaluation = evaluate(q, {"food_one": "yes", "money": "yes", "food_two": "yes"})
    assert evaluation.domains == ("food", "financial")
    assert len(evaluation.flags) == 3


# --- the triage rule -----------------------------------------------------------------------------

TRIAGE_ITEMS = (
    choice("money", 'flag: {when: ["yes"], domain: financial}')
    + choice("food", 'flag: {when: ["yes"], domain: food, priority: high}')
    + choice(
        "unsafe", 'flag: {when: ["yes"], domain: safety, priority: urgent, always_triage: true}'
    )
    + choice("wants_help")
)
CONSENT = 'consent_item: wants_help\ncontact_values: ["yes"]\n'


def decide(answers: dict[str, str], *, triage: str = CONSENT) -> TaskDecision | None:
    q = build(TRIAGE_ITEMS, triage)
    return triage_decision(q, evaluate(q, answers))


def test_no_flag_and_no_request_creates_no_task() -> None:
    assert decide({"money": "no", "food": "no", "unsafe": "no", "wants_help": "no"}) is None
    assert decide({"money": "no", "food": "no", "unsafe": "no"}) is None


@pytest.mark.parametrize(
    ("answers", "priority"),
    [
        ({"money": "yes"}, "routine"),
        ({"food": "yes"}, "high"),
        ({"money": "yes", "food": "yes"}, "high"),
        ({"unsafe": "yes"}, "urgent"),
        ({"money": "yes", "food": "yes", "unsafe": "yes"}, "urgent"),
    ],
)
def test_the_priority_is_the_highest_flag_priority(answers: dict[str, str], priority: str) -> None:
    decision = decide({**answers, "wants_help": "yes"})
    assert decision is not None
    assert (decision.status, decision.priority) == ("open", priority)


def test_the_task_carries_the_flagged_domains() -> None:
    decision = decide({"money": "yes", "food": "yes", "wants_help": "yes"})
    assert decision == TaskDecision("open", "high", ("financial", "food"))


@pytest.mark.parametrize("refusal", ["no", "decline"])
def test_declining_contact_makes_the_task_declined(refusal: str) -> None:
    decision = decide({"money": "yes", "food": "yes", "wants_help": refusal})
    assert decision == TaskDecision("declined", "high", ("financial", "food"))


def test_an_always_triage_flag_keeps_the_task_open_when_contact_is_declined() -> None:
    decision = decide({"money": "yes", "unsafe": "yes", "wants_help": "no"})
    assert decision == TaskDecision("open", "urgent", ("financial", "safety"))


def test_declining_contact_with_no_flag_creates_no_task() -> None:
    assert decide({"money": "no", "wants_help": "decline"}) is None


def test_a_blank_or_absent_consent_leaves_the_task_open() -> None:
    assert decide({"money": "yes"}) == TaskDecision("open", "routine", ("financial",))
    assert decide({"money": "yes", "wants_help": ""}) == TaskDecision(
        "open", "routine", ("financial",)
    )


def test_a_hidden_consent_item_leaves_the_task_open_whatever_its_answer() -> None:
    q = build(
        choice("money", 'flag: {when: ["yes"], domain: financial}')
        + choice("food", 'flag: {when: ["yes"], domain: food}')
        + choice("wants_help", 'show_if: {item: food, equals: "yes"}'),
        CONSENT,
    )
    evaluation = evaluate(q, {"money": "yes", "food": "no", "wants_help": "no"})
    assert "wants_help" not in evaluation.visible
    assert triage_decision(q, evaluation) == TaskDecision("open", "routine", ("financial",))
    assert wants_contact(q, evaluation) is False


def test_asking_for_help_without_a_flag_creates_a_routine_open_task_with_no_domains() -> None:
    q = build(TRIAGE_ITEMS, CONSENT)
    evaluation = evaluate(q, {"money": "no", "food": "no", "unsafe": "no", "wants_help": "yes"})
    assert evaluation.flags == ()
    assert wants_contact(q, evaluation) is True
    assert triage_decision(q, evaluation) == TaskDecision("open", "routine", ())


def test_every_contact_value_counts_as_asking_for_help() -> None:
    triage = 'consent_item: wants_help\ncontact_values: ["yes", "decline"]\n'
    assert decide({"wants_help": "decline"}, triage=triage) == TaskDecision("open", "routine", ())
    assert decide({"money": "yes", "wants_help": "no"}, triage=triage) == TaskDecision(
        "declined", "routine", ("financial",)
    )


def test_contact_values_default_to_yes() -> None:
    assert decide({"wants_help": "yes"}, triage="consent_item: wants_help\n") == TaskDecision(
        "open", "routine", ()
    )


def test_without_a_consent_item_every_flag_creates_an_open_task() -> None:
    assert decide({"food": "yes", "wants_help": "no"}, triage="create_tasks: true\n") == (
        TaskDecision("open", "high", ("food",))
    )
    assert decide({"wants_help": "yes"}, triage="create_tasks: true\n") is None


def test_create_tasks_false_records_flags_but_creates_no_task() -> None:
    q = build(TRIAGE_ITEMS, CONSENT + "create_tasks: false\n")
    evaluation = evaluate(q, {"unsafe": "yes", "money": "yes", "wants_help": "yes"})
    assert evaluation.domains == ("financial", "safety")
    assert wants_contact(q, evaluation) is True
    assert triage_decision(q, evaluation) is None
