"""`screening purge --before DATE`: remove what identifies patients from old episodes.

What goes: the patient's name, NHS number, date of birth, mobile, other phone, postcode,
GP practice and list details (the patient row, kept as an empty shell so counts still join
to it); the answers to free-text questions; every note staff or services wrote (contact
attempts, sessions, referrals and their updates, task notes); the PDF of each letter to
the GP practice, which names the patient; the link's token hash. What stays: the stage
timestamps, the coded patient-group snapshot on each episode, choice answers, flags,
tasks, calls, referrals with their statuses, reasons, outcomes and history but without
their notes, that a letter was made and when — everything the funnel and its breakdowns
count — the mail outbox, whose rows hold a mailbox and ids, and the audit trail, whose
rows hold ids and codes only.

An episode is old when its appointment (or, without one, its invitation, or its creation)
is before DATE. An episode whose task is still open or assigned, with a text still to
send (a follow-up scheduled for later), or with a letter to the GP practice still to send,
is kept whole: someone is about to contact that patient or their practice. A patient is
emptied only when none of their episodes or appointments is recent, so a patient with a
clinic next week keeps their mobile. The audit trail keeps its events (who did what, when)
but loses, for emptied patients, the address their own requests came from. One
transaction: a purge that fails removes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time

from sqlalchemy import and_, delete, exists, false, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from ..appointments.rows import PATIENT_FIELDS
from ..core import clock
from ..core import constants as c
from ..core.clock import LONDON
from ..models import (
    Answer,
    Appointment,
    AuditEvent,
    ContactAttempt,
    Episode,
    GpLetter,
    Mail,
    OutboundMessage,
    Patient,
    QuestionnaireVersion,
    Referral,
    ReferralUpdate,
    SupportSession,
    TaskNote,
    TriageTask,
)
from ..questionnaire.model import Questionnaire
from ..staff import audit

# Everything the list gave about the patient: the same fields an import writes (the GP
# practice of SPEC §13 among them).
IDENTIFYING_PATIENT_FIELDS = ("nhs_number", *PATIENT_FIELDS)


@dataclass(frozen=True)
class PurgeCounts:
    patients: int
    free_text_answers: int
    notes: int
    letters: int
    links: int
    kept_for_active_tasks: int

    def summary(self, *, dry_run: bool) -> str:
        verb = "would remove" if dry_run else "removed"
        return (
            f"{verb} the details of {self.patients} patients, {self.free_text_answers} "
            f"free-text answers, {self.notes} notes, {self.letters} letters to GP practices "
            f"and {self.links} links; kept "
            f"{self.kept_for_active_tasks} old episodes whose task is still open or assigned"
        )


def cutoff(before: date) -> datetime:
    """The start of DATE in London: episodes before it are old."""
    return datetime.combine(before, time(0), tzinfo=LONDON)


def purge(
    session: Session,
    questionnaires: Iterable[Questionnaire],
    before: date,
    *,
    dry_run: bool = False,
) -> PurgeCounts:
    """Count (dry run) or remove the identifiable data of episodes before `before`;
    the caller commits."""
    plan = _Plan(session, cutoff(before), text_items(session, questionnaires))
    counts = plan.counts()
    if not dry_run:
        plan.carry_out()
        audit.record(
            session,
            c.AUDIT_PURGE,
            detail={"before": before.isoformat(), "operator": audit.operator(), **asdict(counts)},
        )
    return counts


def text_items(session: Session, questionnaires: Iterable[Questionnaire]) -> set[tuple[str, str]]:
    """(questionnaire id, item id) of every free-text item, in the files and in every
    version frozen when first answered (an item may since have gone from the file)."""
    found = {(q.id, item.id) for q in questionnaires for item in q.items if item.type == "text"}
    for questionnaire_id, content in session.execute(
        select(QuestionnaireVersion.questionnaire_id, QuestionnaireVersion.content)
    ):
        for item in json.loads(content).get("items", []):
            if item.get("type") == "text":
                found.add((questionnaire_id, item["id"]))
    return found


class _Plan:
    """The rows a purge touches, as subqueries, counted and then changed alike.

    The episode subqueries are uncorrelated: used inside a query that also reads episodes,
    SQLAlchemy would otherwise tie them to that query's episode row.
    """

    def __init__(self, session: Session, before: datetime, text: set[tuple[str, str]]):
        self.session = session
        when = func.coalesce(Episode.appointment_at, Episode.invited_at, Episode.created_at)
        active = or_(
            exists().where(
                TriageTask.episode_id == Episode.id,
                TriageTask.status.in_(c.ACTIVE_TASK_STATUSES),
            ),
            exists().where(
                OutboundMessage.episode_id == Episode.id,
                OutboundMessage.status.in_(c.UNSENT_MESSAGE_STATUSES),
            ),
            # Its PDF is the letter: blanked before it went, the practice would never hear.
            exists().where(
                TriageTask.episode_id == Episode.id,
                Mail.task_id == TriageTask.id,
                Mail.kind == c.MAIL_GP_LETTER,
                Mail.status != c.MAIL_SENT,
            ),
        )
        self.old_episodes = select(Episode.id).where(when < before, ~active).correlate(None)
        self.kept_episodes = select(Episode.id).where(when < before, active).correlate(None)
        recent = exists().where(Episode.patient_id == Patient.id, or_(when >= before, active))
        booked = exists().where(
            Appointment.patient_id == Patient.id, Appointment.appointment_at >= before
        )
        seen_before = or_(
            exists().where(Episode.patient_id == Patient.id, Episode.id.in_(self.old_episodes)),
            # A patient on an old list who never had an episode (a clinic that did not
            # screen, an appointment imported after it happened) is held all the same.
            exists().where(
                Appointment.patient_id == Patient.id, Appointment.appointment_at < before
            ),
        )
        self.patients = select(Patient.id).where(
            Patient.purged_at.is_(None), seen_before, ~recent, ~booked
        )
        self.tasks = (
            select(TriageTask.id)
            .where(TriageTask.episode_id.in_(self.old_episodes))
            .correlate(None)
        )
        self.free_text = and_(Answer.episode_id.in_(self.old_episodes), _any_item(text))
        self.with_notes = {
            ContactAttempt: and_(
                ContactAttempt.episode_id.in_(self.old_episodes), ContactAttempt.note.is_not(None)
            ),
            SupportSession: and_(
                SupportSession.task_id.in_(self.tasks), SupportSession.note.is_not(None)
            ),
            Referral: and_(Referral.task_id.in_(self.tasks), Referral.note.is_not(None)),
            ReferralUpdate: and_(
                ReferralUpdate.referral_id.in_(
                    select(Referral.id).where(Referral.task_id.in_(self.tasks)).correlate(None)
                ),
                ReferralUpdate.note.is_not(None),
            ),
        }
        self.letters = and_(GpLetter.task_id.in_(self.tasks), GpLetter.pdf.is_not(None))
        self.task_notes = TaskNote.task_id.in_(self.tasks)
        self.links = and_(Episode.id.in_(self.old_episodes), Episode.token_hash.is_not(None))

    def _count(self, model: type, condition: ColumnElement[bool]) -> int:
        return self.session.scalar(select(func.count()).select_from(model).where(condition)) or 0

    def counts(self) -> PurgeCounts:
        notes = sum(self._count(m, where) for m, where in self.with_notes.items())
        return PurgeCounts(
            patients=self._count(Patient, Patient.id.in_(self.patients)),
            free_text_answers=self._count(Answer, self.free_text),
            notes=notes + self._count(TaskNote, self.task_notes),
            letters=self._count(GpLetter, self.letters),
            links=self._count(Episode, self.links),
            kept_for_active_tasks=self._count(Episode, Episode.id.in_(self.kept_episodes)),
        )

    def carry_out(self) -> None:
        execute = self.session.execute
        # Patients first: which patients qualify does not depend on the rows changed below.
        blank = {field: None for field in IDENTIFYING_PATIENT_FIELDS}
        execute(
            update(Patient)
            .where(Patient.id.in_(self.patients))
            .values(**blank, purged_at=clock.now(), updated_at=clock.now())
            .execution_options(synchronize_session=False)
        )
        execute(delete(Answer).where(self.free_text).execution_options(synchronize_session=False))
        for model, where in self.with_notes.items():
            execute(
                update(model)
                .where(where)
                .values(note=None)
                .execution_options(synchronize_session=False)
            )
        execute(
            delete(TaskNote).where(self.task_notes).execution_options(synchronize_session=False)
        )
        # The row stays (the task made a letter, then); the PDF naming the patient goes.
        execute(
            update(GpLetter)
            .where(self.letters)
            .values(pdf=None)
            .execution_options(synchronize_session=False)
        )
        execute(
            update(Episode)
            .where(self.links)
            .values(token_hash=None)
            .execution_options(synchronize_session=False)
        )
        execute(
            update(AuditEvent)
            .where(
                AuditEvent.patient_id.in_(select(Patient.id).where(Patient.purged_at.is_not(None))),
                AuditEvent.remote_addr.is_not(None),
            )
            .values(remote_addr=None)
            .execution_options(synchronize_session=False)
        )


def _any_item(items: set[tuple[str, str]]) -> ColumnElement[bool]:
    """Answers to any of these (questionnaire, item) pairs; the episode names the former."""
    if not items:
        return false()
    return or_(
        *(
            and_(
                Answer.item_id == item_id,
                Answer.episode_id.in_(
                    select(Episode.id)
                    .where(Episode.questionnaire_id == questionnaire_id)
                    .correlate(None)
                ),
            )
            for questionnaire_id, item_id in sorted(items)
        )
    )
