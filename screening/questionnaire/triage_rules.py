"""The rules of `triage`, and of the file's `examples` (their shape and items).
A part of `checker.Checker`, which holds the state these methods read and add to."""

from __future__ import annotations

from typing import Any

from .model import Example, ExpectedTask, Triage
from .rules import answer_problem
from .schema import RawExample, RawTriage


class TriageRules:
    """The rules of `triage`, and of the file's `examples` (their shape and items)."""

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
