"""Frozen questionnaire versions (SPEC §3), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from screening.models import QuestionnaireVersion
from screening.questionnaire import load_file, load_text
from screening.questionnaire.frozen import conflicts, freeze, serving, stored

ROOT = Path(__file__).resolve().parents[2]
SIMPLE = (ROOT / "questionnaires" / "simple-question.yaml").read_text()


def test_freezing_twice_keeps_the_first_copy(session: Session) -> None:
    first = load_text(SIMPLE, "simple.yaml")
    freeze(session, first)
    edited = load_text(SIMPLE.replace("Do you want help?", "Any help?"), "simple.yaml")
    row = freeze(session, edited)
    assert row.content_sha256 == first.content_sha256()
    assert session.query(QuestionnaireVersion).count() == 1


def test_an_old_version_stays_readable_after_the_file_moves_on(session: Session) -> None:
    freeze(session, load_text(SIMPLE, "simple.yaml"))
    session.commit()
    old = stored(session, "simple-question", 1)
    assert old is not None
    assert old.item("wants_help").text == {"en": "Do you want help?"}
    assert old.item("basic_needs").flag is not None
    assert stored(session, "simple-question", 2) is None


def test_layout_and_comments_are_not_content() -> None:
    plain = load_text(SIMPLE, "a.yaml")
    relaid = load_text("# a comment\n\n" + SIMPLE.replace("\n\n", "\n\n\n"), "b.yaml")
    assert plain.content_sha256() == relaid.content_sha256()


def test_examples_are_not_content() -> None:
    plain = load_text(SIMPLE, "a.yaml")
    fewer = load_text(SIMPLE[: SIMPLE.index("examples:")], "b.yaml")
    assert plain.content_sha256() == fewer.content_sha256()


def test_a_changed_file_under_the_same_version_conflicts(session: Session) -> None:
    freeze(session, load_text(SIMPLE, "simple.yaml"))
    edited = load_text(SIMPLE.replace("Do you want help?", "Any help?"), "simple.yaml")
    found = conflicts(session, [edited])
    assert [c.current.id for c in found] == ["simple-question"]
    assert "bump version to 2" in found[0].message()
    assert conflicts(session, [load_text(SIMPLE, "simple.yaml")]) == []


def test_the_app_serves_the_frozen_copy_of_a_conflicting_file(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    freeze(session, load_file(ROOT / "questionnaires" / "simple-question.yaml"))
    edited = load_text(SIMPLE.replace("Do you want help?", "Any help?"), "simple.yaml")
    with caplog.at_level(logging.ERROR):
        served = serving(session, edited)
    assert served.item("wants_help").text == {"en": "Do you want help?"}
    assert "serving the frozen copy" in caplog.text
    unchanged = load_text(SIMPLE, "simple.yaml")
    assert serving(session, unchanged) is unchanged
