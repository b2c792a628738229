"""A hand-written file cannot make the loader hang or exhaust memory."""

from __future__ import annotations

import pytest

from screening.core.yamlsource import SourceError
from screening.questionnaire import load_text


def test_an_alias_bomb_is_refused_quickly() -> None:
    lines = ["id: a", "version: 1", 'x0: &x0 ["lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"x{level}: &x{level} [{', '.join([f'*x{level - 1}'] * 10)}]")
    lines.append("items: [*x9]")
    with pytest.raises(SourceError, match="too many values"):
        load_text("\n".join(lines), "bomb.yaml")
