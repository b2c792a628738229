"""The rules' vocabulary: which item types ask, which are required and can flag, and
whether a value is an answer an item can take (for examples, forms and exports)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .model import Code, Item
from .schema import RawCode

ASKING_TYPES = {"choice", "multi", "scale", "number", "text"}
REQUIRED_BY_DEFAULT = {"choice", "multi", "scale", "number"}
FLAGGABLE_TYPES = REQUIRED_BY_DEFAULT
DEFAULT_TEXT_LENGTH = 500


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


def code_of(raw: RawCode | None) -> Code | None:
    return Code(system=raw.system, code=raw.code, display=raw.display) if raw else None


def dotted(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
