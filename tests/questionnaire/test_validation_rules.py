"""Every validation rule of SPEC §3 rejects a file, naming the right line.

Each file in `fixtures/questionnaires/invalid/` breaks exactly one rule and says, on its
first line, what `screening validate` must print: `# expect: LINE: fragment`. The line is
the one SPEC §3 asks for: the offending key or value; for a missing key, the line of the
mapping that lacks it; for a duplicate, the second occurrence. Each fixture also marks that
line with `# <- here`, for the reader.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from screening.core.yamlsource import Problem, SourceError
from screening.questionnaire.loader import example_problems, load_file, load_paths, load_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "questionnaires"
INVALID = FIXTURES / "invalid"
DUPLICATE_IDS = FIXTURES / "duplicate-ids"
EXPECT = re.compile(rb"^# expect: (\d+): (.+)$")

# One fixture per rule. Listed here so that a fixture cannot silently go missing.
RULES = {
    # YAML itself
    "yaml-syntax-error",
    "duplicate-key",
    "empty-file",
    "not-a-mapping",
    "not-utf8",
    "merge-key",
    "key-not-plain-text",
    "nests-too-deeply",
    # the top level
    "unknown-key",
    "missing-id",
    "missing-version",
    "missing-items",
    "no-items",
    "bad-id-pattern",
    "item-id-names-a-page",
    "version-not-integer",
    "version-below-one",
    "bad-language-code",
    "duplicate-language",
    "bad-domain-id",
    # texts and languages
    "text-needs-translations",
    "missing-translation",
    "extra-translation",
    "empty-text",
    "empty-translation",
    "text-wrong-type",
    # answers
    "unquoted-boolean-value",
    "answer-sets-not-a-mapping",
    "unknown-answer-set",
    "duplicate-answer-value",
    "empty-answer-list",
    "choice-without-answers",
    "code-missing-system",
    # items
    "missing-item-id",
    "missing-item-text",
    "bad-item-id-pattern",
    "duplicate-item-id",
    "bad-item-type",
    "required-not-boolean",
    "max-length-not-positive",
    "key-not-for-type",
    "scale-without-range",
    "min-not-below-max",
    # flags
    "undeclared-domain",
    "flag-value-not-an-answer",
    "at-least-outside-range",
    "when-on-scale",
    "at-most-on-choice",
    "flag-without-condition",
    "two-flag-conditions",
    "bad-priority",
    # show_if
    "show-if-later-item",
    "show-if-unknown-item",
    "show-if-self",
    "show-if-value-not-an-answer",
    "unquoted-boolean-show-if",
    "show-if-bad-shape",
    "show-if-unknown-condition",
    "show-if-not-a-mapping",
    "show-if-in-not-a-list",
    "show-if-answered-not-boolean",
    "show-if-all-not-a-list",
    "any-flag-bad-value",
    "any-flag-undeclared-domain",
    "any-flag-domain-never-raised",
    "any-flag-never-raised",
    # triage
    "consent-item-unknown",
    "consent-item-not-choice",
    "contact-value-not-an-answer",
    "contact-values-without-consent-item",
    "triage-bad-create-tasks",
    # examples
    "examples-not-a-list",
    "example-unknown-item",
    "example-invalid-answer",
    "example-undeclared-flag",
    "example-missing-task",
    "example-bad-task",
    "example-wrong-flags",
    "example-wrong-task",
}

# These files load: their examples are run by `screening validate` (SPEC §3, examples).
EXAMPLE_RUN_RULES = {"example-wrong-flags", "example-wrong-task"}


def expectation(path: Path) -> tuple[int, str]:
    first_line = path.read_bytes().split(b"\n", 1)[0]
    match = EXPECT.match(first_line)
    assert match, f"{path.name}: the first line must be '# expect: LINE: fragment'"
    return int(match[1]), match[2].decode()


def fixture_paths() -> list[Path]:
    return sorted(INVALID.glob("*.yaml"))


def test_every_rule_has_exactly_one_fixture() -> None:
    assert {path.stem for path in fixture_paths()} == RULES


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda path: path.stem)
def test_an_invalid_file_is_rejected_with_its_one_problem_at_the_right_line(path: Path) -> None:
    line, fragment = expectation(path)
    if path.stem in EXAMPLE_RUN_RULES:
        problems = example_problems(load_file(path, path.name))
    else:
        with pytest.raises(SourceError) as caught:
            load_file(path, path.name)
        problems = caught.value.problems
    assert [(p.file, p.line) for p in problems] == [(path.name, line)], problems
    assert fragment in problems[0].message


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda path: path.stem)
def test_a_fixture_names_itself_as_its_id(path: Path) -> None:
    # Keeps the fixtures honest: the id is the only thing besides the rule that varies.
    text = path.read_bytes().decode("utf-8", errors="replace")
    ids = re.findall(r"^id: (.+?)(?:\s+#.*)?$", text, flags=re.M)
    if path.stem in {"missing-id", "bad-id-pattern", "empty-file", "not-a-mapping"}:
        return
    assert ids == [path.stem]


def test_problems_print_as_file_colon_line_colon_message() -> None:
    path = INVALID / "undeclared-domain.yaml"
    with pytest.raises(SourceError) as caught:
        load_file(path)
    assert str(caught.value) == (
        f"{path}:17: domain 'money' is not declared in domains (financial)"
    )


def test_the_file_is_named_as_given() -> None:
    path = INVALID / "no-items.yaml"
    with pytest.raises(SourceError) as caught:
        load_file(path, "questionnaires/mine.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "questionnaires/mine.yaml:7: items must be a list of at least one item"
    ]


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(SourceError) as caught:
        load_file(missing)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == (str(missing), 1)
    assert problem.message.startswith("cannot read file")


def test_load_paths_reports_a_missing_path_and_an_empty_folder(tmp_path: Path) -> None:
    collection = load_paths([tmp_path / "nowhere", tmp_path])
    assert collection.problems == [
        Problem(str(tmp_path / "nowhere"), 1, "no such file or folder"),
        Problem(str(tmp_path), 1, "no *.yaml files in this folder"),
    ]


# --- ids across files -------------------------------------------------------------------


def test_a_repeated_questionnaire_id_is_reported_in_the_second_file() -> None:
    first, second = DUPLICATE_IDS / "a-first.yaml", DUPLICATE_IDS / "b-second.yaml"
    collection = load_paths([DUPLICATE_IDS])
    assert collection.files == 2
    assert collection.problems == [
        Problem(
            str(second),
            4,
            f"questionnaire id 'shared-id' is already used by {first}:2; give each file its own id",
        )
    ]
    # The first file is still served.
    assert list(collection.questionnaires) == ["shared-id"]
    assert collection.questionnaires["shared-id"].source_file == str(first)


def test_the_later_path_given_is_the_one_reported() -> None:
    first, second = DUPLICATE_IDS / "a-first.yaml", DUPLICATE_IDS / "b-second.yaml"
    collection = load_paths([second, first])
    assert [(p.file, p.line) for p in collection.problems] == [(str(first), 2)]
    assert f"already used by {second}:4" in collection.problems[0].message


def test_each_duplicate_id_file_is_valid_on_its_own() -> None:
    for path in DUPLICATE_IDS.glob("*.yaml"):
        assert load_file(path).id == "shared-id"


# --- every problem in one run -------------------------------------------------------------

SEVERAL_MISTAKES = textwrap.dedent(
    """\
    id: several-mistakes
    version: 1
    title: Several mistakes
    colour: blue
    domains:
      financial: Money
    answer_sets:
      yes_no:
        - {value: "yes", label: "Yes"}
        - {value: "yes", label: "No"}
    items:
      - id: ends_meet
        type: radio
        text: Do you have difficulty making ends meet?
        answers: yes_no
      - id: missed_meals
        type: choice
        text: Do you ever have to miss a meal because you don't have food?
        answers: yes_no
        flag: {when: ["yes"], domain: food}
      - id: missed_meals
        type: choice
        text: Again?
        answers: yes_no
      - id: wants_help
        type: choice
        text: Do you want help?
        answers:
          - {value: yes, label: "Yes"}
          - {value: "no", label: "No"}
        show_if: {item: nobody, answered: true}
      - id: scale
        type: scale
        text: How are you?
        min: 10
        max: 0
    triage:
      consent_item: missing_item
    examples:
      - name: unknown item
        answers: {no_such_item: "yes"}
        flags: []
        task: none
      - name: no task key
        answers: {}
        flags: []
    """
)


def test_every_problem_of_a_file_comes_back_in_one_run() -> None:
    with pytest.raises(SourceError) as caught:
        load_text(SEVERAL_MISTAKES, "several.yaml")
    found = [(p.line, p.message) for p in caught.value.problems]
    expected = [
        (4, "unknown key 'colour'"),
        (10, "answer value 'yes' is listed twice"),
        (13, "items[0].type: must be 'choice', 'multi', 'scale', 'number', 'text' or 'info'"),
        (20, "domain 'food' is not declared in domains (financial)"),
        (21, "item id 'missed_meals' is already used at line 16"),
        (29, "unquoted yes is read by YAML as true/false"),
        (36, "max (0) must exceed min (10)"),
        (38, "consent_item 'missing_item' is not an item of this questionnaire"),
        (41, "example 'unknown item': no item 'no_such_item'"),
        (44, "examples[1]: missing required key 'task'"),
    ]
    assert len(found) == len(expected), found
    for (line, message), (want_line, fragment) in zip(found, expected, strict=True):
        assert line == want_line and fragment in message, (line, message)


def test_a_duplicate_key_does_not_hide_the_other_problems() -> None:
    text = textwrap.dedent(
        """\
        id: two-problems
        version: 1
        version: 2
        items:
          - {id: a, type: radio, text: A}
        """
    )
    with pytest.raises(SourceError) as caught:
        load_text(text, "two.yaml")
    assert [(p.line, p.message.split(":")[0]) for p in caught.value.problems] == [
        (3, "duplicate key 'version' (first at line 2)"),
        (5, "items[0].type"),
    ]


def test_a_broken_item_does_not_make_later_references_to_it_look_wrong() -> None:
    # Only the item's own problem is reported: not "wants_help refers to a later item",
    # not "no earlier item flags financial", not "example: no item 'ends_meet'".
    text = textwrap.dedent(
        """\
        id: cascade
        version: 1
        domains: {financial: Money}
        items:
          - id: ends_meet
            type: choice
            text: Do you have difficulty making ends meet?
            answers: [{value: "yes", label: "Yes"}]
            flag: {when: ["maybe"], domain: financial}
            colour: red
          - id: wants_help
            type: choice
            text: Do you want help?
            answers: [{value: "yes", label: "Yes"}]
            show_if:
              any: [{any_flag: [financial]}, {any_flag: true}, {item: ends_meet, answered: true}]
        examples:
          - {name: e, answers: {ends_meet: "yes"}, flags: [financial], task: none}
        """
    )
    with pytest.raises(SourceError) as caught:
        load_text(text, "cascade.yaml")
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (
            10,
            "items[0]: unknown key 'colour' (allowed: answers, code, flag, hint, id, max, "
            "max_label, max_length, min, min_label, required, show_if, source, text, type)",
        ),
    ]


def test_unquoted_booleans_are_caught_wherever_text_is_expected() -> None:
    text = textwrap.dedent(
        """\
        id: booleans
        version: 1
        items:
          - id: agree
            type: choice
            text: Do you agree?
            answers:
              - {value: "on", label: "On"}
              - {value: "off", label: "Off"}
            flag: {when: [on], domain: money}
        domains: {money: Money}
        triage:
          consent_item: agree
          contact_values: [off]
        examples:
          - {name: e, answers: {agree: no}, flags: [], task: none}
        """
    )
    with pytest.raises(SourceError) as caught:
        load_text(text, "booleans.yaml")
    assert [(p.line, p.message.split(": ", 1)[1]) for p in caught.value.problems] == [
        (10, 'unquoted on is read by YAML as true/false; quote it: "on"'),
        (14, 'unquoted off is read by YAML as true/false; quote it: "off"'),
        (16, 'unquoted no is read by YAML as true/false; quote it: "no"'),
    ]
