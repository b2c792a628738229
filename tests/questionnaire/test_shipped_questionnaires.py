"""The questionnaires we ship: valid, self-tested, and word for word what SPEC §2 says."""

from __future__ import annotations

from pathlib import Path

import pytest

from screening.questionnaire.engine import evaluate, triage_decision
from screening.questionnaire.loader import example_problems, load_file, load_paths, run_examples
from screening.questionnaire.model import AnyFlag, Item, Questionnaire

QUESTIONNAIRES = Path(__file__).resolve().parents[2] / "questionnaires"
SHIPPED = sorted(QUESTIONNAIRES.glob("*.yaml"))


def load(name: str) -> Questionnaire:
    return load_file(QUESTIONNAIRES / f"{name}.yaml")


def labels(item: Item) -> list[tuple[str, str]]:
    return [(answer.value, answer.label["en"]) for answer in item.answers]


# --- every shipped file ----------------------------------------------------------------------


def test_the_three_questionnaires_of_spec_section_2_are_shipped() -> None:
    assert [path.name for path in SHIPPED] == [
        "barts-social-welfare.yaml",
        "ons4-wellbeing.yaml",
        "simple-question.yaml",
    ]


def test_every_shipped_questionnaire_validates_together() -> None:
    collection = load_paths([QUESTIONNAIRES])
    assert collection.problems == []
    assert sorted(collection.questionnaires) == [path.stem for path in SHIPPED]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_a_shipped_file_is_named_after_its_id(path: Path) -> None:
    assert load_file(path).id == path.stem


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_every_example_raises_exactly_its_flags_and_task(path: Path) -> None:
    questionnaire = load_file(path)
    results = run_examples(questionnaire)
    assert results, "every shipped questionnaire carries examples"
    assert [(r.example.name, r.problems) for r in results if not r.passed] == []
    assert example_problems(questionnaire) == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_the_examples_cover_every_flag_domain_and_every_flag(path: Path) -> None:
    questionnaire = load_file(path)
    raised = [evaluate(questionnaire, example.answers) for example in questionnaire.examples]
    assert {domain for evaluation in raised for domain in evaluation.domains} == set(
        questionnaire.domains
    )
    flagging_items = {item.id for item in questionnaire.items if item.flag is not None}
    assert {flag.item_id for evaluation in raised for flag in evaluation.flags} == flagging_items
    # And the quiet side: some example raises nothing.
    assert any(not evaluation.flags for evaluation in raised)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_the_examples_cover_both_branches_of_every_show_if(path: Path) -> None:
    questionnaire = load_file(path)
    visible = [
        set(evaluate(questionnaire, example.answers).visible) for example in questionnaire.examples
    ]
    for item in questionnaire.items:
        if item.show_if is not None:
            assert any(item.id in shown for shown in visible), f"{item.id} never shown"
            assert any(item.id not in shown for shown in visible), f"{item.id} never hidden"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_the_examples_cover_every_task_outcome_the_file_can_produce(path: Path) -> None:
    questionnaire = load_file(path)
    outcomes = {
        None if example.task is None else example.task.status for example in questionnaire.examples
    }
    if not questionnaire.triage.create_tasks:
        assert outcomes == {None}
    elif questionnaire.triage.consent_item is not None:
        assert outcomes == {None, "open", "declined"}


# --- the Barts Social Welfare Screening Tool ---------------------------------------------------

YES_NO_DECLINE = [("yes", "Yes"), ("no", "No"), ("decline", "I don't want to answer")]

