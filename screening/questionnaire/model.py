"""A validated questionnaire in normal form: what the engine, forms and reports use.

Texts are always `{language: text}`, answer sets are resolved inline and `show_if` is a
typed condition tree. The canonical JSON of this model (without `examples`) is what a
frozen version stores, so comments and layout in the YAML never count as a change, and
a stored copy can be read back with `Questionnaire.model_validate_json`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Texts = dict[str, str]
AnswerValue = str | list[str]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Code(Frozen):
    system: str
    code: str
    display: str | None = None


class AnswerOption(Frozen):
    value: str
    label: Texts
    code: Code | None = None


class FlagRule(Frozen):
    domain: str
    priority: Literal["urgent", "high", "routine"] = "routine"
    always_triage: bool = False
    when: tuple[str, ...] | None = None
    at_least: float | None = None
    at_most: float | None = None


# --- show_if conditions ------------------------------------------------------------------


class Equals(Frozen):
    op: Literal["equals"] = "equals"
    item: str
    value: str


class In(Frozen):
    op: Literal["in"] = "in"
    item: str
    values: tuple[str, ...]


class Answered(Frozen):
    op: Literal["answered"] = "answered"
    item: str
    answered: bool = True


class AnyFlag(Frozen):
    op: Literal["any_flag"] = "any_flag"
    # None: any domain at all.
    domains: tuple[str, ...] | None = None
    raised: bool = True


class All(Frozen):
    op: Literal["all"] = "all"
    conditions: tuple[Condition, ...]


class AnyOf(Frozen):
    op: Literal["any"] = "any"
    conditions: tuple[Condition, ...]


class Not(Frozen):
    op: Literal["not"] = "not"
    condition: Condition


Condition = Annotated[
    Equals | In | Answered | AnyFlag | All | AnyOf | Not, Field(discriminator="op")
]


# --- items and the whole -----------------------------------------------------------------


class Item(Frozen):
    id: str
    type: Literal["choice", "multi", "scale", "number", "text", "info"]
    text: Texts
    hint: Texts | None = None
    answers: tuple[AnswerOption, ...] = ()
    required: bool = False
    min: int | None = None
    max: int | None = None
    min_label: Texts | None = None
    max_label: Texts | None = None
    max_length: int | None = None
    flag: FlagRule | None = None
    show_if: Condition | None = None
    source: str | None = None
    code: Code | None = None

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(answer.value for answer in self.answers)

    @property
    def asks(self) -> bool:
        """False for `info` items, which only show text."""
        return self.type != "info"


class Triage(Frozen):
    consent_item: str | None = None
    contact_values: tuple[str, ...] = ("yes",)
    create_tasks: bool = True


class ExpectedTask(Frozen):
    status: Literal["open", "declined"]
    priority: Literal["urgent", "high", "routine"]


class Example(Frozen):
    name: str
    answers: dict[str, AnswerValue]
    flags: tuple[str, ...]
    task: ExpectedTask | None
    line: int = 0


class Questionnaire(Frozen):
    id: str
    version: int
    title: Texts
    languages: tuple[str, ...]
    intro: Texts | None = None
    domains: dict[str, Texts]
    items: tuple[Item, ...]
    triage: Triage
    # Examples test the file; they are not content, so adding one needs no new version.
    examples: tuple[Example, ...] = Field(default=(), exclude=True)
    source_file: str | None = Field(default=None, exclude=True)
    version_line: int = Field(default=0, exclude=True)

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def content_sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def need_names(questionnaires: Iterable[Questionnaire]) -> dict[str, str]:
    """Each flag domain by the need it names, in its questionnaire's first language; a
    domain two questionnaires share keeps the first one's name."""
    names: dict[str, str] = {}
    for questionnaire in questionnaires:
        language = questionnaire.default_language
        for domain, label in questionnaire.domains.items():
            names.setdefault(domain, label[language])
    return names
