"""The social prescriber's pages (SPEC §8): the queue, the task and its actions.

Thin: each view reads its form (a class below, `views.forms`), calls one function of
`screening.triage`, and renders or redirects. An action that succeeds answers 303 to the
task page (POST-redirect-GET, so a refresh never repeats it); one that is refused
re-renders the task page with every problem in its error summary and the status the
refusal carries (400 bad input, 409 a colleague's change). Every page that shows a
patient records who saw whom in the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import HiddenField, StringField, TextAreaField

from ..config.loaded import state
from ..core import clock
from ..core import constants as c
from ..core.extensions import db, remote_addr
from ..core.names import (
    CLOSE_NAMES,
    DECLINE_REASON_NAMES,
    REFERRAL_OUTCOME_NAMES,
    REFERRAL_STATUS_NAMES,
)
from ..models import Episode, Referral, StaffUser, TriageTask
from ..practices import letters
from ..referrals import answers, chaser
from ..staff import audit
from ..triage import calls, follow_ups, tasks
from ..triage.details import METHOD_NAMES, OUTCOME_NAMES, WANTS_HELP_NAMES, task_view
from ..triage.queue import parse_filters, queue_page
from ..triage.service_levels import today
from ..triage.tasks import Context, unable_to_contact_allowed
from .auth import require_role
from .formatting import need_names
from .forms import DayField, FilterForm, StaffForm

bp = Blueprint("triage", __name__, url_prefix="/triage")
bp.before_request(require_role(c.ROLE_ADMIN, c.ROLE_PRESCRIBER))

PRIORITY_TAGS = {
    "urgent": "nhsuk-tag--red",
    "high": "nhsuk-tag--orange",
    "routine": "nhsuk-tag--grey",
}
STATUS_NAMES = {
    "active": "Active",
    "open": "Open",
    "assigned": "Assigned",
    "declined": "Declined contact",
    "closed": "Closed",
}


# --- the forms -------------------------------------------------------------------------------


class QueueFilterForm(FilterForm):
    """The queue's filters are links (`triage.queue.parse_filters` reads them), but for the
    appointment date. A bad one shows a page of its own with no inputs: no links."""

    unlinked = frozenset({"appointment"})
    appointment = DayField("Appointment date")


class ToCallForm(FilterForm):
    """The list's filters (`triage.calls.parse_call_filters` reads them)."""

    reason = StringField("Reason")
    clinic = StringField("Clinic")
    date = DayField("Appointment day")


class ClinicDayForm(FilterForm):
    date = DayField("Day to show")


class ClaimForm(StaffForm):
    key = "claim"
    take_over = HiddenField()


class ChangeForm(StaffForm):
    """A change of the task's status or holder: refused if a colleague changed it first."""

    version = HiddenField()


class AssignForm(ChangeForm):
    key = "assign"
    user_id = StringField("Social prescriber")


class ContactForm(StaffForm):
    key = "contacts"
    method = StringField("How")
    outcome = StringField("What happened")
    note = TextAreaField("Note (optional)")


class CallForm(ContactForm):
    key = "call"


class SessionForm(StaffForm):
    key = "sessions"
    minutes = StringField("Length in minutes")
    note = TextAreaField("Note (optional)")


class ReferralForm(StaffForm):
    key = "referrals"
    service = StringField("Service")
    other_name = StringField("Name of the service")
    domain = StringField("Need it is for (optional)")
    note = TextAreaField("Note for the service (optional)")


class ReferralStatusForm(StaffForm):
    """What the service said by phone (SPEC §13). One per referral on the page: `key` is
    `referral-{id}`."""

    status = StringField("What did the service say?")
    reason = StringField("Why did the service decline?")
    outcome = StringField("Did the service help?")
    note = TextAreaField("Note (optional)")


class NoteForm(StaffForm):
    key = "notes"
    text = TextAreaField("Note")


class CloseForm(ChangeForm):
    key = "close"
    outcome = StringField("How did it end?")


class FollowUpForm(StaffForm):
    key = "follow-up"
    questionnaire = StringField("Questionnaire")
    date = DayField("Date to send it")


class ReopenForm(ChangeForm):
    key = "reopen"


# What the task page draws in each state (a closed task can only be reopened; the claim
# form is drawn too unless the task is already yours).
OPEN_TASK_FORMS: tuple[type[StaffForm], ...] = (
    AssignForm,
    ContactForm,
    SessionForm,
    ReferralForm,
    NoteForm,
    CloseForm,
    FollowUpForm,
)
CLOSED_TASK_FORMS: tuple[type[StaffForm], ...] = (ReopenForm,)
# Where a refusal links when its form is not on the page: the task at a glance.
SUMMARY_ANCHOR = "task-summary"