# (text, flag value, domain, priority, always triaged), in the order of SPEC §2.
BARTS_SCREENING_ITEMS = [
    (
        "Do you have difficulty making ends meet at the end of the month?",
        "yes",
        "financial",
        "routine",
        False,
    ),
    (
        "Do you ever have to miss a meal because you don't have food?",
        "yes",
        "food",
        "routine",
        False,
    ),
    (
        "In the past 2 months, have you been living in stable housing that you own, rent, or "
        "stay in as part of a household?",
        "no",
        "housing",
        "routine",
        False,
    ),
    (
        "If you were in trouble or felt alone, do you have family or friends you can rely on "
        "for support?",
        "no",
        "isolation",
        "routine",
        False,
    ),
    ("Do you ever feel unsafe?", "yes", "safety", "urgent", True),
    (
        "Do your personal health issues impact your role as a carer?",
        "yes",
        "carer",
        "routine",
        False,
    ),
]
BARTS_CONSENT_TEXT = "Do you want to talk to someone who may be able to help?"


def test_barts_has_the_seven_items_of_spec_section_2_in_order() -> None:
    barts = load("barts-social-welfare")
    assert (barts.id, barts.version, barts.languages) == ("barts-social-welfare", 2, ("en",))
    assert barts.title == {"en": "Barts Social Welfare Screening Tool"}
    assert [item.text["en"] for item in barts.items] == [
        *(text for text, *_ in BARTS_SCREENING_ITEMS),
        BARTS_CONSENT_TEXT,
    ]
    for item in barts.items:
        assert item.type == "choice"
        assert labels(item) == YES_NO_DECLINE
        assert item.required


@pytest.mark.parametrize(
    ("position", "flag_value", "domain", "priority", "always_triage"),
    [(index, *row[1:]) for index, row in enumerate(BARTS_SCREENING_ITEMS)],
    ids=[row[2] for row in BARTS_SCREENING_ITEMS],
)
def test_barts_screening_item_flags_as_spec_says(
    position: int, flag_value: str, domain: str, priority: str, always_triage: bool
) -> None:
    item = load("barts-social-welfare").items[position]
    assert item.show_if is None
    assert item.flag is not None
    assert item.flag.when == (flag_value,)
    assert (item.flag.at_least, item.flag.at_most) == (None, None)
    assert (item.flag.domain, item.flag.priority, item.flag.always_triage) == (
        domain,
        priority,
        always_triage,
    )


def test_barts_domains_are_the_words_in_brackets() -> None:
    assert list(load("barts-social-welfare").domains) == [
        "financial",
        "food",
        "housing",
        "isolation",
        "safety",
        "carer",
    ]


def test_barts_cites_the_sources_of_spec_section_2() -> None:
    sources = [item.source or "" for item in load("barts-social-welfare").items]
    assert "Brcic" in sources[0] and "2011" in sources[0]
    assert "Chhabra" in sources[2] and "2019" in sources[2]
    assert "Escalante" in sources[3] and "2021" in sources[3]
    assert "focus group" in sources[5].lower() and "2023" in sources[5]
    assert "Lewisham" in sources[6]


def test_barts_item_7_is_the_consent_item_shown_only_after_a_flag() -> None:
    barts = load("barts-social-welfare")
    consent = barts.items[6]
    assert consent.id == "wants_help"
    assert consent.flag is None
    assert consent.show_if == AnyFlag(domains=None, raised=True)
    assert barts.triage.consent_item == "wants_help"
    assert barts.triage.contact_values == ("yes",)
    assert barts.triage.create_tasks is True


def test_barts_item_7_appears_for_each_flag_and_only_then() -> None:
    barts = load("barts-social-welfare")
    quiet = {
        item.id: "no" if value == "yes" else "yes"
        for item, (_, value, *_) in zip(barts.items, BARTS_SCREENING_ITEMS, strict=False)
    }
    assert "wants_help" not in evaluate(barts, quiet).visible
    assert "wants_help" not in evaluate(barts, dict.fromkeys(quiet, "decline")).visible
    for item, (_, value, domain, *_) in zip(barts.items, BARTS_SCREENING_ITEMS, strict=False):
        evaluation = evaluate(barts, {**quiet, item.id: value})
        assert evaluation.domains == (domain,)
        assert "wants_help" in evaluation.visible


