"""Load questionnaire files, check every rule of SPEC §3, and build the normal form.

Each file is read with line numbers (`yamlsource`), its shape checked by pydantic part by
part (the header, then each item and each example on its own, so one bad item does not
hide the problems of the others), then the cross-field rules run on whatever parsed.
All problems come back together as `FILE:LINE: message`; nothing here raises anything
but `SourceError`, whatever the input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.yamlsource import Problem, SourceError, parse, read
from .checker import check
from .examples import ExampleResult, example_problems, run_examples
from .model import Questionnaire
from .rules import DEFAULT_TEXT_LENGTH, answer_problem

__all__ = [
    "DEFAULT_TEXT_LENGTH",
    "Collection",
    "ExampleResult",
    "SourceError",
    "answer_problem",
    "example_problems",
    "load_file",
    "load_paths",
    "load_text",
    "questionnaire_files",
    "run_examples",
]


def load_file(path: Path, display_name: str | None = None) -> Questionnaire:
    """Load one file; raise `SourceError` listing every problem."""
    return check(read(path, display_name))


def load_text(text: str, name: str = "<text>") -> Questionnaire:
    return check(parse(text, name))


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
        questionnaire = check(source)
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
