"""The rules of `show_if`: each form's shape, and that it looks only at earlier items.
A part of `checker.Checker`, which holds the state these methods read and add to."""

from __future__ import annotations

from typing import Any

from .model import All, Answered, AnyFlag, AnyOf, Condition, Equals, In, Item, Not


class ConditionRules:
    """The rules of `show_if`: each form's shape, and that it looks only at earlier items."""

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
