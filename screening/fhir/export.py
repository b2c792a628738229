"""`screening export fhir`: every resource as NDJSON, one file per resource type.

NDJSON (one resource per line) is the FHIR Bulk Data format, which a trust's integration
engine or data platform reads as a stream: a million responses never sit in memory here
either, as they are read and written a batch at a time. Files are written beside their
final names and renamed at the end, so a failed export leaves the last good one whole.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config.schema import RawService
from ..core import constants as c
from ..models import (
    Answer,
    Episode,
    Flag,
    Patient,
    QuestionnaireVersion,
    Referral,
    Response,
    TriageTask,
)
from ..questionnaire.model import Questionnaire
from ..staff import audit
from .questionnaire import questionnaire_resource
from .records import observation_resource, response_resource, task_resource
from .referrals import (
    organization_id,
    organization_resource,
    referral_task_resource,
    service_request_resource,
)

RESOURCE_TYPES = (
    "Questionnaire",
    "QuestionnaireResponse",
    "Observation",
    "Task",
    "ServiceRequest",
    "Organization",
)
BATCH = 500


@dataclass
class ExportCounts:
    written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCE_TYPES, 0))
    # Responses to a version held in no form (neither frozen nor in the files): left out
    # rather than exported against another version's questions.
    skipped: int = 0

    def summary(self) -> str:
        text = ", ".join(f"{n} {kind}" for kind, n in self.written.items())
        return (
            f"{text}; skipped {self.skipped} responses to versions no longer held"
            if (self.skipped)
            else text
        )


def export_fhir(
    session: Session,
    questionnaires: Mapping[str, Questionnaire],
    base_url: str,
    out_dir: Path,
    *,
    services: Sequence[RawService] = (),
) -> ExportCounts:
    """Write one NDJSON file per resource type into `out_dir`; audit the export (the
    caller commits). `services` is the directory of `config/services.yaml`: without it a
    referral's service is still exported, by the name it was referred under, uncoded."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = ExportCounts()
    files = {kind: _private_file(out_dir / f"{kind}.ndjson.partial") for kind in RESOURCE_TYPES}
    try:
        versions = _versions(session, questionnaires)
        for questionnaire in versions.values():
            _write(files, counts, questionnaire_resource(questionnaire, base_url))
        for resource in _records(session, versions, base_url, counts):
            _write(files, counts, resource)
        for resource in _tasks(session):
            _write(files, counts, resource)
        directory = {service.id: service for service in services}
        for resource in _referrals(session, directory, base_url):
            _write(files, counts, resource)
        for resource in _organizations(session, directory, base_url):
            _write(files, counts, resource)
    finally:
        for handle in files.values():
            handle.close()
    for kind in RESOURCE_TYPES:
        os.replace(out_dir / f"{kind}.ndjson.partial", out_dir / f"{kind}.ndjson")
    detail = {**counts.written, "skipped": counts.skipped, "operator": audit.operator()}
    audit.record(session, c.AUDIT_EXPORT_FHIR, detail=detail)
    return counts