# --- the queue ---------------------------------------------------------------------------


@bp.get("")
def queue() -> ResponseReturnValue:
    loaded = state()
    form = QueueFilterForm()
    filters = form.read(lambda args: parse_filters(args, clinics=set(loaded.config.clinics)))
    if filters is None:
        return render_template("triage/bad_filter.html", form=form), form.http_status
    page = queue_page(
        db.session(),
        filters,
        user_id=current_user.id,
        sla_working_days=loaded.config.settings.triage_sla_working_days,
        today=today(),
        answer_working_days=loaded.config.settings.referral_response_working_days,
    )
    _audit_views([entry.patient_id for entry in page.entries], view="queue")
    return render_template(
        "triage/queue.html",
        page=page,
        filters=filters,
        form=form,
        link=lambda f: url_for(".queue", **f.as_params()),
        clinics=[(code, code) for code in sorted(loaded.config.clinics)],
        priority_tags=PRIORITY_TAGS,
        status_names=STATUS_NAMES,
        domain_names=need_names(),
    )


def _audit_views(patient_ids: list[int], *, view: str) -> None:
    """One audit event per patient shown: the trail then answers "who saw this patient"."""
    audit.record_patient_views(
        db.session(), patient_ids, actor=current_user, view=view, remote_addr=remote_addr()
    )
    db.session.commit()


# --- the call lists --------------------------------------------------------------------------


@bp.get("/to-call")
def to_call() -> ResponseReturnValue:
    loaded = state()
    settings = loaded.config.settings
    form = ToCallForm()
    filters = form.read(
        lambda args: calls.parse_call_filters(args, clinics=set(loaded.config.clinics))
    )
    found = None
    if filters is not None:
        found = calls.to_call(
            db.session(),
            now=clock.now(),
            days_before=settings.to_call_days_before,
            unanswered_limit=settings.unable_to_contact_after,
            filters=filters,
        )
        _audit_views([entry.patient_id for entry in found.entries], view="to_call")
    return render_template(
        "triage/to_call.html",
        form=form,
        filters=filters,
        found=found,
        clinics=sorted(loaded.config.clinics.values(), key=lambda clinic: clinic.code),
        reason_names=calls.REASON_NAMES,
        outcome_names=OUTCOME_NAMES,
        days_before=settings.to_call_days_before,
        unanswered_limit=settings.unable_to_contact_after,
    ), form.http_status


@bp.get("/to-call/<int:episode_id>/calls")
def call_page(episode_id: int) -> ResponseReturnValue:
    return _call_page(episode_id, CallForm.blank())


def _call_page(episode_id: int, form: StaffForm) -> ResponseReturnValue:
    """One patient from the to-call list, and the form to log a call (one task per page)."""
    entry = calls.call_entry(db.session(), episode_id)
    if entry is None:
        abort(404)
    _audit_views([entry.patient_id], view="call")
    return (
        render_template(
            "triage/call.html",
            entry=entry,
            form=form,
            reason_names=calls.REASON_NAMES,
            outcome_names=OUTCOME_NAMES,
        ),
        form.http_status,
    )


@bp.post("/to-call/<int:episode_id>/calls")
def log_call(episode_id: int) -> ResponseReturnValue:
    session = db.session()
    episode = session.get(Episode, episode_id)
    if episode is None:
        abort(404)
    form = CallForm()

    def record() -> None:
        tasks.record_contact(
            session,
            episode,
            _context(),
            method="phone",
            outcome=form.value("outcome"),
            note=form.value("note"),
        )
        session.commit()

    if not form.submit(record):
        return _call_page(episode_id, form)
    flash("Call recorded")
    return redirect(url_for(".to_call", _anchor=f"episode-{episode_id}"), code=303)


@bp.get("/clinic-day")
def clinic_day() -> ResponseReturnValue:
    form = ClinicDayForm()
    if not form.check():  # the page again, with the day to fix and no list
        return render_template("triage/clinic_day.html", form=form, found=None), form.http_status
    day = form.date.day or today()
    found = calls.clinic_day(db.session(), day, now=clock.now())
    shown = [entry.patient_id for entry in found.to_see + found.not_screened]
    _audit_views(shown, view="clinic_day")
    return render_template(
        "triage/clinic_day.html",
        form=form,
        found=found,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        priority_tags=PRIORITY_TAGS,
        status_names=STATUS_NAMES,
        reason_names=calls.REASON_NAMES,
    )


# --- one task ------------------------------------------------------------------------------


@bp.get("/<int:task_id>")
def task(task_id: int) -> ResponseReturnValue:
    return _task_page(task_id)


