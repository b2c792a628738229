"""Visibility, flags and the triage rule (SPEC §3) as pure functions.

No database and no Flask: the patient form, assisted mode, `screening validate` and the
submission service all call these, so there is one reading of the rules.

Answers are `{item_id: value}` with a string per item (a list of strings for `multi`).
Items are walked in file order; an item's `show_if` sees only the answers and flags of
items already found visible, so a hidden item's answer is never kept and never flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..core.constants import (
    PAGE_CHECK,
    PAGE_START,
    PRIORITY_RANK,
    PRIORITY_ROUTINE,
    TASK_DECLINED,
    TASK_OPEN,
)
from .model import (
    All,
    Answered,
    AnswerValue,
    AnyFlag,
    AnyOf,
    Condition,
    Equals,
    FlagRule,
    In,
    Item,
    Not,
    Questionnaire,
)


@dataclass(frozen=True)
class RaisedFlag:
    item_id: str
    domain: str
    priority: str
    always_triage: bool


@dataclass(frozen=True)
class Evaluation:
    visible: tuple[str, ...]
    answers: dict[str, AnswerValue]  # visible, non-blank answers only
    flags: tuple[RaisedFlag, ...]

    @property
    def domains(self) -> tuple[str, ...]:
        """Flagged domains, each once, in the order first raised."""
        return tuple(dict.fromkeys(flag.domain for flag in self.flags))


@dataclass(frozen=True)
class TaskDecision:
    status: str  # open or declined
    priority: str
    domains: tuple[str, ...]


def is_answered(value: AnswerValue | None) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    return len(value) > 0


def evaluate(questionnaire: Questionnaire, answers: Mapping[str, AnswerValue]) -> Evaluation:
    visible: list[str] = []
    kept: dict[str, AnswerValue] = {}
    flags: list[RaisedFlag] = []
    for item in questionnaire.items:
        if item.show_if is not None and not _holds(item.show_if, kept, flags):
            continue
        visible.append(item.id)
        value = answers.get(item.id)
        if not item.asks or not is_answered(value):
            continue
        kept[item.id] = value
        if item.flag is not None and _fires(item.flag, item, value):
            flags.append(
                RaisedFlag(item.id, item.flag.domain, item.flag.priority, item.flag.always_triage)
            )
    return Evaluation(tuple(visible), kept, tuple(flags))


def visible_items(questionnaire: Questionnaire, answers: Mapping[str, AnswerValue]) -> list[Item]:
    shown = set(evaluate(questionnaire, answers).visible)
    return [item for item in questionnaire.items if item.id in shown]


def stands_at(questionnaire: Questionnaire, evaluation: Evaluation) -> str:
    """The page an unfinished questionnaire stands at (SPEC §7 `dropoff`): `start` with
    no answer, else the first shown question without one, else `check`."""
    if not evaluation.answers:
        return PAGE_START
    items = {item.id: item for item in questionnaire.items}
    for item_id in evaluation.visible:
        if items[item_id].asks and item_id not in evaluation.answers:
            return item_id
    return PAGE_CHECK


def triage_decision(questionnaire: Questionnaire, evaluation: Evaluation) -> TaskDecision | None:
    """The task a submitted response creates, or None (SPEC §3, triage rule)."""
    triage = questionnaire.triage
    if not triage.create_tasks:
        return None
    consent = evaluation.answers.get(triage.consent_item) if triage.consent_item else None
    wants_contact = consent is not None and _any_in(consent, triage.contact_values)
    if not evaluation.flags and not wants_contact:
        return None
    priority = max(
        (flag.priority for flag in evaluation.flags),
        key=PRIORITY_RANK.__getitem__,
        default=PRIORITY_ROUTINE,
    )
    declined = consent is not None and not wants_contact
    if declined and not any(flag.always_triage for flag in evaluation.flags):
        return TaskDecision(TASK_DECLINED, priority, evaluation.domains)
    return TaskDecision(TASK_OPEN, priority, evaluation.domains)


def wants_contact(questionnaire: Questionnaire, evaluation: Evaluation) -> bool:
    """The consent item was answered with a contact value (the `wants_help` stage)."""
    item_id = questionnaire.triage.consent_item
    value = evaluation.answers.get(item_id) if item_id else None
    return value is not None and _any_in(value, questionnaire.triage.contact_values)


# --- internals ---------------------------------------------------------------------------


def _fires(rule: FlagRule, item: Item, value: AnswerValue) -> bool:
    if rule.when is not None:
        return _any_in(value, rule.when)
    number = _as_number(value)
    if number is None:
        return False
    if rule.at_least is not None and number >= rule.at_least:
        return True
    return rule.at_most is not None and number <= rule.at_most


def _holds(
    condition: Condition, answers: Mapping[str, AnswerValue], flags: list[RaisedFlag]
) -> bool:
    match condition:
        case Equals(item=item_id, value=value):
            return item_id in answers and _any_in(answers[item_id], (value,))
        case In(item=item_id, values=values):
            return item_id in answers and _any_in(answers[item_id], values)
        case Answered(item=item_id, answered=answered):
            return (item_id in answers) == answered
        case AnyFlag(domains=domains, raised=raised):
            hit = any(domains is None or flag.domain in domains for flag in flags)
            return hit == raised
        case All(conditions=conditions):
            return all(_holds(inner, answers, flags) for inner in conditions)
        case AnyOf(conditions=conditions):
            return any(_holds(inner, answers, flags) for inner in conditions)
        case Not(condition=inner):
            return not _holds(inner, answers, flags)
    raise TypeError(f"unknown condition {condition!r}")


def _any_in(value: AnswerValue, allowed: tuple[str, ...] | list[str]) -> bool:
    chosen = [value] if isinstance(value, str) else value
    return any(v in allowed for v in chosen)


def _as_number(value: AnswerValue) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None
