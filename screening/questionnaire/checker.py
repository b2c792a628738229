"""One questionnaire file's rules, run in order on whatever parsed (SPEC §3): the header,
languages, domains and answer sets here; items, conditions, triage and examples in
their own modules, one rule family each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from ..core.yamlsource import Source, SourceError, problems_from
from .condition_rules import ConditionRules
from .item_rules import ItemRules
from .model import AnswerOption, Item, Questionnaire, Texts
from .rules import code_of, dotted
from .schema import DOMAIN_PATTERN, AnswerList, RawAnswer, RawQuestionnaire, Text
from .triage_rules import TriageRules


def check(source: Source) -> Questionnaire:
    # A duplicate key or a non-text key leaves the rest of the file readable: go on, so
    # that every problem is reported in one run (SPEC §3), not one per attempt.
    if source.problems and (source.data is None or source.incomplete):
        raise SourceError(source.problems)
    if not isinstance(source.data, dict):
        message = "a questionnaire file must be a mapping (id, version, items...)"
        raise SourceError([*source.problems, source.problem((), message)])
    checker = Checker(source)
    questionnaire = checker.run()
    if source.problems or questionnaire is None:
        raise SourceError(source.problems)
    return questionnaire


class _Header(RawQuestionnaire):
    # The sections below are validated one by one (each item and example on its own), so
    # a problem in one does not hide the problems of the others.
    domains: Any = None  # type: ignore[assignment]
    answer_sets: Any = None  # type: ignore[assignment]
    items: Any  # type: ignore[assignment]
    triage: Any = None  # type: ignore[assignment]
    examples: Any = None  # type: ignore[assignment]


class Checker(ItemRules, ConditionRules, TriageRules):
    def __init__(self, source: Source):
        self.source = source
        self.data: dict[str, Any] = source.data
        self.languages: tuple[str, ...] = ("en",)
        self.domains: dict[str, Texts] = {}
        self.domains_known = False
        self.answer_sets: dict[str, tuple[AnswerOption, ...]] = {}
        self.broken_sets: set[str] = set()
        self.items: list[Item] = []
        languages = self.data.get("languages")
        if isinstance(languages, list) and languages and all(isinstance(x, str) for x in languages):
            self.languages = tuple(languages)

    def error(self, path: Sequence[str | int], message: str, *, key: bool = False) -> None:
        self.source.problems.append(self.source.problem(path, message, key=key))

    def _validate(self, model: Any, data: Any, prefix: tuple[str | int, ...]) -> Any:
        try:
            return TypeAdapter(model).validate_python(data)
        except ValidationError as exc:
            self.source.problems.extend(problems_from(exc, self.source, model, prefix))
            return None

    # The order matters: languages first (texts are checked against them), then domains
    # and answer sets (items refer to them), then items in file order (show_if may only
    # look back), then triage and examples (they refer to items).
    def run(self) -> Questionnaire | None:
        header: _Header | None = self._validate(_Header, self.data, ())
        if header is not None:
            self.languages = tuple(header.languages)
            self._check_languages(header.languages)
        self._domains()
        self._answer_sets()
        raw_items = self.data.get("items")
        if isinstance(raw_items, list) and raw_items:
            self._check_items(raw_items)
        elif "items" in self.data:
            self.error(("items",), "items must be a list of at least one item")
        triage = self._triage()
        # Examples only need the items and domains, so a broken header hides none of theirs.
        examples = self._examples(self.data.get("examples"))
        if header is None or triage is None:
            return None
        questionnaire = Questionnaire(
            id=header.id,
            version=header.version,
            title=self._title(header),
            languages=self.languages,
            intro=self.texts(header.intro, ("intro",)) if header.intro is not None else None,
            domains=self.domains,
            items=tuple(self.items),
            triage=triage,
            source_file=self.source.file,
            version_line=self.source.line(("version",)),
        )
        if self.source.problems:
            return None
        return questionnaire.model_copy(update={"examples": tuple(examples)})

    def _title(self, header: _Header) -> Texts:
        # SPEC marks only id and version as required; an untitled file shows its id.
        if header.title is None:
            return {language: header.id for language in self.languages}
        return self.texts(header.title, ("title",))

    def _domains(self) -> None:
        raw = self.data.get("domains", {})
        parsed = self._validate(
            dict[Annotated[str, Field(pattern=DOMAIN_PATTERN)], Text], raw, ("domains",)
        )
        if parsed is None:
            return
        self.domains_known = True
        self.domains = {
            domain: self.texts(label, ("domains", domain)) for domain, label in parsed.items()
        }

    def _answer_sets(self) -> None:
        raw = self.data.get("answer_sets", {})
        if not isinstance(raw, dict):
            self.error(
                ("answer_sets",), "answer_sets must be a mapping of set names to answer lists"
            )
            return
        for name, answers in raw.items():
            parsed = self._validate(AnswerList, answers, ("answer_sets", name))
            if parsed is None:
                self.broken_sets.add(name)
            else:
                self.answer_sets[name] = self.answer_options(parsed, ("answer_sets", name))

    def _check_languages(self, languages: list[str]) -> None:
        seen: set[str] = set()
        for index, language in enumerate(languages):
            if language in seen:
                self.error(("languages", index), f"language '{language}' is listed twice")
            seen.add(language)

    def texts(self, value: str | dict[str, str], path: tuple[str | int, ...]) -> Texts:
        """A user-facing text in normal form; every listed language must be present."""
        if isinstance(value, str):
            # Same rule as for a mapping below: a blank text would show an empty page.
            if not value.strip():
                self.error(path, f"{dotted(path)}: text is empty")
            elif len(self.languages) > 1:
                self.error(
                    path,
                    f"{dotted(path)}: this file lists languages {', '.join(self.languages)}, "
                    "so write this text as a mapping with each of them",
                )
            return {language: value for language in self.languages}
        missing = [lang for lang in self.languages if lang not in value]
        extra = [lang for lang in value if lang not in self.languages]
        if missing:
            self.error(path, f"{dotted(path)}: missing text for language {', '.join(missing)}")
        for lang in extra:
            self.error(
                (*path, lang),
                f"{dotted(path)}: language '{lang}' is not in languages "
                f"({', '.join(self.languages)})",
                key=True,
            )
        for lang, text in value.items():
            if not text.strip():
                self.error((*path, lang), f"{dotted(path)}: text for '{lang}' is empty")
        return {lang: value[lang] for lang in self.languages if lang in value}

    def answer_options(
        self, answers: list[RawAnswer], path: tuple[str | int, ...]
    ) -> tuple[AnswerOption, ...]:
        options = []
        seen: set[str] = set()
        for index, answer in enumerate(answers):
            if answer.value in seen:
                self.error(
                    (*path, index, "value"), f"answer value '{answer.value}' is listed twice"
                )
            seen.add(answer.value)
            options.append(
                AnswerOption(
                    value=answer.value,
                    label=self.texts(answer.label, (*path, index, "label")),
                    code=code_of(answer.code),
                )
            )
        return tuple(options)