def _task_page(task_id: int, failed: StaffForm | None = None) -> ResponseReturnValue:
    """The task and its forms; `failed` is the form just refused, shown with its errors."""
    session = db.session()
    found = session.get(TriageTask, task_id)
    if found is None:
        abort(404)
    loaded = state()
    answer_days = loaded.config.settings.referral_response_working_days
    view = task_view(session, found, loaded.config, loaded.questionnaires.questionnaires)
    forms = _task_forms(found, view.referrals)
    if failed is not None:
        if failed.key in forms:
            forms[failed.key] = failed
        else:  # a colleague closed or reopened it: the form is not on the page now
            failed.anchor = SUMMARY_ANCHOR
    _record_task_view(session, task_id, view.patient.id, view="task")
    colleagues = session.scalars(
        select(StaffUser)
        .where(
            StaffUser.active.is_(True),
            StaffUser.role.in_([c.ROLE_PRESCRIBER, c.ROLE_ADMIN]),
        )
        .order_by(StaffUser.shown_name)
    ).all()
    return (
        render_template(
            "triage/task.html",
            view=view,
            forms=forms,
            failed=failed,
            colleagues=colleagues,
            services=loaded.config.services,
            can_close_unable=unable_to_contact_allowed(view.attempts, loaded.config.settings),
            unable_after=loaded.config.settings.unable_to_contact_after,
            follow_up_days=loaded.config.settings.follow_up_link_days,
            overdue=found.status in c.ACTIVE_TASK_STATUSES and view.due < today(),
            priority_tags=PRIORITY_TAGS,
            status_names=STATUS_NAMES,
            method_names=METHOD_NAMES,
            outcome_names=OUTCOME_NAMES,
            close_names=CLOSE_NAMES,
            referral_status_names=REFERRAL_STATUS_NAMES,
            decline_reason_names=DECLINE_REASON_NAMES,
            referral_outcome_names=REFERRAL_OUTCOME_NAMES,
            overdue_referrals={
                r.id for r in view.referrals if chaser.is_overdue(r, today(), answer_days)
            },
            letters_made=letters.of_task(session, task_id),
            wants_help_names=WANTS_HELP_NAMES,
            referral_next=c.REFERRAL_NEXT,
            follow_ups=follow_ups.follow_ups_of(session, found),
            scale_series=follow_ups.scale_series(
                session, found, loaded.questionnaires.questionnaires
            ),
            questionnaires=sorted(
                loaded.questionnaires.questionnaires.values(),
                key=lambda q: (q.triage.create_tasks, q.id),  # outcome measures first
            ),
        ),
        failed.http_status if failed is not None else 200,
    )


def _record_task_view(session: Session, task_id: int, patient_id: int, **detail: object) -> None:
    """A view of the patient through their task (SPEC §8): the page, or its letter."""
    audit.record(
        session,
        c.AUDIT_VIEW_PATIENT,
        actor=current_user,
        subject_type=c.SUBJECT_TASK,
        subject_id=task_id,
        patient_id=patient_id,
        remote_addr=remote_addr(),
        detail=detail,
    )
    session.commit()


def _task_forms(task: TriageTask, referrals: list[Referral]) -> dict[str, StaffForm]:
    """The forms the task page draws, blank, by key: what its state allows. A service's
    answer can be recorded after the task closed (SPEC §13)."""
    if task.status == c.TASK_CLOSED:
        drawn = [cls.blank() for cls in CLOSED_TASK_FORMS]
    else:
        drawn = [cls.blank() for cls in OPEN_TASK_FORMS]
        if task.assigned_to_user_id != current_user.id:
            drawn.append(ClaimForm.blank())
    drawn += [
        ReferralStatusForm.blank(key=f"referral-{referral.id}")
        for referral in referrals
        if c.REFERRAL_NEXT[referral.status]
    ]
    return {form.key: form for form in drawn}


def _act(
    task_id: int, form: StaffForm, action: Callable[[Session, Context], object], done: str
) -> ResponseReturnValue:
    """Run one task action from its form: 303 to the task, or the task page with the form
    refused."""
    if not form.submit(lambda: action(db.session(), _context())):
        return _task_page(task_id, form)
    flash(done)
    return redirect(url_for(".task", task_id=task_id), code=303)


def _context() -> Context:
    return Context(by=current_user, now=clock.now(), remote_addr=remote_addr())


@bp.post("/<int:task_id>/claim")
def claim(task_id: int) -> ResponseReturnValue:
    form = ClaimForm()
    return _act(
        task_id,
        form,
        lambda s, ctx: tasks.claim(s, task_id, ctx, take_over=form.value("take_over") == "yes"),
        "You have claimed this task",
    )


