"""Load questionnaire files, check every rule of SPEC §3, and build the normal form.

Each file is read with line numbers (`yamlsource`), its shape checked by pydantic part by
part (the header, then each item and each example on its own, so one bad item does not
hide the problems of the others), then the cross-field rules run on whatever parsed.
All problems come back together as `FILE:LINE: message`; nothing here raises anything
but `SourceError`, whatever the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from ..yamlsource import Problem, Source, SourceError, parse, problems_from, read
from . import engine
from .model import (
    All,
    Answered,
    AnswerOption,
    AnyFlag,
    AnyOf,
    Code,
    Condition,
    Equals,
    Example,
    ExpectedTask,
    FlagRule,
    In,
    Item,
    Not,
    Questionnaire,
    Texts,
    Triage,
)
from .schema import (
    DOMAIN_PATTERN,
    AnswerList,
    RawAnswer,
    RawCode,
    RawExample,
    RawItem,
    RawQuestionnaire,
    RawTriage,
    Text,
)

ASKING_TYPES = {"choice", "multi", "scale", "number", "text"}
REQUIRED_BY_DEFAULT = {"choice", "multi", "scale", "number"}
FLAGGABLE_TYPES = REQUIRED_BY_DEFAULT
DEFAULT_TEXT_LENGTH = 500


def load_file(path: Path, display_name: str | None = None) -> Questionnaire:
    """Load one file; raise `SourceError` listing every problem."""
    return _check(read(path, display_name))


def load_text(text: str, name: str = "<text>") -> Questionnaire:
    return _check(parse(text, name))


def questionnaire_files(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("*.yaml") if p.is_file()) if path.is_dir() else [path]


@dataclass
class Collection:
    """The questionnaires of one or more paths, and every problem found in them."""

    questionnaires: dict[str, Questionnaire] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0


def load_paths(paths: Iterable[Path]) -> Collection:
    """Load files and folders; a repeated questionnaire id is a problem in the later file."""
    collection = Collection()
    seen: dict[str, Problem] = {}
    for path in paths:
        if not path.exists():
            collection.problems.append(Problem(str(path), 1, "no such file or folder"))
            continue
        files = questionnaire_files(path)
        if path.is_dir() and not files:
            collection.problems.append(Problem(str(path), 1, "no *.yaml files in this folder"))
        for file in files:
            collection.files += 1
            _load_into(collection, file, seen)
    return collection


def _load_into(collection: Collection, file: Path, seen: dict[str, Problem]) -> None:
    source = read(file)
    try:
        questionnaire = _check(source)
    except SourceError as exc:
        collection.problems.extend(exc.problems)
        return
    id_line = source.problem(("id",), "")
    if questionnaire.id in seen:
        first = seen[questionnaire.id]
        collection.problems.append(
            Problem(
                id_line.file,
                id_line.line,
                f"questionnaire id '{questionnaire.id}' is already used by "
                f"{first.file}:{first.line}; give each file its own id",
            )
        )
        return
    seen[questionnaire.id] = id_line
    collection.questionnaires[questionnaire.id] = questionnaire


# --- one file ------------------------------------------------------------------------------


def _check(source: Source) -> Questionnaire:
    # A duplicate key or a non-text key leaves the rest of the file readable: go on, so
    # that every problem is reported in one run (SPEC §3), not one per attempt.
    if source.problems and (source.data is None or source.incomplete):
        raise SourceError(source.problems)
    if not isinstance(source.data, dict):
        message = "a questionnaire file must be a mapping (id, version, items...)"
        raise SourceError([*source.problems, source.problem((), message)])
    checker = _Checker(source)
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


class _Checker:
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

    # --- texts and languages ---------------------------------------------------------

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
                self.error(path, f"{_dotted(path)}: text is empty")
            elif len(self.languages) > 1:
                self.error(
                    path,
                    f"{_dotted(path)}: this file lists languages {', '.join(self.languages)}, "
                    "so write this text as a mapping with each of them",
                )
            return {language: value for language in self.languages}
        missing = [lang for lang in self.languages if lang not in value]
        extra = [lang for lang in value if lang not in self.languages]
        if missing:
            self.error(path, f"{_dotted(path)}: missing text for language {', '.join(missing)}")
        for lang in extra:
            self.error(
                (*path, lang),
                f"{_dotted(path)}: language '{lang}' is not in languages "
                f"({', '.join(self.languages)})",
                key=True,
            )
        for lang, text in value.items():
            if not text.strip():
                self.error((*path, lang), f"{_dotted(path)}: text for '{lang}' is empty")
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
                    code=_code(answer.code),
                )
            )
        return tuple(options)

    # --- items -------------------------------------------------------------------------

    def _check_items(self, raw_items: list[Any]) -> None:
        first_line: dict[str, int] = {}
        for index, raw in enumerate(raw_items):
            path: tuple[str | int, ...] = ("items", index)
            parsed: RawItem | None = self._validate(RawItem, raw, path)
            if parsed is None:
                continue
            if parsed.id in first_line:
                self.error(
                    (*path, "id"),
                    f"item id '{parsed.id}' is already used at line {first_line[parsed.id]}",
                )
                continue
            first_line[parsed.id] = self.source.line((*path, "id"))
            item = self._item(parsed, path)
            if item is not None:
                self.items.append(item)

    def _item(self, raw: RawItem, path: tuple[str | int, ...]) -> Item | None:
        self._check_keys_fit_type(raw, path)
        answers = self._item_answers(raw, path)
        minimum, maximum = raw.min, raw.max
        if raw.type == "scale" and (minimum is None or maximum is None):
            self.error(path, f"item '{raw.id}': a scale item needs both min and max")
        if minimum is not None and maximum is not None and minimum >= maximum:
            self.error(
                (*path, "max"), f"item '{raw.id}': max ({maximum}) must exceed min ({minimum})"
            )
        required = raw.required if raw.required is not None else raw.type in REQUIRED_BY_DEFAULT
        item = Item(
            id=raw.id,
            type=raw.type,
            text=self.texts(raw.text, (*path, "text")),
            hint=self._optional_texts(raw.hint, (*path, "hint")),
            answers=answers,
            required=required and raw.type != "info",
            min=minimum,
            max=maximum,
            min_label=self._optional_texts(raw.min_label, (*path, "min_label")),
            max_label=self._optional_texts(raw.max_label, (*path, "max_label")),
            max_length=raw.max_length or (DEFAULT_TEXT_LENGTH if raw.type == "text" else None),
            source=raw.source,
            code=_code(raw.code),
        )
        flag = (
            self._flag(raw, item, (*path, "flag"))
            if raw.flag is not None and raw.type in FLAGGABLE_TYPES
            else None
        )
        show_if = (
            self._condition(raw.show_if, (*path, "show_if"), raw.id)
            if raw.show_if is not None
            else None
        )
        return item.model_copy(update={"flag": flag, "show_if": show_if})

    def _optional_texts(self, value: Any, path: tuple[str | int, ...]) -> Texts | None:
        return self.texts(value, path) if value is not None else None

    def _check_keys_fit_type(self, raw: RawItem, path: tuple[str | int, ...]) -> None:
        allowed_by_type = {
            "answers": {"choice", "multi"},
            "min": {"scale", "number"},
            "max": {"scale", "number"},
            "min_label": {"scale"},
            "max_label": {"scale"},
            "max_length": {"text"},
            "flag": FLAGGABLE_TYPES,
            "required": ASKING_TYPES,
        }
        for key, types in allowed_by_type.items():
            if getattr(raw, key) is not None and raw.type not in types:
                self.error(
                    (*path, key),
                    f"item '{raw.id}': '{key}' does not apply to a {raw.type} item "
                    f"(only to {', '.join(sorted(types))})",
                    key=True,
                )

    def _item_answers(self, raw: RawItem, path: tuple[str | int, ...]) -> tuple[AnswerOption, ...]:
        if raw.type not in {"choice", "multi"}:
            return ()
        if raw.answers is None:
            self.error(path, f"item '{raw.id}': a {raw.type} item needs answers")
            return ()
        if isinstance(raw.answers, str):
            if raw.answers in self.broken_sets:
                return ()
            if raw.answers not in self.answer_sets:
                known = ", ".join(self.answer_sets) or "none declared"
                self.error(
                    (*path, "answers"),
                    f"item '{raw.id}': answer set '{raw.answers}' is not declared in "
                    f"answer_sets ({known})",
                )
                return ()
            return self.answer_sets[raw.answers]
        return self.answer_options(raw.answers, (*path, "answers"))

    def _flag(self, raw: RawItem, item: Item, path: tuple[str | int, ...]) -> FlagRule | None:
        rule = raw.flag
        assert rule is not None
        ok = self._check_domain(rule.domain, (*path, "domain"))
        forms = [key for key in ("when", "at_least", "at_most") if getattr(rule, key) is not None]
        if len(forms) != 1:
            self.error(
                path, f"item '{item.id}': a flag needs exactly one of when, at_least, at_most"
            )
            return None
        form = forms[0]
        if form == "when":
            if item.type not in {"choice", "multi"}:
                self.error(
                    (*path, "when"),
                    f"item '{item.id}': 'when' flags choice and multi items; use at_least or "
                    f"at_most on a {item.type} item",
                    key=True,
                )
                return None
            for index, value in enumerate(rule.when or ()):
                if item.values and value not in item.values:
                    self.error(
                        (*path, "when", index),
                        f"item '{item.id}': flag value '{value}' is not one of its answers "
                        f"({', '.join(item.values)}), so this flag can never fire",
                    )
                    ok = False
        else:
            threshold = getattr(rule, form)
            if item.type not in {"scale", "number"}:
                self.error(
                    (*path, form),
                    f"item '{item.id}': '{form}' flags scale and number items; use 'when' on a "
                    f"{item.type} item",
                    key=True,
                )
                return None
            low = item.min if item.min is not None else float("-inf")
            high = item.max if item.max is not None else float("inf")
            if not low <= threshold <= high:
                self.error(
                    (*path, form),
                    f"item '{item.id}': {form} {threshold} lies outside {item.min}..{item.max}, "
                    "so this flag can never fire",
                )
                ok = False
        if not ok:
            return None
        return FlagRule(
            domain=rule.domain,
            priority=rule.priority,
            always_triage=rule.always_triage,
            when=tuple(rule.when) if rule.when is not None else None,
            at_least=rule.at_least,
            at_most=rule.at_most,
        )

    def _check_domain(self, domain: str, path: tuple[str | int, ...]) -> bool:
        # With a broken header the declared domains are unknown: say nothing rather than
        # report every flag as undeclared.
        if domain in self.domains or not self.domains_known:
            return True
        declared = ", ".join(self.domains) or "none declared"
        self.error(path, f"domain '{domain}' is not declared in domains ({declared})")
        return False

    # --- show_if -------------------------------------------------------------------------

    def _condition(self, raw: Any, path: tuple[str | int, ...], owner: str) -> Condition | None:
        if not isinstance(raw, dict) or not raw:
            self.error(path, f"item '{owner}': a show_if condition must be a mapping")
            return None
        keys = set(raw)
        if keys == {"any_flag"}:
            return self._any_flag(raw["any_flag"], (*path, "any_flag"), owner)
        if keys in ({"all"}, {"any"}):
            (key,) = keys
            parts = raw[key]
            if not isinstance(parts, list) or not parts:
                self.error((*path, key), f"item '{owner}': '{key}' takes a list of conditions")
                return None
            conditions = [
                self._condition(part, (*path, key, i), owner) for i, part in enumerate(parts)
            ]
            if any(cond is None for cond in conditions):
                return None
            return All(conditions=conditions) if key == "all" else AnyOf(conditions=conditions)
        if keys == {"not"}:
            inner = self._condition(raw["not"], (*path, "not"), owner)
            return Not(condition=inner) if inner is not None else None
        if "item" in keys and len(keys) == 2:
            (test,) = keys - {"item"}
            return self._item_condition(raw, test, path, owner)
        self.error(
            path,
            f"item '{owner}': show_if must be one of {{item, equals}}, {{item, in}}, "
            "{item, answered}, {any_flag}, {all}, {any} or {not}; "
            f"found keys {', '.join(sorted(map(str, keys)))}",
        )
        return None

    def _item_condition(
        self, raw: dict[str, Any], test: str, path: tuple[str | int, ...], owner: str
    ) -> Condition | None:
        target = self._earlier_item(raw["item"], (*path, "item"), owner)
        if test == "answered":
            if not isinstance(raw["answered"], bool):
                self.error((*path, "answered"), "answered must be true or false")
                return None
            return Answered(item=target.id, answered=raw["answered"]) if target else None
        if test not in {"equals", "in"}:
            self.error((*path, test), f"item '{owner}': unknown condition '{test}'", key=True)
            return None
        values = raw[test] if test == "in" else [raw[test]]
        if test == "in" and (not isinstance(values, list) or not values):
            self.error((*path, "in"), f"item '{owner}': 'in' takes a list of answer values")
            return None
        ok = True
        for index, value in enumerate(values):
            value_path = (*path, "in", index) if test == "in" else (*path, "equals")
            ok &= self._condition_value(value, value_path, target)
        if target is None or not ok:
            return None
        return (
            Equals(item=target.id, value=values[0])
            if test == "equals"
            else In(item=target.id, values=tuple(values))
        )

    def _condition_value(
        self, value: Any, path: tuple[str | int, ...], target: Item | None
    ) -> bool:
        if not isinstance(value, str):
            word = self.source.boolean_words.get(path)
            if word is not None:
                self.error(
                    path, f'unquoted {word} is read by YAML as true/false; quote it: "{word}"'
                )
            else:
                self.error(path, "an answer value must be text; put it in quotes")
            return False
        if target is not None and target.values and value not in target.values:
            self.error(
                path,
                f"'{value}' is not an answer of item '{target.id}' "
                f"({', '.join(target.values)}), so this condition can never hold",
            )
            return False
        return True

    def _earlier_item(self, item_id: Any, path: tuple[str | int, ...], owner: str) -> Item | None:
        if not isinstance(item_id, str):
            self.error(path, "item must be the id of an earlier item")
            return None
        for item in self.items:
            if item.id == item_id:
                return item
        if item_id == owner:
            self.error(path, f"item '{owner}': show_if cannot refer to the item itself")
        elif any(raw.get("id") == item_id for raw in self._raw_items_before(path)):
            pass  # an earlier item that failed its own checks, already reported there
        elif self._is_later_item(item_id):
            self.error(
                path,
                f"item '{owner}': show_if refers to '{item_id}', which comes later in the file; "
                "conditions may only look at earlier items",
            )
        else:
            self.error(path, f"item '{owner}': show_if refers to unknown item '{item_id}'")
        return None

    def _is_later_item(self, item_id: str) -> bool:
        items = self.data.get("items")
        return isinstance(items, list) and any(
            isinstance(raw, dict) and raw.get("id") == item_id for raw in items
        )

    def _raw_items_before(self, path: tuple[str | int, ...]) -> list[dict[str, Any]]:
        """The items written before the one at `path` (("items", index, ...)), as written.

        Used so that an earlier item that failed its own checks (already reported) does
        not also make a later condition look wrong.
        """
        items = self.data.get("items")
        if not isinstance(items, list) or len(path) < 2 or not isinstance(path[1], int):
            return []
        return [raw for raw in items[: path[1]] if isinstance(raw, dict)]

    def _any_flag(self, value: Any, path: tuple[str | int, ...], owner: str) -> Condition | None:
        written_flags = [
            raw["flag"] for raw in self._raw_items_before(path) if raw.get("flag") is not None
        ]
        if isinstance(value, bool):
            if value and not written_flags:
                self.error(
                    path,
                    f"item '{owner}': no earlier item has a flag, so this condition can never hold",
                )
                return None
            return AnyFlag(raised=value)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.error(path, f"item '{owner}': any_flag takes true, false or a list of domains")
            return None
        earlier = {flag.get("domain") for flag in written_flags if isinstance(flag, dict)}
        ok = True
        for index, domain in enumerate(value):
            if not self._check_domain(domain, (*path, index)):
                ok = False
            elif domain in self.domains and domain not in earlier:
                self.error(
                    (*path, index),
                    f"item '{owner}': no earlier item flags domain '{domain}', "
                    "so this condition can never hold",
                )
                ok = False
        return AnyFlag(domains=tuple(value)) if ok else None

    # --- triage ---------------------------------------------------------------------------

    def _triage(self) -> Triage | None:
        path = ("triage",)
        raw: RawTriage | None = self._validate(RawTriage, self.data.get("triage", {}), path)
        if raw is None:
            return None
        contact_values = tuple(raw.contact_values) if raw.contact_values else ("yes",)
        if raw.consent_item is None:
            if raw.contact_values is not None:
                self.error(
                    (*path, "contact_values"),
                    "contact_values needs a consent_item to apply to",
                    key=True,
                )
            return Triage(create_tasks=raw.create_tasks, contact_values=contact_values)
        item = next((i for i in self.items if i.id == raw.consent_item), None)
        if item is None:
            if not self._is_later_item(raw.consent_item) or self._item_parsed(raw.consent_item):
                self.error(
                    (*path, "consent_item"),
                    f"consent_item '{raw.consent_item}' is not an item of this questionnaire",
                )
        elif item.type != "choice":
            self.error(
                (*path, "consent_item"),
                f"consent_item '{item.id}' must be a choice item (it is {item.type})",
            )
        else:
            for index, value in enumerate(contact_values):
                if value not in item.values:
                    self.error(
                        (*path, "contact_values", index) if raw.contact_values else path,
                        f"contact value '{value}' is not an answer of '{item.id}' "
                        f"({', '.join(item.values)})",
                    )
        return Triage(
            consent_item=raw.consent_item,
            contact_values=contact_values,
            create_tasks=raw.create_tasks,
        )

    def _item_parsed(self, item_id: str) -> bool:
        return any(item.id == item_id for item in self.items)

    # --- examples ---------------------------------------------------------------------------

    def _examples(self, raw_examples: Any) -> list[Example]:
        if raw_examples is None:
            return []
        if not isinstance(raw_examples, list):
            self.error(("examples",), "examples must be a list")
            return []
        examples = []
        for index, raw in enumerate(raw_examples):
            path: tuple[str | int, ...] = ("examples", index)
            parsed: RawExample | None = self._validate(RawExample, raw, path)
            if parsed is None:
                continue
            example = self._example(parsed, path)
            if example is not None:
                examples.append(example)
        return examples

    def _example(self, raw: RawExample, path: tuple[str | int, ...]) -> Example | None:
        label = f"example '{raw.name}'"
        ok = True
        items = {item.id: item for item in self.items}
        for item_id, value in raw.answers.items():
            value_path = (*path, "answers", item_id)
            item = items.get(item_id)
            if item is None:
                # An item that failed its own checks is already reported; say no more.
                if not self._is_later_item(item_id):
                    self.error(value_path, f"{label}: no item '{item_id}'", key=True)
                ok = False
                continue
            problem = answer_problem(item, value)
            if problem:
                self.error(value_path, f"{label}: {problem}")
                ok = False
        for index, domain in enumerate(raw.flags):
            if self.domains_known and domain not in self.domains:
                self.error((*path, "flags", index), f"{label}: domain '{domain}' is not declared")
                ok = False
        if not ok:
            return None
        task = raw.task
        return Example(
            name=raw.name,
            answers=raw.answers,
            flags=tuple(raw.flags),
            task=None
            if task == "none"
            else ExpectedTask(status=task.status, priority=task.priority),
            line=self.source.line(path),
        )


def answer_problem(item: Item, value: Any) -> str | None:
    """Why `value` is not a valid answer to `item`, or None. Used for examples and forms."""
    if item.type == "info":
        return f"item '{item.id}' is an info item and takes no answer"
    if item.type == "multi":
        if not isinstance(value, list):
            return f"item '{item.id}' is a multi item: give a list of answer values"
        bad = [v for v in value if v not in item.values]
        return _not_an_answer(item, bad[0]) if bad else None
    if not isinstance(value, str):
        return f"item '{item.id}' takes one answer value, in quotes"
    if item.type == "choice":
        return None if value in item.values else _not_an_answer(item, value)
    if item.type == "text":
        limit = item.max_length or DEFAULT_TEXT_LENGTH
        return None if len(value) <= limit else f"item '{item.id}' takes at most {limit} characters"
    return _number_problem(item, value)


def _not_an_answer(item: Item, value: str) -> str:
    return f"'{value}' is not an answer of item '{item.id}' ({', '.join(item.values)})"


def _number_problem(item: Item, value: str) -> str | None:
    try:
        number = int(value) if item.type == "scale" else float(value)
    except ValueError:
        kind = "a whole number" if item.type == "scale" else "a number"
        return f"item '{item.id}' takes {kind} written as text, such as \"3\""
    if number != number or number in (float("inf"), float("-inf")):
        return f"item '{item.id}' takes a finite number"
    if item.min is not None and number < item.min or item.max is not None and number > item.max:
        return f"item '{item.id}' takes a value from {item.min} to {item.max}"
    return None


def _code(raw: RawCode | None) -> Code | None:
    return Code(system=raw.system, code=raw.code, display=raw.display) if raw else None


def _dotted(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# --- examples: the file's own safety net -------------------------------------------------------


@dataclass(frozen=True)
class ExampleResult:
    questionnaire: Questionnaire
    example: Example
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def run_examples(questionnaire: Questionnaire) -> list[ExampleResult]:
    """Run each `examples:` entry through the engine and compare flags and task."""
    results = []
    for example in questionnaire.examples:
        evaluation = engine.evaluate(questionnaire, example.answers)
        problems = []
        raised = sorted(set(evaluation.domains))
        expected = sorted(set(example.flags))
        if raised != expected:
            problems.append(
                f"expected flags [{', '.join(expected)}] but the answers raise "
                f"[{', '.join(raised)}]"
            )
        decision = engine.triage_decision(questionnaire, evaluation)
        actual = None if decision is None else (decision.status, decision.priority)
        wanted = None if example.task is None else (example.task.status, example.task.priority)
        if actual != wanted:
            problems.append(f"expected task {_task_words(wanted)} but got {_task_words(actual)}")
        results.append(ExampleResult(questionnaire, example, tuple(problems)))
    return results


def _task_words(task: tuple[str, str] | None) -> str:
    return "none" if task is None else f"{{status: {task[0]}, priority: {task[1]}}}"


def example_problems(questionnaire: Questionnaire) -> list[Problem]:
    file = questionnaire.source_file or questionnaire.id
    return [
        Problem(file, result.example.line, f"example '{result.example.name}': {message}")
        for result in run_examples(questionnaire)
        for message in result.problems
    ]


__all__ = [
    "Collection",
    "ExampleResult",
    "SourceError",
    "answer_problem",
    "example_problems",
    "load_file",
    "load_paths",
    "load_text",
    "run_examples",
]
