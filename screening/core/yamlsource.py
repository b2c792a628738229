"""Read YAML into plain Python while remembering the line of every key and value.

Questionnaires and config files are written by hand by hospital staff, so every problem
must name `FILE:LINE` (SPEC §3). PyYAML's composed node tree carries marks; we convert
it ourselves, which also lets us catch what YAML would silently accept: duplicate keys,
and `yes`/`no`/`on`/`off` read as booleans where text was meant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

Path_ = tuple[str | int, ...]

# Patterns used in the schemas, said in words for the people who edit the files.
PATTERN_WORDS = {
    r"^[a-z0-9-]+$": "use only lowercase letters, digits and hyphens (like barts-social-welfare)",
    r"^[a-z0-9_]+$": "use only lowercase letters, digits and underscores (like ends_meet)",
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$": "use an ISO 639-1 language code such as en or bn",
}

_BOOLEAN_WORDS = {"yes", "no", "on", "off", "y", "n"}
_MAX_DEPTH = 60
# Aliases are expanded where they are used, so a few lines of anchors can stand for
# billions of nodes ("billion laughs"). No real questionnaire comes near this.
_MAX_NODES = 100_000


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class SourceError(Exception):
    """One or more problems in hand-written files; `str()` lists them as FILE:LINE."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Source:
    """A parsed file: the data, and the line of each node by its path from the root."""

    file: str
    data: Any
    value_lines: dict[Path_, int] = field(default_factory=dict)
    key_lines: dict[Path_, int] = field(default_factory=dict)
    # Paths whose value was an unquoted word that YAML 1.1 read as a boolean.
    boolean_words: dict[Path_, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # True when parts of the file were dropped (nesting cut off, merge keys refused):
    # checking the rest would only report the consequences of the problems already found.
    incomplete: bool = False
    nodes: int = 0

    def line(self, path: Sequence[str | int], *, key: bool = False) -> int:
        """The line of the node at `path`, or of the nearest mapping or list holding it.

        With `key=True` the line of the key itself (for unknown keys), else of its value.
        A missing key thus reports the line of the mapping that lacks it (SPEC §3).
        """
        path = tuple(path)
        while path:
            if key and path in self.key_lines:
                return self.key_lines[path]
            if path in self.value_lines:
                return self.value_lines[path]
            path = path[:-1]
            key = False
        return self.value_lines.get((), 1)

    def problem(self, path: Sequence[str | int], message: str, *, key: bool = False) -> Problem:
        return Problem(self.file, self.line(path, key=key), message)


def read(path: Path, display_name: str | None = None) -> Source:
    name = display_name if display_name is not None else str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Source(name, None, problems=[Problem(name, 1, f"cannot read file: {exc.strerror}")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Source(name, None, problems=[Problem(name, line, "file is not UTF-8 text")])
    return parse(text, name)


def parse(text: str, name: str) -> Source:
    source = Source(name, None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = exc.problem or "not valid YAML"
        source.problems.append(Problem(name, line, f"YAML syntax error: {reason}"))
        return source
    except yaml.YAMLError as exc:
        source.problems.append(Problem(name, 1, f"YAML syntax error: {exc}"))
        return source
    except RecursionError:
        source.problems.append(Problem(name, 1, "YAML nests too deeply"))
        return source
    if node is None:
        source.problems.append(Problem(name, 1, "file is empty"))
        return source
    source.value_lines[()] = node.start_mark.line + 1
    source.data = _convert(node, (), source, depth=0)
    return source


def _convert(node: yaml.Node, path: Path_, source: Source, depth: int) -> Any:
    source.nodes += 1
    if source.nodes > _MAX_NODES:
        if not source.incomplete:
            source.problems.append(
                source.problem(path, "the file expands to too many values (aliases?)")
            )
        source.incomplete = True
        return None
    if depth > _MAX_DEPTH:
        source.problems.append(source.problem(path, "YAML nests too deeply"))
        source.incomplete = True
        return None
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(node, path, source, depth)
    if isinstance(node, yaml.SequenceNode):
        result = []
        for index, child in enumerate(node.value):
            child_path = (*path, index)
            source.value_lines[child_path] = child.start_mark.line + 1
            result.append(_convert(child, child_path, source, depth + 1))
        return result
    return _convert_scalar(node, path, source)


def _convert_mapping(node: yaml.MappingNode, path: Path_, source: Source, depth: int) -> Any:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            source.problems.append(Problem(source.file, key_line, "a key must be plain text"))
            continue
        if key_node.tag == "tag:yaml.org,2002:merge":
            source.problems.append(
                Problem(source.file, key_line, "merge keys (<<) are not supported; write it out")
            )
            source.incomplete = True
            continue
        key = str(key_node.value)
        child_path = (*path, key)
        if key in result:
            first = source.key_lines[child_path]
            source.problems.append(
                Problem(source.file, key_line, f"duplicate key '{key}' (first at line {first})")
            )
            continue
        source.key_lines[child_path] = key_line
        source.value_lines[child_path] = value_node.start_mark.line + 1
        result[key] = _convert(value_node, child_path, source, depth + 1)
    return result


def _convert_scalar(node: yaml.Node, path: Path_, source: Source) -> Any:
    tag, text = node.tag, node.value
    if tag == "tag:yaml.org,2002:bool":
        if text.lower() in _BOOLEAN_WORDS:
            source.boolean_words[path] = text
        return text.lower() in {"true", "yes", "on", "y"}
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:int":
        try:
            return yaml.SafeLoader.construct_yaml_int(_NULL_LOADER, node)
        except (ValueError, IndexError):  # IndexError: an empty `!!int ""`
            return text
    if tag == "tag:yaml.org,2002:float":
        try:
            return float(text.replace("_", ""))
        except ValueError:
            return text
    # Strings, timestamps and anything else stay as the text the author wrote.
    return text


_NULL_LOADER = yaml.SafeLoader("")


# --- pydantic errors as FILE:LINE problems ----------------------------------------------


def validate(source: Source, model: type[BaseModel], data: Any = None) -> BaseModel | None:
    """Validate `source.data` (or `data`) against a pydantic model, recording problems."""
    try:
        return model.model_validate(source.data if data is None else data)
    except ValidationError as exc:
        source.problems.extend(problems_from(exc, source, model))
        return None


def problems_from(
    exc: ValidationError, source: Source, model: type[BaseModel], prefix: Path_ = ()
) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = _without_union_tags(source.data, (*prefix, *error["loc"]))
        problems.append(_problem_for(error, loc, source, model, prefix))
    return problems


def _without_union_tags(data: Any, loc: Sequence[str | int]) -> Path_:
    """`loc` without the tagged-union branch names, which the schemas write "#name".

    The path is walked through the data, so that a key the author wrote with a "#" (a
    quoted "#note": ...) is kept rather than mistaken for a branch name.
    """
    kept: list[str | int] = []
    node = data
    for part in loc:
        in_data = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not in_data and isinstance(part, str) and part.startswith("#"):
            continue
        node = node[part] if in_data else None
        kept.append(part)
    return tuple(kept)


def _problem_for(
    error: Any, loc: Path_, source: Source, model: type[BaseModel], prefix: Path_
) -> Problem:
    kind = error["type"]
    where = _describe(loc)
    if kind == "missing":
        return source.problem(loc[:-1], f"{_describe(loc[:-1])}missing required key '{loc[-1]}'")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[len(prefix) : -1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return source.problem(loc, f"{_describe(loc[:-1])}unknown key '{loc[-1]}'{hint}", key=True)
    if loc in source.boolean_words and kind in {"string_type", "literal_error"}:
        word = source.boolean_words[loc]
        return source.problem(
            loc, f'{where}unquoted {word} is read by YAML as true/false; quote it: "{word}"'
        )
    return source.problem(loc, f"{where}{_humane(error)}")


def _describe(loc: Path_) -> str:
    if not loc:
        return ""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return f"{text}: "


def _humane(error: Any) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "string_type":
        return "must be text"
    if kind in {"int_type", "int_from_float"}:
        return "must be a whole number"
    if kind == "bool_type":
        return "must be true or false"
    if kind == "list_type":
        return "must be a list"
    if kind == "too_short":
        minimum = error.get("ctx", {}).get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must have at least {minimum} items"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return "must be a mapping of keys to values"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        return PATTERN_WORDS.get(pattern, f"must match the pattern {pattern}")
    if kind == "literal_error":
        return message.replace("Input should be", "must be")
    return message.replace("Input should", "must").replace("String should", "must")


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the model accepts at `loc`, for an 'unknown key' hint."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in _aliases(current):
            return []
        current = _model_in(fields[_aliases(current)[part]].annotation)
        if current is None:
            return []
    return sorted(_aliases(current)) if hasattr(current, "model_fields") else []


def _aliases(model: type[BaseModel]) -> dict[str, str]:
    return {(info.alias or name): name for name, info in model.model_fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model inside an annotation such as `list[X] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or getattr(annotation, "__metadata__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    return _model_in(origin) if origin not in (None, list, dict) else None
