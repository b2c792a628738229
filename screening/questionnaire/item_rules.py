"""The rules of each item: its keys for its type, its texts and answers, its flag.
A part of `checker.Checker`, which holds the state these methods read and add to."""

from __future__ import annotations

from typing import Any

from .model import AnswerOption, FlagRule, Item, Texts
from .rules import ASKING_TYPES, DEFAULT_TEXT_LENGTH, FLAGGABLE_TYPES, REQUIRED_BY_DEFAULT, code_of
from .schema import RawItem


class ItemRules:
    """The rules of each item: its keys for its type, its texts and answers, its flag."""

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
            code=code_of(raw.code),
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
