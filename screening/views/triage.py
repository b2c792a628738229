"""The social prescriber's pages (SPEC §8): the queue, the task and its actions.

Thin: each view parses the request, calls one function of `screening.triage`, and renders
or redirects. An action that succeeds answers 303 to the task page (POST-redirect-GET, so a
refresh never repeats it); one that is refused re-renders the task page with an error
summary and the status the refusal carries (400 bad input, 409 a colleague's change).
Every page that shows a patient records who saw whom in the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from ..config.loaded import state
from ..core import clock
from ..core import constants as c
from ..core.extensions import db, remote_addr
from ..models import Episode, StaffUser, TriageTask
from ..staff import audit
from ..triage import calls, follow_ups, tasks
from ..triage.details import (
    CLOSE_NAMES,
    METHOD_NAMES,
    OUTCOME_NAMES,
    REFERRAL_STATUS_NAMES,
    task_view,
)
from ..triage.queue import BadFilter, parse_filters, queue_page
from ..triage.service_levels import today
from ..triage.tasks import Context, Refused, unable_to_contact_allowed
from .auth import require_role

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


# --- the queue ---------------------------------------------------------------------------


@bp.get("")
def queue() -> ResponseReturnValue:
    loaded = state()
    try:
        filters = parse_filters(request.args, clinics=set(loaded.config.clinics))
    except BadFilter as bad:
        return render_template("triage/bad_filter.html", message=str(bad)), 400
    page = queue_page(
        db.session(),
        filters,
        user_id=current_user.id,
        sla_working_days=loaded.config.settings.triage_sla_working_days,
        today=today(),
    )
    _audit_views([entry.patient_id for entry in page.entries], view="queue")
    return render_template(
        "triage/queue.html",
        page=page,
        filters=filters,
        link=lambda f: url_for(".queue", **f.as_params()),
        clinics=[(code, code) for code in sorted(loaded.config.clinics)],
        priority_tags=PRIORITY_TAGS,
        status_names=STATUS_NAMES,
        domain_names=_domain_names(),
    )


def _domain_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for questionnaire in state().questionnaires.questionnaires.values():
        language = questionnaire.default_language
        for domain, label in questionnaire.domains.items():
            names.setdefault(domain, label[language])
    return names


def _audit_views(patient_ids: list[int], *, view: str) -> None:
    """One audit event per patient shown: the trail then answers "who saw this patient"."""
    audit.record_patient_views(
        db.session(), patient_ids, actor=current_user, view=view, remote_addr=remote_addr()
    )
    db.session.commit()


# --- the call lists --------------------------------------------------------------------------


@bp.get("/to-call")
def to_call() -> ResponseReturnValue:
    settings = state().config.settings
    page_text = request.args.get("page", "1")
    page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 10_000 else 1
    found = calls.to_call(
        db.session(),
        now=clock.now(),
        days_before=settings.to_call_days_before,
        unanswered_limit=settings.unable_to_contact_after,
        page=page,
    )
    _audit_views([entry.patient_id for entry in found.entries], view="to_call")
    return render_template(
        "triage/to_call.html",
        found=found,
        reason_names=calls.REASON_NAMES,
        outcome_names=OUTCOME_NAMES,
        days_before=settings.to_call_days_before,
        unanswered_limit=settings.unable_to_contact_after,
    )


@bp.get("/to-call/<int:episode_id>/calls")
def call_page(episode_id: int) -> ResponseReturnValue:
    return _call_page(episode_id)


def _call_page(
    episode_id: int, *, error: FormError | None = None, status: int = 200
) -> ResponseReturnValue:
    """One patient from the to-call list, and the form to log a call (one task per page)."""
    entry = calls.call_entry(db.session(), episode_id)
    if entry is None:
        abort(404)
    _audit_views([entry.patient_id], view="call")
    return (
        render_template(
            "triage/call.html",
            entry=entry,
            error=error,
            posted=request.form if error else {},
            reason_names=calls.REASON_NAMES,
            outcome_names=OUTCOME_NAMES,
        ),
        status,
    )


@bp.post("/to-call/<int:episode_id>/calls")
def log_call(episode_id: int) -> ResponseReturnValue:
    session = db.session()
    episode = session.get(Episode, episode_id)
    if episode is None:
        abort(404)
    context = Context(by=current_user, now=clock.now(), remote_addr=remote_addr())
    try:
        tasks.record_contact(
            session,
            episode,
            context,
            method="phone",
            outcome=_field("outcome"),
            note=_field("note"),
        )
        session.commit()
    except Refused as refused:
        session.rollback()
        error = FormError("call", refused.field, refused.message)
        return _call_page(episode_id, error=error, status=refused.status)
    flash("Call recorded")
    return redirect(url_for(".to_call", _anchor=f"episode-{episode_id}"), code=303)


@bp.get("/clinic-day")
def clinic_day() -> ResponseReturnValue:
    day_text = request.args.get("date", "").strip()
    try:
        day = date.fromisoformat(day_text) if day_text else today()
    except ValueError:
        return render_template(
            "triage/bad_filter.html", message=f"'{day_text}' is not a date like 2026-12-14"
        ), 400
    found = calls.clinic_day(db.session(), day)
    shown = [entry.patient_id for entry in found.to_see + found.not_screened]
    _audit_views(shown, view="clinic_day")
    clinic_names = {code: clinic.name for code, clinic in state().config.clinics.items()}
    return render_template(
        "triage/clinic_day.html",
        found=found,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        clinic_names=clinic_names,
        priority_tags=PRIORITY_TAGS,
        status_names=STATUS_NAMES,
        reason_names=calls.REASON_NAMES,
    )


# --- one task ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormError:
    form: str  # which of the page's forms was refused
    field: str | None
    text: str

    @property
    def anchor(self) -> str:
        return f"#{self.form}-{self.field}" if self.field else f"#{self.form}"


@bp.get("/<int:task_id>")
def task(task_id: int) -> ResponseReturnValue:
    return _task_page(task_id)


def _task_page(
    task_id: int, *, error: FormError | None = None, status: int = 200, posted: Any = None
) -> ResponseReturnValue:
    session = db.session()
    found = session.get(TriageTask, task_id)
    if found is None:
        abort(404)
    loaded = state()
    view = task_view(session, found, loaded.config, loaded.questionnaires.questionnaires)
    audit.record(
        session,
        c.AUDIT_VIEW_PATIENT,
        actor=current_user,
        subject_type=c.SUBJECT_TASK,
        subject_id=task_id,
        patient_id=view.patient.id,
        remote_addr=remote_addr(),
        detail={"view": "task"},
    )
    session.commit()
    colleagues = session.scalars(
        select(StaffUser)
        .where(
            StaffUser.active.is_(True),
            StaffUser.role.in_([c.ROLE_PRESCRIBER, c.ROLE_ADMIN]),
        )
        .order_by(StaffUser.email)
    ).all()
    return (
        render_template(
            "triage/task.html",
            view=view,
            error=error,
            message_for=lambda key: (
                {"text": error.text} if error and f"{error.form}-{error.field}" == key else None
            ),
            form_values=lambda form: posted if error and posted and error.form == form else {},
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
        status,
    )


def _act(
    task_id: int, form: str, action: Callable[[Any, Context], object], done: str
) -> ResponseReturnValue:
    session = db.session()
    context = Context(by=current_user, now=clock.now(), remote_addr=remote_addr())
    try:
        action(session, context)
    except tasks.NotFound:
        session.rollback()
        abort(404)
    except Refused as refused:
        session.rollback()
        error = FormError(form, refused.field, refused.message)
        return _task_page(task_id, error=error, status=refused.status, posted=request.form)
    flash(done)
    return redirect(url_for(".task", task_id=task_id), code=303)


def _field(name: str) -> str:
    return request.form.get(name, "")


@bp.post("/<int:task_id>/claim")
def claim(task_id: int) -> ResponseReturnValue:
    take_over = _field("take_over") == "yes"
    return _act(
        task_id,
        "claim",
        lambda s, ctx: tasks.claim(s, task_id, ctx, take_over=take_over),
        "You have claimed this task",
    )


@bp.post("/<int:task_id>/assign")
def assign(task_id: int) -> ResponseReturnValue:
    return _act(
        task_id,
        "assign",
        lambda s, ctx: tasks.assign(
            s, task_id, ctx, user_id=_field("user_id"), version=_field("version")
        ),
        "Task assigned",
    )


@bp.post("/<int:task_id>/contacts")
def contacts(task_id: int) -> ResponseReturnValue:
    return _act(
        task_id,
        "contacts",
        lambda s, ctx: tasks.log_contact(
            s, task_id, ctx, method=_field("method"), outcome=_field("outcome"), note=_field("note")
        ),
        "Contact attempt recorded",
    )


@bp.post("/<int:task_id>/sessions")
def sessions(task_id: int) -> ResponseReturnValue:
    return _act(
        task_id,
        "sessions",
        lambda s, ctx: tasks.record_session(
            s, task_id, ctx, minutes=_field("minutes"), note=_field("note")
        ),
        "Session recorded",
    )


@bp.post("/<int:task_id>/referrals")
def referrals(task_id: int) -> ResponseReturnValue:
    config = state().config

    def refer(s: Any, ctx: Context) -> object:
        task = tasks.get_task(s, task_id)
        questionnaire = state().questionnaires.questionnaires.get(task.episode.questionnaire_id)
        domains = list(questionnaire.domains) if questionnaire else []
        return tasks.refer(
            s,
            task_id,
            ctx,
            service=_field("service"),
            services=config.services,
            domains=domains,
            other_name=_field("other_name"),
            domain=_field("domain"),
            note=_field("note"),
        )

    return _act(task_id, "referrals", refer, "Referral recorded")


@bp.post("/<int:task_id>/referrals/<int:referral_id>")
def referral(task_id: int, referral_id: int) -> ResponseReturnValue:
    return _act(
        task_id,
        "referral",
        lambda s, ctx: tasks.update_referral(s, task_id, referral_id, ctx, status=_field("status")),
        "Referral updated",
    )


@bp.post("/<int:task_id>/notes")
def notes(task_id: int) -> ResponseReturnValue:
    return _act(
        task_id,
        "notes",
        lambda s, ctx: tasks.add_note(s, task_id, ctx, text=_field("text")),
        "Note added",
    )


@bp.post("/<int:task_id>/close")
def close(task_id: int) -> ResponseReturnValue:
    settings = state().config.settings
    return _act(
        task_id,
        "close",
        lambda s, ctx: tasks.close(
            s, task_id, ctx, outcome=_field("outcome"), version=_field("version"), settings=settings
        ),
        "Task closed",
    )


@bp.post("/<int:task_id>/follow-up")
def follow_up(task_id: int) -> ResponseReturnValue:
    loaded = state()
    return _act(
        task_id,
        "follow-up",
        lambda s, ctx: follow_ups.schedule(
            s,
            task_id,
            ctx,
            questionnaire_id=_field("questionnaire"),
            day=_field("date"),
            questionnaires=loaded.questionnaires.questionnaires,
            config=loaded.config,
        ),
        "Follow-up questionnaire scheduled",
    )


@bp.post("/<int:task_id>/reopen")
def reopen(task_id: int) -> ResponseReturnValue:
    return _act(
        task_id,
        "reopen",
        lambda s, ctx: tasks.reopen(s, task_id, ctx, version=_field("version")),
        "Task reopened: it is now yours",
    )
