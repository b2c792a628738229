"""Where an unfinished questionnaire stands (SPEC §7 `dropoff`), kept as each answer is
saved, and placed once for episodes answered before it was kept."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.models import Answer
from screening.patient.responses import place_unfinished, save_answer
from tests.factories import make_invited_episode


def test_each_saved_answer_moves_the_episode_to_the_page_it_would_show_next(
    app: Flask, session: Session
) -> None:
    barts = state().questionnaires.questionnaires["barts-social-welfare"]
    episode, _ = make_invited_episode(session)
    assert episode.stands_at is None  # nothing saved: the start page
    steps = [
        ("ends_meet", "yes", "missed_meals"),
        ("missed_meals", "no", "stable_housing"),
        ("stable_housing", "yes", "support_network"),
        ("support_network", "yes", "feel_unsafe"),
        ("feel_unsafe", "no", "carer_impact"),
        ("carer_impact", "no", "wants_help"),  # a need was flagged: item 7 is shown
        ("wants_help", "yes", "check"),
        ("ends_meet", "no", "check"),  # no need now: item 7 is hidden, every shown one done
    ]
    for item_id, value, page in steps:
        save_answer(session, barts, episode, item_id, value, now=clock.now())
        assert episode.stands_at == page, item_id


def test_episodes_answered_before_the_page_was_kept_are_placed_once(
    app: Flask, session: Session
) -> None:
    barts = state().questionnaires.questionnaires["barts-social-welfare"]
    episode, _ = make_invited_episode(session)
    session.add(Answer(episode_id=episode.id, item_id="ends_meet", value="no"))
    untouched, _ = make_invited_episode(session, nhs_number="9990000026")
    session.commit()
    questionnaires = {barts.id: barts}
    assert place_unfinished(session, questionnaires) == 1
    assert (episode.stands_at, untouched.stands_at) == ("missed_meals", None)
    assert place_unfinished(session, questionnaires) == 0
