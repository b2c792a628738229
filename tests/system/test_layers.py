"""The house's rules, read from the source: every import points down the layers README
draws, no import circle, no import hidden inside a function, and only entry points import
the app factory."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "screening"
# Bottom to top: a package may import from its own layer and those before it.
LAYERS = [
    "core",
    "models",
    "questionnaire",
    "config",
    "mail",
    "staff",
    "invitations",
    "sms",
    "practices",
    "triage",
    "referrals",
    "patient",
    "appointments",
    "reports",
    "privacy",
    "fhir",
    "views",
    "cli",
]
ENTRY_POINTS = {"screening", "screening.app", "screening.cli.base"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {
        module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
    }


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path) -> tuple[set[str], list[int]]:
    """The project modules `name` imports at run time, and lines importing inside functions."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    hidden: list[int] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if _type_checking(node):
            return
        if isinstance(node, ast.ImportFrom | ast.Import):
            targets = _targets(node, package)
            if in_function and any(t.startswith("screening") for t in targets):
                hidden.append(node.lineno)
            found.update(t for t in targets if t.startswith("screening"))
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found, hidden


def _targets(node: ast.ImportFrom | ast.Import, package: str) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    return {
        f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules() else source
        for alias in node.names
    }


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path)[0] for name, path in modules().items()}


def test_the_top_of_the_package_is_the_pathway() -> None:
    top = sorted(p.name for p in PACKAGE.iterdir() if not p.name.startswith(("_", ".")))
    assert [name for name in top if name.endswith(".py")] == ["app.py"]
    assert {name for name in top if not name.endswith(".py")} == set(LAYERS)


def test_readme_and_the_package_docstring_give_the_same_order() -> None:
    def order(text: str) -> list[str]:
        words = re.findall(r"[a-z]+", " ".join(text.split()))
        return [word for word in words if word in LAYERS]

    readme = (PACKAGE.parent / "README.md").read_text()
    said = readme[readme.index("**Layers.**") :].split("The order is", 1)[0]
    docstring = (
        (PACKAGE / "__init__.py").read_text().split("each importing only those before it:")[1]
    )
    assert order(said) == LAYERS
    assert order(docstring.split('"""')[0]) == LAYERS


def test_every_import_points_down_the_layers() -> None:
    upward = []
    for name, targets in graph().items():
        here = layer_of(name)
        for target in targets:
            there = layer_of(target)
            if here is not None and there is not None and there > here:
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_no_module_imports_the_app_factory_but_the_entry_points() -> None:
    importers = [
        name
        for name, targets in graph().items()
        if targets & {"screening", "screening.app"} and name not in ENTRY_POINTS
    ]
    assert importers == []


def test_no_import_is_hidden_inside_a_function() -> None:
    hidden = {
        name: lines for name, path in modules().items() if (lines := imports_of(name, path)[1])
    }
    assert hidden == {}


def test_there_is_no_import_circle() -> None:
    edges = graph()
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on the path, 2 done
    circles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if target == node or target not in edges:
                continue
            if state[target] == 1:
                circles.append([*path[path.index(target) :], target])
            elif state[target] == 0:
                walk(target, [*path, target])
        state[node] = 2

    for name in sorted(edges):
        if state[name] == 0:
            walk(name, [name])
    assert circles == []


# Where a view may read the request itself: the forms' own module, the patient's pages
# (one question form built from the YAML), the providers' callbacks, and the sign-in
# page's `next` (where to go afterwards, not a field of any form).
READS_ANYTHING = {"screening.views.forms", "screening.views.patient", "screening.views.webhooks"}
READS_ONLY = {"screening.views.auth": {"next"}}
REQUEST_DATA = {"form", "args", "values", "files", "data", "json", "get_json", "get_data", "stream"}


def request_reads(path: Path) -> list[tuple[int, str | None]]:
    """Each `request.form`/`args`/... in a module: its line, and the name it gets, if one."""
    tree = ast.parse(path.read_text())
    named: dict[int, str] = {}  # id of the `request.X` node -> the name `.get("...")` reads
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            named[id(node.func.value)] = node.args[0].value
    return [
        (node.lineno, named.get(id(node)))
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in REQUEST_DATA
        and isinstance(node.value, ast.Name)
        and node.value.id == "request"
    ]


def test_staff_views_read_the_request_only_through_a_form() -> None:
    """One way to write a staff form: a view reads what was sent from its `StaffForm`."""
    found = [
        f"{name}:{line} reads {said or 'the request'}"
        for name, path in modules().items()
        if name.startswith("screening.views.") and name not in READS_ANYTHING
        for line, said in request_reads(path)
        if said not in READS_ONLY.get(name, set())
    ]
    assert found == []