def test_barts_a_safety_disclosure_is_triaged_urgently_even_when_contact_is_declined() -> None:
    barts = load("barts-social-welfare")
    evaluation = evaluate(barts, {"feel_unsafe": "yes", "wants_help": "no"})
    decision = triage_decision(barts, evaluation)
    assert decision is not None
    assert (decision.status, decision.priority, decision.domains) == ("open", "urgent", ("safety",))


# --- the simple question --------------------------------------------------------------------------


def test_simple_question_matches_spec_section_2() -> None:
    simple = load("simple-question")
    assert simple.intro == {
        "en": "These days some people are having difficulty meeting their basic needs and in "
        "some cases we may be able to help."
    }
    assert simple.domains == {"financial": {"en": "Money and basic needs"}}
    assert len(simple.items) == 2
    screening, wants_help = simple.items

    assert screening.type == "choice"
    assert screening.text == {
        "en": "Do you have difficulty making ends meet / meeting basic needs at the end of the "
        "month?"
    }
    assert screening.hint == {
        "en": "This may include difficulty putting food on the table, finding a place to sleep "
        "at night, feeling safe in your home, having a job, or fulfilling your role as carer?"
    }
    assert labels(screening) == [
        ("yes", "Yes"),
        ("no", "No"),
        ("decline", "Prefer not to talk about it"),
    ]
    assert screening.flag is not None
    assert (screening.flag.when, screening.flag.domain, screening.flag.priority) == (
        ("yes",),
        "financial",
        "routine",
    )
    assert screening.flag.always_triage is False

    assert wants_help.type == "choice"
    assert wants_help.text == {"en": "Do you want help?"}
    assert labels(wants_help) == [("yes", "Yes"), ("no", "No")]
    assert wants_help.show_if is None  # always shown
    assert wants_help.flag is None
    assert simple.triage.consent_item == wants_help.id
    assert simple.triage.contact_values == ("yes",)
    assert simple.triage.create_tasks is True


# --- ONS personal wellbeing ---------------------------------------------------------------------

ONS4_TEXTS = [
    "Overall, how satisfied are you with your life nowadays?",
    "Overall, to what extent do you feel that the things you do in your life are worthwhile?",
    "Overall, how happy did you feel yesterday?",
    "Overall, how anxious did you feel yesterday?",
]


def test_ons4_matches_spec_section_2() -> None:
    ons4 = load("ons4-wellbeing")
    assert [item.text["en"] for item in ons4.items] == ONS4_TEXTS
    assert list(ons4.domains) == ["wellbeing"]
    assert ons4.triage.create_tasks is False
    assert ons4.triage.consent_item is None
    for item in ons4.items:
        assert (item.type, item.min, item.max) == ("scale", 0, 10)
        assert item.min_label == {"en": "Not at all"}
        assert item.max_label == {"en": "Completely"}
        assert item.show_if is None
        assert item.flag is not None
        assert (item.flag.domain, item.flag.priority) == ("wellbeing", "routine")
    *low_is_bad, anxiety = ons4.items
    for item in low_is_bad:
        assert item.flag is not None
        assert (item.flag.at_most, item.flag.at_least, item.flag.when) == (4, None, None)
    assert anxiety.flag is not None
    assert (anxiety.flag.at_least, anxiety.flag.at_most, anxiety.flag.when) == (6, None, None)


@pytest.mark.parametrize("score", range(11))
def test_ons4_bands_are_4_or_below_and_6_or_above(score: int) -> None:
    ons4 = load("ons4-wellbeing")
    calm = {"life_satisfaction": "7", "worthwhile": "7", "happiness": "7", "anxiety": "2"}
    for item in ons4.items:
        evaluation = evaluate(ons4, {**calm, item.id: str(score)})
        low = item.id != "anxiety" and score <= 4
        high = item.id == "anxiety" and score >= 6
        assert evaluation.domains == (("wellbeing",) if low or high else ())
        assert triage_decision(ons4, evaluation) is None
