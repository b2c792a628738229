"""Frozen questionnaire versions (SPEC §3).

The first response submitted against `(id, version)` stores that version's normalised
content; from then on the file must not change under the same version number. A file
that does is a *conflict*: `screening validate` fails on it, while the app logs it and
keeps serving the frozen copy, so a careless edit never takes the form offline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..models import QuestionnaireVersion
from .model import Questionnaire

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Conflict:
    current: Questionnaire
    frozen: QuestionnaireVersion

    def message(self) -> str:
        q = self.current
        return (
            f"questionnaire '{q.id}' version {q.version} was frozen on "
            f"{self.frozen.frozen_at:%Y-%m-%d} when first answered, and this file now differs "
            f"from it; bump version to {q.version + 1} to publish the change"
        )


def freeze(session: Session, questionnaire: Questionnaire) -> QuestionnaireVersion:
    """Store this version's content if it is not stored yet (called on first submission)."""
    existing = session.get(QuestionnaireVersion, (questionnaire.id, questionnaire.version))
    if existing is not None:
        return existing
    row = QuestionnaireVersion(
        questionnaire_id=questionnaire.id,
        version=questionnaire.version,
        content=questionnaire.canonical_json(),
        content_sha256=questionnaire.content_sha256(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another submission froze it first; theirs is the frozen copy.
        stored = session.get(QuestionnaireVersion, (questionnaire.id, questionnaire.version))
        assert stored is not None
        return stored
    return row


def stored(session: Session, questionnaire_id: str, version: int) -> Questionnaire | None:
    row = session.get(QuestionnaireVersion, (questionnaire_id, version))
    return Questionnaire.model_validate_json(row.content) if row is not None else None


def answered_version(
    session: Session,
    questionnaires: Mapping[str, Questionnaire],
    questionnaire_id: str,
    version: int | None,
) -> Questionnaire | None:
    """The version a patient answered, as frozen then; the file's copy when none is."""
    if version is not None:
        copy = stored(session, questionnaire_id, version)
        if copy is not None:
            return copy
    return questionnaires.get(questionnaire_id)


def conflicts(session: Session, questionnaires: list[Questionnaire]) -> list[Conflict]:
    if not questionnaires or not inspect(session.get_bind()).has_table("questionnaire_versions"):
        return []
    keys = {(q.id, q.version): q for q in questionnaires}
    rows = session.scalars(
        select(QuestionnaireVersion).where(
            QuestionnaireVersion.questionnaire_id.in_({q.id for q in questionnaires})
        )
    )
    return [
        Conflict(keys[(row.questionnaire_id, row.version)], row)
        for row in rows
        if (row.questionnaire_id, row.version) in keys
        and row.content_sha256 != keys[(row.questionnaire_id, row.version)].content_sha256()
    ]


def serving(session: Session, questionnaire: Questionnaire) -> Questionnaire:
    """The copy to show patients: the file, unless it conflicts with a frozen copy."""
    row = session.get(QuestionnaireVersion, (questionnaire.id, questionnaire.version))
    if row is None or row.content_sha256 == questionnaire.content_sha256():
        return questionnaire
    log.error(
        "questionnaire %s version %s differs from its frozen copy; serving the frozen copy "
        "until the file's version is bumped",
        questionnaire.id,
        questionnaire.version,
    )
    return Questionnaire.model_validate_json(row.content)
