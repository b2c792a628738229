"""The patient's questionnaire, from the SMS link to "what happens next" (SPEC §8).

`/s/<token>` exchanges the token for the episode in the session cookie and redirects to a
clean URL. Then: the start page, the date-of-birth check when the clinic asks for it, one
question per page (one generic view for every item type), "Check your answers", submit,
and the confirmation. Every answer is saved as it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from limits import parse
from sqlalchemy import select

from ..config import Clinic
from ..config.loaded import state
from ..core import clock
from ..core.constants import OPT_OUT_WEB
from ..core.extensions import db, limiter, remote_addr
from ..core.i18n import language_name
from ..invitations.opt_outs import is_opted_out, record_opt_out
from ..models import Episode
from ..patient import links, responses
from ..questionnaire import Item, Questionnaire, evaluate
from ..questionnaire.answers import stored_answers
from ..questionnaire.forms import form_for, nhsuk_params, text_in
from ..questionnaire.frozen import serving, stored
from ..questionnaire.model import AnswerValue
from .fields import render_field

bp = Blueprint("patient", __name__, url_prefix="/s")

EPISODE_KEY = "patient_episode"
VERIFIED_KEY = "patient_verified"
LANGUAGE_KEY = "patient_language"
ASSISTED_KEY = "assisted_episode"  # set when a staff member is entering the answers
SENT_KEY = "patient_sent"  # [episode public id, when] of the answers this browser sent
# How long the browser that sent the answers keeps seeing the advice chosen by them (a
# patient may leave to phone a helpline and come back). Any other visit sees none of it.
ADVICE_SHOWN_FOR = timedelta(hours=1)
# Guessing links: counted per address only when a token is unknown (SPEC §9).
UNKNOWN_LINK_LIMIT = parse("10 per minute")


@dataclass
class Visit:
    """What every patient page needs: the episode, its questionnaire and its clinic."""

    episode: Episode
    questionnaire: Questionnaire
    clinic: Clinic | None
    language: str

    @property
    def hospital(self) -> str:
        return self.clinic.hospital if self.clinic else state().config.hospital

    def answers(self) -> dict[str, AnswerValue]:
        return stored_answers(db.session(), self.episode)


# --- the link ----------------------------------------------------------------------------


@bp.get("/<token>")
def open_link(token: str) -> ResponseReturnValue:
    address = remote_addr() or "unknown"
    if not limiter.limiter.test(UNKNOWN_LINK_LIMIT, "unknown-link", address):
        return _page("errors/link_limit.html", "error", 429)
    opened = links.open_link(db.session(), token, clock.now())
    if opened.state is links.LinkState.UNKNOWN:
        limiter.limiter.hit(UNKNOWN_LINK_LIMIT, "unknown-link", address)
        return _page("patient/unknown.html", "error", 404)
    if opened.state is links.LinkState.EXPIRED:
        return _page("patient/expired.html", "expired", 410)
    assert opened.episode is not None
    if session.get(EPISODE_KEY) != opened.episode.public_id:
        session.pop(VERIFIED_KEY, None)
    # The SMS link opened again: whoever holds the phone now may not be who answered.
    session.pop(SENT_KEY, None)
    session[EPISODE_KEY] = opened.episode.public_id
    if opened.state is links.LinkState.COMPLETE:
        g.visit = _visit(opened.episode)
        return done()
    return redirect(url_for("patient.start"))


@bp.before_request
def load_visit() -> ResponseReturnValue | None:
    if request.endpoint == "patient.open_link":
        return None
    public_id = session.get(EPISODE_KEY)
    episode = (
        db.session.scalar(select(Episode).where(Episode.public_id == public_id))
        if public_id
        else None
    )
    if episode is None:
        return _page("patient/unknown.html", "error", 404)
    g.visit = _visit(episode)
    now = clock.now()
    if episode.completed_at is not None and request.endpoint != "patient.done":
        return redirect(url_for("patient.done"))
    if episode.completed_at is None and links.state_of(episode, now) is links.LinkState.EXPIRED:
        return _page("patient/expired.html", "expired", 410)
    if links.is_locked(episode, now):
        return _page("patient/locked.html", "locked", 200)
    if _needs_date_of_birth() and request.endpoint not in _BEFORE_VERIFICATION:
        return redirect(url_for("patient.verify"))
    return None


_BEFORE_VERIFICATION = {"patient.start", "patient.verify", "patient.stop_texts", "patient.done"}


def _visit(episode: Episode) -> Visit:
    config = state().config
    clinic = config.clinics.get(episode.clinic_code or "")
    questionnaire = _questionnaire_for(episode)
    language = session.get(LANGUAGE_KEY) or episode.language or questionnaire.default_language
    if language not in questionnaire.languages:
        language = questionnaire.default_language
    g.language = language  # the app's own words follow the questionnaire's language
    return Visit(episode, questionnaire, clinic, language)


def _questionnaire_for(episode: Episode) -> Questionnaire:
    if episode.questionnaire_version is not None:
        frozen = stored(db.session(), episode.questionnaire_id, episode.questionnaire_version)
        if frozen is not None:
            return frozen
    current = state().questionnaires.questionnaires.get(episode.questionnaire_id)
    if current is None:
        # The file is gone or broken (its problems are logged at start-up).
        abort(500)
    return serving(db.session(), current)


def enter_as_staff(episode: Episode) -> None:
    """Assisted mode: the staff member has checked who they are talking to."""
    session[EPISODE_KEY] = episode.public_id
    session[VERIFIED_KEY] = episode.public_id
    session[ASSISTED_KEY] = episode.public_id


def _entered_by() -> int | None:
    """The staff user entering answers in assisted mode, if this is assisted mode."""
    visit: Visit = g.visit
    assisting = session.get(ASSISTED_KEY) == visit.episode.public_id
    return current_user.id if assisting and current_user.is_authenticated else None


def _needs_date_of_birth() -> bool:
    visit: Visit = g.visit
    verify = visit.clinic is not None and visit.clinic.verify_dob
    return verify and session.get(VERIFIED_KEY) != visit.episode.public_id


# --- start, stop texts, date of birth -------------------------------------------------------


@bp.route("/start", methods=["GET", "POST"])
def start() -> ResponseReturnValue:
    visit: Visit = g.visit
    if request.method == "POST":
        chosen = request.form.get("language")
        if chosen in visit.questionnaire.languages:
            session[LANGUAGE_KEY] = chosen
        return redirect(url_for("patient.resume"))
    return _render(
        "patient/start.html",
        "start",
        texts_stopped=is_opted_out(db.session(), visit.episode.patient.mobile),
        privacy_notice_url=state().config.settings.privacy_notice_url,
        language_choices=[
            {"value": code, "text": language_name(code)} for code in visit.questionnaire.languages
        ],
    )


@bp.post("/stop-texts")
def stop_texts() -> ResponseReturnValue:
    """Stop texts without replying (many senders cannot receive replies)."""
    visit: Visit = g.visit
    phone = visit.episode.patient.mobile
    if phone is not None:
        record_opt_out(db.session(), phone, source=OPT_OUT_WEB, now=clock.now())
        db.session.commit()
    return redirect(url_for("patient.start", stopped=1))


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> ResponseReturnValue:
    visit: Visit = g.visit
    if not _needs_date_of_birth():
        return redirect(url_for("patient.resume"))
    error = None
    if request.method == "POST":
        given = _date_from_form()
        if given is None:
            error = _("Enter your date of birth, for example 31 3 1980")
        elif links.check_date_of_birth(db.session(), visit.episode, given, clock.now()):
            session[VERIFIED_KEY] = visit.episode.public_id
            return redirect(url_for("patient.resume"))
        elif links.is_locked(visit.episode, clock.now()):
            return _render("patient/locked.html", "locked")
        else:
            # Never say which part was wrong (SPEC §9).
            error = _("The date of birth does not match our records. Check it and try again")
    status = 200 if error is None else 400
    return _render("patient/verify.html", "verify", status=status, error=error)


def _date_from_form() -> date | None:
    parts = [request.form.get(f"dob-{part}", "").strip() for part in ("day", "month", "year")]
    if not all(part.isdigit() for part in parts) or len(parts[2]) != 4:
        return None
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None


# --- questions ---------------------------------------------------------------------------


@bp.get("/resume")
def resume() -> ResponseReturnValue:
    """The first visible question without an answer, else "Check your answers"."""
    visit: Visit = g.visit
    answers = visit.answers()
    visible = _visible(visit, answers)
    for index, item in enumerate(visible):
        if item.asks and item.id not in answers:
            # Information pages just before it come first: they introduce the question.
            while index > 0 and not visible[index - 1].asks:
                index -= 1
            return redirect(url_for("patient.question", item_id=visible[index].id))
    return redirect(url_for("patient.check"))


@bp.route("/q/<item_id>", methods=["GET", "POST"])
def question(item_id: str) -> ResponseReturnValue:
    visit: Visit = g.visit
    answers = visit.answers()
    visible = _visible(visit, answers)
    item = next((i for i in visible if i.id == item_id), None)
    if item is None:
        return redirect(url_for("patient.resume"))
    if request.method == "POST":
        form = form_for(item, visit.language, formdata=request.form)
        if form.validate():
            responses.save_answer(
                db.session(),
                visit.questionnaire,
                visit.episode,
                item.id,
                form.answer(),
                now=clock.now(),
                entered_by=_entered_by(),
            )
            return redirect(_after(visit, item))
        status = 400
    else:
        form = form_for(item, visit.language, answer=answers.get(item.id))
        status = 200
    position = [i.id for i in visible if i.asks].index(item.id) + 1 if item.asks else None
    return _render(
        "patient/question.html",
        "question",
        status=status,
        item=item,
        form=form,
        field=render_field(form.answer_field.nhsuk_macro, nhsuk_params(form))
        if item.asks
        else None,
        position=position,
        # A questionnaire that branches cannot know its length until the end: a total that
        # grows as a need is flagged ("1 of 6", then "2 of 7") reads as a mistake.
        total=None
        if any(i.asks and i.show_if is not None for i in visit.questionnaire.items)
        else sum(1 for i in visible if i.asks),
        back=_previous(visible, item),
        quick_exit=item.flag is not None and item.flag.domain == "safety",
        changing=request.args.get("change") == "1",
    )


def _visible(visit: Visit, answers: dict[str, AnswerValue]) -> list[Item]:
    shown = set(evaluate(visit.questionnaire, answers).visible)
    return [item for item in visit.questionnaire.items if item.id in shown]


def _after(visit: Visit, item: Item) -> str:
    """The next page: the next visible question; when changing an answer from the summary,
    the first question still unanswered (a change can reveal one), else the summary."""
    if request.args.get("change") == "1":
        return url_for("patient.resume")
    visible = _visible(visit, visit.answers())
    ids = [i.id for i in visible]
    following = visible[ids.index(item.id) + 1 :]
    if following:
        return url_for("patient.question", item_id=following[0].id)
    return url_for("patient.check")


def _previous(visible: list[Item], item: Item) -> str:
    ids = [i.id for i in visible]
    index = ids.index(item.id)
    if index == 0:
        return url_for("patient.start")
    return url_for("patient.question", item_id=ids[index - 1])


# --- check, submit, done -------------------------------------------------------------------


@bp.route("/check", methods=["GET", "POST"])
def check() -> ResponseReturnValue:
    visit: Visit = g.visit
    answers = visit.answers()
    visible = _visible(visit, answers)
    missing = [i for i in visible if i.required and i.id not in answers]
    if missing:
        return redirect(url_for("patient.question", item_id=missing[0].id))
    if request.method == "POST":
        responses.submit(
            db.session(),
            visit.questionnaire,
            visit.episode,
            language=visit.language,
            now=clock.now(),
            submitted_by=_entered_by(),
        )
        session[SENT_KEY] = [visit.episode.public_id, clock.now().isoformat()]
        return redirect(url_for("patient.done"))
    rows = [
        {
            "item": item,
            "answer": _answer_words(item, answers.get(item.id), visit.language),
        }
        for item in visible
        if item.asks
    ]
    return _render("patient/check.html", "check", rows=rows)


def _answer_words(item: Item, value: AnswerValue | None, language: str) -> list[str]:
    if value is None:
        return [_("Not answered")]
    values = value if isinstance(value, list) else [value]
    labels = {answer.value: text_in(answer.label, language) for answer in item.answers}
    return [labels.get(v, v) for v in values]


@bp.get("/done")
def done() -> ResponseReturnValue:
    """The confirmation. It never shows the answers: the phone may be someone else's.

    What happens next and the advice for each flagged domain depend on the answers, so
    they would tell whoever picks the phone up later what was disclosed: only the browser
    that sent the answers sees them, for `ADVICE_SHOWN_FOR`. Every other visit (the SMS
    link again, another device) sees that the answers were sent, and nothing more.
    """
    visit: Visit = g.visit
    if visit.episode.completed_at is None:
        return redirect(url_for("patient.resume"))
    if not _sent_by_this_browser(visit.episode):
        return _render("patient/complete.html", "complete", revisit=True)
    settings = state().config.settings
    flagged = _flagged_domains(visit.episode)
    contact_wanted = visit.episode.wants_help_at is not None
    signposting = [
        text_in(_texts(settings.signposting[domain]), visit.language)
        for domain in ("safety", *sorted(flagged - {"safety"}))
        if domain in flagged and domain in settings.signposting
    ]
    return _render(
        "patient/complete.html",
        "complete",
        revisit=False,
        contact_wanted=contact_wanted,
        contact_promise=text_in(_texts(settings.contact_promise), visit.language)
        if settings.contact_promise
        else None,
        signposting=signposting,
    )


def _sent_by_this_browser(episode: Episode) -> bool:
    sent = session.get(SENT_KEY)
    if not (isinstance(sent, list) and len(sent) == 2 and sent[0] == episode.public_id):
        return False
    try:
        sent_at = datetime.fromisoformat(sent[1])
    except (TypeError, ValueError):
        return False
    return clock.now() - sent_at < ADVICE_SHOWN_FOR


def _flagged_domains(episode: Episode) -> set[str]:
    response = episode.response
    return {flag.domain for flag in response.flags} if response is not None else set()


def _texts(value: object) -> dict[str, str]:
    return value if isinstance(value, dict) else {"en": str(value)}


# --- rendering ---------------------------------------------------------------------------


def _render(
    template: str, kind: str, *, status: int = 200, **context: object
) -> ResponseReturnValue:
    visit: Visit = g.visit
    body = render_template(
        template,
        page_kind=kind,
        visit=visit,
        assisting=_entered_by() is not None,
        hospital=visit.hospital,
        language=visit.language,
        text=lambda texts: text_in(texts, visit.language),
        **context,
    )
    return body, status


def _page(template: str, kind: str, status: int) -> ResponseReturnValue:
    """Pages that reveal nothing about any patient: unknown, expired, too many tries."""
    return render_template(template, page_kind=kind, hospital=state().config.hospital), status
