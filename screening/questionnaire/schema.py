"""The shapes of a questionnaire file as written (SPEC §3), checked by pydantic.

Strict mode: YAML already gives native types, so "1" is not a number and `yes` is not
text. Unknown keys are errors. Cross-field rules (declared domains, earlier items, flags
that can fire, every language present) live in `loader.py`; `show_if` conditions are
parsed there too, since their shape depends on which keys are present.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    field_validator,
)

from ..core.constants import PAGE_CHECK, PAGE_START

ID_PATTERN = r"^[a-z0-9-]+$"
ITEM_ID_PATTERN = r"^[a-z0-9_]+$"
RESERVED_ITEM_IDS = (PAGE_START, PAGE_CHECK)
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
DOMAIN_PATTERN = r"^[a-z0-9_]+$"

ItemType = Literal["choice", "multi", "scale", "number", "text", "info"]
Priority = Literal["urgent", "high", "routine"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


def _text_branch(value: Any) -> str:
    return "#translations" if isinstance(value, dict) else "#text"


# A user-facing text: one string, or {language: string} for each listed language.
Text = Annotated[
    Annotated[str, Tag("#text")] | Annotated[dict[str, str], Tag("#translations")],
    Discriminator(_text_branch),
]


class RawCode(Strict):
    system: str
    code: str
    display: str | None = None


class RawAnswer(Strict):
    value: str = Field(min_length=1)
    label: Text
    code: RawCode | None = None


def _answers_branch(value: Any) -> str:
    return "#set" if isinstance(value, str) else "#list"


AnswerList = Annotated[list[RawAnswer], Field(min_length=1)]
Answers = Annotated[
    Annotated[str, Tag("#set")] | Annotated[AnswerList, Tag("#list")],
    Discriminator(_answers_branch),
]


class RawFlag(Strict):
    when: list[str] | None = Field(default=None, min_length=1)
    at_least: StrictInt | float | None = None
    at_most: StrictInt | float | None = None
    domain: str
    priority: Priority = "routine"
    always_triage: StrictBool = False


class RawItem(Strict):
    id: str = Field(pattern=ITEM_ID_PATTERN)
    type: ItemType
    text: Text
    hint: Text | None = None
    answers: Answers | None = None
    required: StrictBool | None = None
    min: StrictInt | None = None
    max: StrictInt | None = None
    min_label: Text | None = None
    max_label: Text | None = None
    max_length: StrictInt | None = Field(default=None, gt=0)
    flag: RawFlag | None = None
    show_if: dict[str, Any] | None = None
    source: str | None = None
    code: RawCode | None = None

    @field_validator("id")
    @classmethod
    def _not_a_page_name(cls, value: str) -> str:
        # The report's drop-off (SPEC §7) names these pages of every questionnaire.
        if value in RESERVED_ITEM_IDS:
            raise ValueError(
                f"'{value}' names a page of every questionnaire (before the first question, "
                "or check your answers): give the item another id"
            )
        return value


class RawTriage(Strict):
    consent_item: str | None = None
    contact_values: list[str] | None = Field(default=None, min_length=1)
    create_tasks: StrictBool = True


class RawExampleTask(Strict):
    status: Literal["open", "declined"]
    priority: Priority


def _task_branch(value: Any) -> str:
    return "#none" if isinstance(value, str) else "#task"


ExampleTask = Annotated[
    Annotated[Literal["none"], Tag("#none")] | Annotated[RawExampleTask, Tag("#task")],
    Discriminator(_task_branch),
]


def _answer_value_branch(value: Any) -> str:
    return "#many" if isinstance(value, list) else "#one"


ExampleAnswer = Annotated[
    Annotated[str, Tag("#one")] | Annotated[list[str], Tag("#many")],
    Discriminator(_answer_value_branch),
]


class RawExample(Strict):
    name: str
    answers: dict[str, ExampleAnswer]
    flags: list[str]
    task: ExampleTask


class RawQuestionnaire(Strict):
    id: str = Field(pattern=ID_PATTERN)
    version: StrictInt = Field(ge=1)
    title: Text | None = None
    languages: list[Annotated[str, Field(pattern=LANGUAGE_PATTERN)]] = Field(
        default=["en"], min_length=1
    )
    intro: Text | None = None
    domains: dict[str, Text] = Field(default_factory=dict)
    answer_sets: dict[str, AnswerList] = Field(default_factory=dict)
    items: list[RawItem] = Field(min_length=1)
    triage: RawTriage = Field(default_factory=RawTriage)
    examples: list[RawExample] = Field(default_factory=list)
