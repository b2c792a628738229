"""A partner's pages (SPEC §13): the referrals to their own services, and their answers.

Thin, like the task pages: each view reads its form, calls `screening.referrals`, and
renders or redirects (303 to the referral; 400 with an error summary for bad input; 409
when the referral's status does not allow the answer). A partner only ever reaches these
pages: every other staff page answers 403, and a referral they may not see 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session
from wtforms import StringField, TextAreaField

from ..config.loaded import state
from ..core import clock
from ..core import constants as c
from ..core.extensions import db, remote_addr
from ..core.names import DECLINE_REASON_NAMES, REFERRAL_OUTCOME_NAMES, REFERRAL_STATUS_NAMES
from ..core.refusals import NotFound
from ..referrals import answers, partners
from ..staff import audit
from ..triage.service_levels import today
from ..triage.tasks import Context
from .auth import require_role
from .forms import FilterForm, StaffForm
from .reports import service_names

bp = Blueprint("referrals", __name__, url_prefix="/referrals")
bp.before_request(require_role(c.ROLE_PARTNER))

STATUS_FILTERS = (
    ("made", "Waiting for your answer"),
    ("accepted", "Accepted"),
    ("completed", "Completed"),
    ("declined", "Declined"),
)


class ListForm(FilterForm):
    status = StringField("Status")


class AcceptForm(StaffForm):
    key = "accept"
    note = TextAreaField("Note for the social prescriber (optional)")


class DeclineForm(StaffForm):
    key = "decline"
    reason = StringField("Why are you declining it?")
    note = TextAreaField("Note for the social prescriber (optional)")


class CompleteForm(StaffForm):
    key = "complete"
    outcome = StringField("Did your service help the patient?")
    note = TextAreaField("Note for the social prescriber (optional)")


# Each answer: its form, the status it records, what the page says once it is saved.
ANSWERS = {
    "accept": (AcceptForm, c.REFERRAL_ACCEPTED, "Referral accepted"),
    "decline": (DeclineForm, c.REFERRAL_DECLINED, "Referral declined"),
    "complete": (CompleteForm, c.REFERRAL_COMPLETED, "Referral completed"),
}


@bp.get("")
def referral_list() -> ResponseReturnValue:
    form = ListForm()
    filters = form.read(partners.parse_list_filters)
    found = None
    if filters is not None:
        session = db.session()
        found = partners.referral_list(
            session,
            current_user,
            filters,
            now=clock.now(),
            today=today(),
            answer_working_days=_answer_days(),
        )
        # Each patient named on the list is a view of them, as on the triage queue.
        audit.record_patient_views(
            session,
            [entry.patient_id for entry in found.entries],
            actor=current_user,
            view="referrals",
            remote_addr=remote_addr(),
        )
        session.commit()
    return render_template(
        "referrals/list.html",
        form=form,
        filters=filters,
        found=found,
        status_filters=STATUS_FILTERS,
        mine=[service_names(state()).get(s, s) for s in current_user.service_ids],
    ), form.http_status


@bp.get("/<int:referral_id>")
def referral(referral_id: int) -> ResponseReturnValue:
    return _referral_page(referral_id)


def _referral_page(referral_id: int, failed: StaffForm | None = None) -> ResponseReturnValue:
    session = db.session()
    try:
        view = _in_view(session, referral_id)
    except NotFound:
        abort(404)
    audit.record(
        session,
        c.AUDIT_VIEW_REFERRAL,
        actor=current_user,
        subject_type=c.SUBJECT_REFERRAL,
        subject_id=referral_id,
        patient_id=view.patient.patient_id,
        remote_addr=remote_addr(),
    )
    session.commit()
    allowed = c.REFERRAL_NEXT[view.referral.status]
    forms = {
        name: (failed if failed is not None and failed.key == name else form_class.blank())
        for name, (form_class, status, _) in ANSWERS.items()
        if status in allowed
    }
    if failed is not None and failed.key not in forms:
        failed.anchor = ""  # its form is gone (the referral moved on): the summary links nowhere
    return render_template(
        "referrals/referral.html",
        view=view,
        forms=forms,
        failed=failed,
        status_names=REFERRAL_STATUS_NAMES,
        reason_names=DECLINE_REASON_NAMES,
        outcome_names=REFERRAL_OUTCOME_NAMES,
    ), (failed.http_status if failed is not None else 200)


@bp.post("/<int:referral_id>/accept")
def accept(referral_id: int) -> ResponseReturnValue:
    return _answer(referral_id, "accept")


@bp.post("/<int:referral_id>/decline")
def decline(referral_id: int) -> ResponseReturnValue:
    return _answer(referral_id, "decline")


@bp.post("/<int:referral_id>/complete")
def complete(referral_id: int) -> ResponseReturnValue:
    return _answer(referral_id, "complete")


def _answer(referral_id: int, action: str) -> ResponseReturnValue:
    form_class, status, done = ANSWERS[action]
    form = form_class()
    session = db.session()

    def record() -> object:
        found = _in_view(session, referral_id)  # else "not found": the form answers 404
        given = answers.Answer(
            status=status,
            reason=form.value("reason") if "reason" in form else "",
            outcome=form.value("outcome") if "outcome" in form else "",
            note=form.value("note"),
        )
        context = Context(by=current_user, now=clock.now(), remote_addr=remote_addr())
        return answers.respond(session, found.referral, context, given)

    if not form.submit(record):
        return _referral_page(referral_id, form)
    flash(done)
    return redirect(url_for(".referral", referral_id=referral_id), code=303)


def _in_view(session: Session, referral_id: int) -> partners.PartnerReferral:
    """The referral as the signed-in partner may see it, or `NotFound`."""
    return partners.partner_referral(
        session,
        current_user,
        referral_id,
        state().config.services,
        now=clock.now(),
        today=today(),
        answer_working_days=_answer_days(),
    )


def _answer_days() -> int:
    return state().config.settings.referral_response_working_days