def _private_file(path: Path) -> TextIO:
    """UTF-8 (answers in Bengali or Arabic stay themselves), readable by its owner only:
    the files hold NHS numbers and answers."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(descriptor, "w", encoding="utf-8")


def _write(files: Mapping[str, TextIO], counts: ExportCounts, resource: dict[str, Any]) -> None:
    kind = resource["resourceType"]
    files[kind].write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
    counts.written[kind] += 1


def _versions(
    session: Session, questionnaires: Mapping[str, Questionnaire]
) -> dict[tuple[str, int], Questionnaire]:
    """Every version answered (as frozen) and every version in the files."""
    found = {(q.id, q.version): q for q in questionnaires.values()}
    for row in session.scalars(select(QuestionnaireVersion)):
        found[(row.questionnaire_id, row.version)] = Questionnaire.model_validate_json(row.content)
    return dict(sorted(found.items()))


def _records(
    session: Session,
    versions: Mapping[tuple[str, int], Questionnaire],
    base_url: str,
    counts: ExportCounts,
) -> Iterator[dict[str, Any]]:
    for rows in _pages(session, Response, Response.episode_id):
        yield from _batch(session, rows, versions, base_url, counts)


def _pages(
    session: Session, model: Any, episode_id: Any, *through: tuple[Any, Any]
) -> Iterator[list[Any]]:
    """(row, NHS number) of every `model` row, BATCH at a time in id order: memory stays
    one batch deep however many there are. `through`: (table, ON clause) joins that lead
    from `model` to the table of `episode_id`."""
    query = select(model, Patient.nhs_number)
    for table, on in through:
        query = query.join(table, on)
    query = query.join(Episode, episode_id == Episode.id).join(
        Patient, Episode.patient_id == Patient.id
    )
    last = 0
    while True:
        rows = session.execute(query.where(model.id > last).order_by(model.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1][0].id
        yield rows
        session.expunge_all()


def _batch(
    session: Session,
    rows: Iterable[Any],
    versions: Mapping[tuple[str, int], Questionnaire],
    base_url: str,
    counts: ExportCounts,
) -> Iterator[dict[str, Any]]:
    rows = list(rows)
    episode_ids = [response.episode_id for response, _ in rows]
    answers: dict[int, dict[str, Any]] = defaultdict(dict)
    for episode_id, item_id, value in session.execute(
        select(Answer.episode_id, Answer.item_id, Answer.value).where(
            Answer.episode_id.in_(episode_ids)
        )
    ):
        answers[episode_id][item_id] = value
    flags: dict[int, list[Flag]] = defaultdict(list)
    for flag in session.scalars(
        select(Flag).where(Flag.response_id.in_([r.id for r, _ in rows])).order_by(Flag.id)
    ):
        flags[flag.response_id].append(flag)
    for response, nhs_number in rows:
        key = (response.questionnaire_id, response.questionnaire_version)
        # Every answered version was frozen on its first submission, so this finds it;
        # another version's questions would misread the answers.
        questionnaire = versions.get(key)
        if questionnaire is None:
            counts.skipped += 1
            continue
        given = answers[response.episode_id]
        yield response_resource(response, questionnaire, given, nhs_number, base_url)
        for flag in flags[response.id]:
            yield observation_resource(
                flag, response, questionnaire, given.get(flag.item_id), nhs_number
            )


def _tasks(session: Session) -> Iterator[dict[str, Any]]:
    """Every task, those from a phone call without a response among them."""
    for rows in _pages(session, TriageTask, TriageTask.episode_id):
        for task, nhs_number in rows:
            yield task_resource(task, nhs_number)


def _referrals(
    session: Session, directory: Mapping[str, RawService], base_url: str
) -> Iterator[dict[str, Any]]:
    """Each referral as what was asked of the service, and the service's answer."""
    pages = _pages(
        session, Referral, TriageTask.episode_id, (TriageTask, Referral.task_id == TriageTask.id)
    )
    for rows in pages:
        for referral, nhs_number in rows:
            entry = directory.get(referral.service_id)
            yield service_request_resource(referral, entry, nhs_number)
            yield referral_task_resource(referral, entry, nhs_number, base_url)


def _organizations(
    session: Session, directory: Mapping[str, RawService], base_url: str
) -> Iterator[dict[str, Any]]:
    """Each service referred to, once, so every referral's `performer` resolves, those
    the directory no longer lists too. Its (service, name) pairs are few: one query."""
    latest = func.max(Referral.id)
    found: dict[str, tuple[str, str | None]] = {}
    for service_id, name in session.execute(
        select(Referral.service_id, Referral.service_name)
        .group_by(Referral.service_id, Referral.service_name)
        .order_by(latest)
    ):
        # In the order last referred to: the latest name of a service wins.
        found[organization_id(service_id, name)] = (service_id, name)
    for service_id, name in found.values():
        yield organization_resource(service_id, name, directory.get(service_id), base_url)