@bp.post("/<int:task_id>/assign")
def assign(task_id: int) -> ResponseReturnValue:
    form = AssignForm()
    return _act(
        task_id,
        form,
        lambda s, ctx: tasks.assign(
            s, task_id, ctx, user_id=form.value("user_id"), version=form.value("version")
        ),
        "Task assigned",
    )


@bp.post("/<int:task_id>/contacts")
def contacts(task_id: int) -> ResponseReturnValue:
    form = ContactForm()
    return _act(
        task_id,
        form,
        lambda s, ctx: tasks.log_contact(
            s,
            task_id,
            ctx,
            method=form.value("method"),
            outcome=form.value("outcome"),
            note=form.value("note"),
        ),
        "Contact attempt recorded",
    )


@bp.post("/<int:task_id>/sessions")
def sessions(task_id: int) -> ResponseReturnValue:
    form = SessionForm()
    return _act(
        task_id,
        form,
        lambda s, ctx: tasks.record_session(
            s, task_id, ctx, minutes=form.value("minutes"), note=form.value("note")
        ),
        "Session recorded",
    )


@bp.post("/<int:task_id>/referrals")
def referrals(task_id: int) -> ResponseReturnValue:
    loaded = state()
    form = ReferralForm()

    def refer(s: Session, ctx: Context) -> object:
        task = tasks.get_task(s, task_id)
        questionnaire = loaded.questionnaires.questionnaires.get(task.episode.questionnaire_id)
        return tasks.refer(
            s,
            task_id,
            ctx,
            service=form.value("service"),
            services=loaded.config.services,
            domains=list(questionnaire.domains) if questionnaire else [],
            other_name=form.value("other_name"),
            domain=form.value("domain"),
            note=form.value("note"),
        )

    return _act(task_id, form, refer, "Referral recorded")


@bp.post("/<int:task_id>/referrals/<int:referral_id>")
def referral(task_id: int, referral_id: int) -> ResponseReturnValue:
    form = ReferralStatusForm(key=f"referral-{referral_id}")

    def record(s: Session, ctx: Context) -> object:
        found = answers.get_referral(s, referral_id)
        if found.task_id != task_id:
            abort(404)
        answer = answers.Answer(
            status=form.value("status"),
            reason=form.value("reason"),
            outcome=form.value("outcome"),
            note=form.value("note"),
        )
        return answers.respond(s, found, ctx, answer)

    return _act(task_id, form, record, "Referral updated")


@bp.post("/<int:task_id>/notes")
def notes(task_id: int) -> ResponseReturnValue:
    form = NoteForm()
    return _act(
        task_id,
        form,
        lambda s, ctx: tasks.add_note(s, task_id, ctx, text=form.value("text")),
        "Note added",
    )


@bp.post("/<int:task_id>/close")
def close(task_id: int) -> ResponseReturnValue:
    config = state().config
    form = CloseForm()
    return _act(
        task_id,
        form,
        lambda s, ctx: tasks.close(
            s,
            task_id,
            ctx,
            outcome=form.value("outcome"),
            version=form.value("version"),
            config=config,
            need_names=need_names(),
        ),
        "Task closed",
    )


@bp.get("/<int:task_id>/letters/<int:letter_id>")
def letter(task_id: int, letter_id: int) -> ResponseReturnValue:
    """The letter to the patient's GP practice (SPEC §13), as made: to download when it
    is not mailed, or to read what was sent."""
    session = db.session()
    found = letters.kept_letter(session, task_id, letter_id)
    if found is None or found.pdf is None:
        abort(404)
    task = tasks.get_task(session, task_id)
    _record_task_view(session, task_id, task.episode.patient_id, view="gp_letter", letter=letter_id)
    return Response(
        found.pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{letters.file_name(found)}"',
            # It names the patient: never kept in a shared computer's cache.
            "Cache-Control": "no-store",
        },
    )


@bp.post("/<int:task_id>/follow-up")
def follow_up(task_id: int) -> ResponseReturnValue:
    loaded = state()
    form = FollowUpForm()
    return _act(
        task_id,
        form,
        lambda s, ctx: follow_ups.schedule(
            s,
            task_id,
            ctx,
            questionnaire_id=form.value("questionnaire"),
            day=form.value("date"),
            questionnaires=loaded.questionnaires.questionnaires,
            config=loaded.config,
        ),
        "Follow-up questionnaire scheduled",
    )


@bp.post("/<int:task_id>/reopen")
def reopen(task_id: int) -> ResponseReturnValue:
    form = ReopenForm()
    return _act(
        task_id,
        form,
        lambda s, ctx: tasks.reopen(s, task_id, ctx, version=form.value("version")),
        "Task reopened: it is now yours",
    )
