"""Assisted mode pages (SPEC §1.6): find a patient, open their questionnaire in clinic or
by phone, then use the patient's own question pages. Every search result is audited."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from wtforms import StringField

from ..core import clock
from ..core.constants import (
    AUDIT_ASSISTED_START,
    AUDIT_VIEW_PATIENT,
    EPISODE_CANCELLED,
    ROLE_ADMIN,
    ROLE_PRESCRIBER,
)
from ..core.extensions import db, remote_addr
from ..models import Episode
from ..patient import assisted
from ..staff import audit
from . import patient
from .auth import require_role
from .forms import FilterForm, StaffForm

bp = Blueprint("assisted", __name__, url_prefix="/assisted")
bp.before_request(require_role(ROLE_ADMIN, ROLE_PRESCRIBER))

MODE_NAMES = {"assisted_in_person": "In clinic", "assisted_phone": "By phone"}


class PatientSearchForm(FilterForm):
    q = StringField("NHS number or name")


class StartForm(StaffForm):
    mode = StringField("How are you talking to the patient?")


@bp.get("")
def search() -> ResponseReturnValue:
    form = PatientSearchForm()
    found = form.read(lambda args: assisted.find_patients(db.session(), args))
    for result in found.found if found else []:
        _audit_view(result.patient.id, "assisted_search")
    db.session.commit()
    return render_template(
        "patient/assisted_search.html", form=form, search=found
    ), form.http_status


@bp.get("/start/<public_id>")
def choose_mode(public_id: str) -> ResponseReturnValue:
    """One question before the patient's pages: in clinic or by phone (SPEC §7's modes)."""
    episode = _open_episode(public_id)
    _audit_view(episode.patient_id, "assisted_start")
    db.session.commit()
    return _mode_page(episode, StartForm.blank())


@bp.post("/start/<public_id>")
def start(public_id: str) -> ResponseReturnValue:
    episode = _open_episode(public_id)
    form = StartForm()
    mode = form.value("mode")
    started = form.submit(
        lambda: assisted.start_assisted(
            db.session(), episode, mode=mode, user_id=current_user.id, now=clock.now()
        )
    )
    if not started:
        return _mode_page(episode, form)
    audit.record(
        db.session(),
        AUDIT_ASSISTED_START,
        actor=current_user,
        subject_type="episode",
        subject_id=episode.id,
        remote_addr=remote_addr(),
        detail={"mode": mode},
    )
    db.session.commit()
    patient.enter_as_staff(episode)
    return redirect(url_for("patient.resume"))


def _mode_page(episode: Episode, form: StartForm) -> ResponseReturnValue:
    return render_template(
        "patient/assisted_start.html", episode=episode, form=form, modes=MODE_NAMES
    ), form.http_status


def _open_episode(public_id: str) -> Episode:
    """An episode staff may answer with the patient: not cancelled, not answered, and its
    patient's record not purged."""
    episode = db.session.scalar(select(Episode).where(Episode.public_id == public_id))
    if episode is None or episode.status == EPISODE_CANCELLED or episode.completed_at:
        abort(404)
    if episode.patient.purged_at is not None:
        abort(404)
    return episode


def _audit_view(patient_id: int, view: str) -> None:
    audit.record(
        db.session(),
        AUDIT_VIEW_PATIENT,
        actor=current_user,
        subject_type="patient",
        subject_id=patient_id,
        remote_addr=remote_addr(),
        detail={"view": view},
    )
