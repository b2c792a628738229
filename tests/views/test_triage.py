"""The prescriber's pages through HTTP (SPEC §8): the queue, the task and its actions, the
call lists; every role boundary, every refusal, and the audit of every patient shown."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening.core import clock
from screening.core import constants as c
from screening.models import AuditEvent, ContactAttempt, Episode, Referral, TriageTask
from screening.triage import calls
from screening.triage.service_levels import today
from tests.factories import make_invited_episode, make_task, make_user
from tests.pages import csrf_token, page, text_of

PASSWORD = "correct horse battery"


def sign_in(
    app: Flask,
    session: Session,
    email: str,
    role: str = "prescriber",
    services: tuple[str, ...] = (),
) -> FlaskClient:
    make_user(session, email=email, role=role, password=PASSWORD, services=services)
    client = app.test_client()
    token = csrf_token(page(client.get("/login")))
    response = client.post(
        "/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    # Staff land on home (302); a partner is sent straight to their referrals (303).
    assert response.status_code == (303 if role == "partner" else 302), response.get_data(
        as_text=True
    )
    return client


@pytest.fixture
def prescriber(app: Flask, session: Session) -> FlaskClient:
    return sign_in(app, session, "sp@example.nhs.uk")


def staff_page(client: FlaskClient, path: str, kind: str, status: int = 200):
    """A staff page: its status, its `data-page`, and every form with an action and a CSRF
    token (STYLE: page-level tests through one helper)."""
    html = page(client.get(path), status)
    main = html.find("main")
    assert main is not None and main.get("data-page") == kind, main and main.get("data-page")
    for form in html.find_all("form"):
        assert form.get("action"), f"a form without an action on {path}"
        if form.get("method", "get").lower() == "post":
            assert form.find("input", attrs={"name": "csrf_token"}), (
                f"a POST form without CSRF on {path}"
            )
    return html


def post(client: FlaskClient, path: str, token_page: str, **fields: str):
    token = csrf_token(page(client.get(token_page)))
    return client.post(path, data={"csrf_token": token, **fields})


# --- the queue ---------------------------------------------------------------------------


def test_the_queue_lists_active_tasks_urgent_first_with_names_and_nhs_numbers(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    routine = make_task(session, nhs_number="9990000018")
    urgent = make_task(session, nhs_number="9990000026", feel_unsafe="yes")
    declined = make_task(session, nhs_number="9990000034", missed_meals="yes", wants_help="no")
    html = staff_page(prescriber, "/triage", "queue")
    rows = [int(row["data-task-id"]) for row in html.select("[data-task-id]")]
    assert rows == [urgent.id, routine.id]  # the declined task is out of the active queue
    row = html.select_one(f'[data-task-id="{urgent.id}"]')
    assert row.find("a", href=f"/triage/{urgent.id}")
    assert "999 000 0026" in text_of(row) and "Alex Example" in text_of(row)
    # Filters with counts, and the declined ones one click away.
    assert "Declined contact (1)" in text_of(html)
    declined_page = staff_page(prescriber, "/triage?status=declined", "queue")
    assert [int(r["data-task-id"]) for r in declined_page.select("[data-task-id]")] == [declined.id]
    # Every patient shown is an audit event.
    shown = session.scalars(
        select(AuditEvent.patient_id).where(AuditEvent.action == c.AUDIT_VIEW_PATIENT)
    ).all()
    assert set(shown) == {
        routine.episode.patient_id,
        urgent.episode.patient_id,
        declined.episode.patient_id,
    }


def test_filters_narrow_the_queue_and_a_bad_filter_says_which(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    food = make_task(session, nhs_number="9990000018", ends_meet="no", missed_meals="yes")
    make_task(session, nhs_number="9990000026")
    html = staff_page(prescriber, "/triage?domain=food", "queue")
    assert [int(r["data-task-id"]) for r in html.select("[data-task-id]")] == [food.id]
    mine = staff_page(prescriber, "/triage?assigned=me", "queue")
    assert mine.select("[data-task-id]") == [] and "My caseload" in text_of(mine)
    bad = page(prescriber.get("/triage?priority=whenever"), 400)
    assert "'whenever' is not a priority the queue knows" in text_of(bad)


def test_the_queue_pages_through_many_tasks(
    app: Flask, session: Session, prescriber: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from screening.triage import queue

    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    ids = [make_task(session, nhs_number=n).id for n in ("9990000018", "9990000026", "9990000034")]
    first = staff_page(prescriber, "/triage", "queue")
    assert [int(r["data-task-id"]) for r in first.select("[data-task-id]")] == ids[:2]
    assert first.find("a", href="/triage?page=2")
    second = staff_page(prescriber, "/triage?page=2", "queue")
    assert [int(r["data-task-id"]) for r in second.select("[data-task-id]")] == ids[2:]


# --- the task page and its actions -----------------------------------------------------------


def test_the_task_page_shows_the_patient_and_the_answers_with_flags(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    task = make_task(session, missed_meals="decline", stable_housing="no")
    html = staff_page(prescriber, f"/triage/{task.id}", "task")
    text = text_of(html)
    born = date(1960, 5, 17)
    years = today().year - born.year - ((today().month, today().day) < (born.month, born.day))
    assert "999 000 0018" in text and f"17 May 1960 ({years} years old)" in text
    # The mobile as people write it, a tap away on a work phone; the clinic with its hospital.
    assert html.find("a", href="tel:+447400100001").get_text() == "07400 100001"
    assert "Cardiology outpatients, Newham University Hospital" in text
    assert "I don't want to answer" in text
    # The needs first, as tags named for the need, then beside the answer that raised each.
    glance = html.select_one("dl")
    needs = glance.find("dt", string=lambda t: t and "Needs" in t).find_next("dd")
    assert [tag.get_text(strip=True) for tag in needs.select(".nhsuk-tag")] == ["Money", "Housing"]
    assert "Wants help" in text_of(glance) and "Last contact" in text_of(glance)
    answers = html.select_one(".app-summary-list--answers")
    rows = {
        row.dt.get_text(" ", strip=True): row.dd.get_text(" ", strip=True)
        for row in answers.select(".nhsuk-summary-list__row")
    }
    assert rows["Do you ever have to miss a meal because you don't have food?"] == (
        "I don't want to answer"
    )
    housing = next(q for q in rows if "stable housing" in q)
    assert rows[housing] == "No Need raised: Housing"
    view = session.scalars(
        select(AuditEvent).where(AuditEvent.action == c.AUDIT_VIEW_PATIENT)
    ).one()
    assert view.patient_id == task.episode.patient_id and view.subject_id == str(task.id)


def test_a_day_of_work_on_one_task(app: Flask, session: Session, prescriber: FlaskClient) -> None:
    task = make_task(session, missed_meals="yes")
    here = f"/triage/{task.id}"
    # One instant for every step: the history must still keep the order they were done in.
    with clock.frozen_at(clock.now() + timedelta(minutes=1)):
        assert post(prescriber, f"{here}/claim", here).status_code == 303
        response = post(
            prescriber,
            f"{here}/contacts",
            here,
            method="phone",
            outcome="reached",
            note="Spoke to her",
        )
        assert response.status_code == 303 and response.headers["Location"] == here
        assert post(prescriber, f"{here}/sessions", here, minutes="20").status_code == 303
        assert (
            post(
                prescriber, f"{here}/referrals", here, service="food-bank", domain="food"
            ).status_code
            == 303
        )
        referral = session.scalars(select(Referral)).one()
        assert (
            post(prescriber, f"{here}/referrals/{referral.id}", here, status="accepted").status_code
            == 303
        )
        assert post(prescriber, f"{here}/notes", here, text="Voucher given").status_code == 303
        session.expire_all()
        version = session.get(TriageTask, task.id).version
        assert (
            post(
                prescriber, f"{here}/close", here, outcome="referred", version=str(version)
            ).status_code
            == 303
        )
    session.expire_all()
    done = session.get(TriageTask, task.id)
    assert (done.status, done.outcome) == ("closed", "referred")
    history = [
        item.get_text(" ", strip=True)
        for item in staff_page(prescriber, here, "task").select("h2 ~ ol li")
    ]
    steps = (
        "Claimed the task",
        "Phone: Reached the patient",
        "Session with the patient, 20 minutes",
        "Referred to Local food bank (by referral)",
        "Referral to Local food bank (by referral): accepted",
        "Voucher given",
        "Closed: Referred on",
    )
    # In the order they were done, though the test's clock put them all in one minute.
    found = [next(i for i, line in enumerate(history) if step in line) for step in steps]
    assert found == sorted(found), history


@pytest.mark.parametrize(
    ("action", "fields", "status", "message"),
    [
        ("close", {"outcome": "sorted"}, 400, "Select how the task ended"),
        ("close", {"outcome": "referred"}, 400, "Record the referral before closing"),
        ("referrals", {"service": "astrology"}, 400, "Select the service"),
        ("contacts", {"method": "phone", "outcome": "maybe"}, 400, "Select what happened"),
        ("sessions", {"minutes": "-5"}, 400, "in minutes"),
        ("notes", {"text": ""}, 400, "Enter the note"),
        ("assign", {"user_id": "999"}, 400, "Select a social prescriber"),
    ],
)
def test_bad_input_shows_the_task_page_with_an_error_summary_and_changes_nothing(
    app: Flask, session: Session, prescriber: FlaskClient, action, fields, status, message
) -> None:
    task = make_task(session)
    here = f"/triage/{task.id}"
    before = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action != c.AUDIT_VIEW_PATIENT)
    )
    response = post(prescriber, f"{here}/{action}", here, version=str(task.version), **fields)
    html = page(response, status)
    summary = html.select_one(".nhsuk-error-summary")
    assert summary is not None and message in text_of(summary)
    anchor = summary.find("a")["href"]
    assert html.select_one(anchor) is not None, f"the summary's link {anchor} leads nowhere"
    assert html.title.get_text().startswith("Error: ")
    session.expire_all()
    after = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action != c.AUDIT_VIEW_PATIENT)
    )
    assert after == before
    assert session.get(TriageTask, task.id).status == "open"


def test_a_claim_on_a_colleagues_task_is_refused_naming_them(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    task = make_task(session)
    here = f"/triage/{task.id}"
    colleague = sign_in(app, session, "colleague@example.nhs.uk")
    assert post(colleague, f"{here}/claim", here).status_code == 303
    refused = page(post(prescriber, f"{here}/claim", here), 409)
    assert "colleague@example.nhs.uk has held this task since" in text_of(refused)
    assert post(prescriber, f"{here}/claim", here, take_over="yes").status_code == 303


def test_a_stale_form_is_refused(app: Flask, session: Session, prescriber: FlaskClient) -> None:
    task = make_task(session)
    here = f"/triage/{task.id}"
    stale_version = str(task.version)
    colleague = sign_in(app, session, "colleague@example.nhs.uk")
    post(colleague, f"{here}/claim", here)
    refused = page(
        post(prescriber, f"{here}/close", here, outcome="not_needed", version=stale_version), 409
    )
    assert "colleague@example.nhs.uk changed this task" in text_of(refused)
    session.expire_all()
    assert session.get(TriageTask, task.id).status == "assigned"


def test_a_post_without_a_csrf_token_is_refused(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    task = make_task(session)
    response = prescriber.post(f"/triage/{task.id}/claim", data={})
    assert response.status_code == 400
    session.expire_all()
    assert session.get(TriageTask, task.id).status == "open"


def test_an_unknown_task_is_not_found(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    assert prescriber.get("/triage/424242").status_code == 404


# --- the call lists --------------------------------------------------------------------------


def test_to_call_lists_non_responders_and_those_without_a_mobile_with_their_reasons(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    soon = clock.now() + timedelta(days=1)
    later = clock.now() + timedelta(days=6)
    quiet, _ = make_invited_episode(session, nhs_number="9990000018", appointment_at=soon)
    make_invited_episode(session, nhs_number="9990000026", appointment_at=later)  # not yet
    no_mobile, _ = make_invited_episode(
        session, nhs_number="9990000034", mobile=None, appointment_at=later
    )
    no_mobile.status, no_mobile.needs_call_reason, no_mobile.invited_at = (
        "needs_call",
        "no_mobile",
        None,
    )
    session.commit()
    html = staff_page(prescriber, "/triage/to-call", "to-call")
    entries = html.select("[data-episode-id]")
    assert [int(e["data-episode-id"]) for e in entries] == [quiet.id, no_mobile.id]
    assert "No reply to the text" in text_of(entries[0]) and "999 000 0018" in text_of(entries[0])
    assert "No usable mobile" in text_of(entries[1])


def test_the_to_call_list_filters_by_reason_clinic_and_day_and_keeps_them_page_to_page(
    app: Flask, session: Session, prescriber: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tomorrow = clock.now() + timedelta(days=1)
    later = clock.now() + timedelta(days=6)
    quiet, _ = make_invited_episode(session, nhs_number="9990000018", appointment_at=tomorrow)
    other, _ = make_invited_episode(
        session, nhs_number="9990000026", appointment_at=tomorrow, clinic="CARD-RLH"
    )
    no_mobile, _ = make_invited_episode(
        session, nhs_number="9990000034", mobile=None, appointment_at=later
    )
    no_mobile.status, no_mobile.needs_call_reason = "needs_call", "no_mobile"
    session.commit()

    def listed(query: str) -> list[int]:
        html = staff_page(prescriber, f"/triage/to-call?{query}", "to-call")
        return [int(entry["data-episode-id"]) for entry in html.select("[data-episode-id]")]

    assert listed("reason=no_mobile") == [no_mobile.id]
    assert listed("reason=no_response") == [quiet.id, other.id]
    assert listed("clinic=CARD-RLH") == [other.id]
    day = later.astimezone(clock.LONDON).date()
    assert listed(f"date-day={day.day}&date-month={day.month}&date-year={day.year}") == [
        no_mobile.id
    ]
    html = staff_page(prescriber, "/triage/to-call?clinic=CARD-NUH", "to-call")
    reasons = {option["value"]: text_of(option) for option in html.select("#reason option")}
    assert reasons["no_response"] == "No reply to the text (1)"
    assert reasons["no_mobile"] == "No usable mobile (1)"
    # Pages keep the filters.
    monkeypatch.setattr(calls, "PAGE_SIZE", 1)
    first = staff_page(prescriber, "/triage/to-call?reason=no_response", "to-call")
    assert first.find("a", href="/triage/to-call?reason=no_response&page=2")
    assert listed("reason=no_response&page=2") == [other.id]
    refused = page(prescriber.get("/triage/to-call?reason=whenever"), 400)
    summary = refused.select_one(".nhsuk-error-summary")
    assert "Select a reason from the list" in text_of(summary)
    assert refused.select_one(summary.find("a")["href"]) is not None


def test_a_call_from_the_list_is_logged_and_enough_unanswered_calls_take_it_off(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    episode, _ = make_invited_episode(session, appointment_at=clock.now() + timedelta(days=1))
    path = f"/triage/to-call/{episode.id}/calls"
    form = staff_page(prescriber, path, "call")
    assert "Log a call to Alex Example" in text_of(form) and "999 000 0018" in text_of(form)
    refused = page(post(prescriber, path, "/triage/to-call", outcome="perhaps"), 400)
    summary = refused.select_one(".nhsuk-error-summary")
    assert "Select what happened" in text_of(summary)
    assert refused.select_one(summary.find("a")["href"]) is not None
    for _ in range(3):
        response = post(prescriber, path, "/triage/to-call", outcome="no_answer")
        assert response.status_code == 303
    calls = session.scalars(
        select(ContactAttempt).where(ContactAttempt.episode_id == episode.id)
    ).all()
    assert [call.outcome for call in calls] == ["no_answer"] * 3 and calls[0].task_id is None
    assert staff_page(prescriber, "/triage/to-call", "to-call").select("[data-episode-id]") == []


def test_the_clinic_day_shows_who_to_see_and_who_has_not_answered(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    day = (clock.now() + timedelta(days=3)).astimezone(clock.LONDON).replace(hour=10, minute=0)
    flagged = make_task(session, nhs_number="9990000018", appointment_at=day)
    waiting, _ = make_invited_episode(
        session, nhs_number="9990000026", appointment_at=day + timedelta(hours=1)
    )
    html = staff_page(prescriber, f"/triage/clinic-day?date={day.date().isoformat()}", "clinic-day")
    text = text_of(html)
    assert "Patients to see (1)" in text and "Not yet screened (1)" in text
    to_see = html.select_one(f'[data-episode-id="{flagged.episode_id}"]')
    assert to_see.find("a", href=f"/triage/{flagged.id}")
    assert "Needs: Money" in to_see.get_text(" ", strip=True)
    # Three days ahead: answering in clinic is offered on the day, not before.
    assert html.select_one(f'[data-episode-id="{waiting.id}"]').find("form") is None


def test_the_clinic_day_offers_the_questions_in_clinic_only_while_the_patient_is_there(
    app: Flask, session: Session
) -> None:
    day = (clock.now() + timedelta(days=3)).astimezone(clock.LONDON).replace(hour=10, minute=0)
    episode, _ = make_invited_episode(session, nhs_number="9990000026", appointment_at=day)

    def entry(at: timedelta) -> calls.ClinicDayEntry:
        [found] = calls.clinic_day(session, day.date(), now=day + at).not_screened
        assert found.episode_id == episode.id
        return found

    # On the day, from the morning until two hours after the appointment's start.
    assert entry(timedelta(hours=-2)).in_clinic and entry(timedelta(hours=1, minutes=59)).in_clinic
    assert not entry(timedelta(days=-1)).in_clinic  # the day before: not there yet
    assert not entry(timedelta(days=-1)).over
    gone = entry(calls.STILL_IN_CLINIC)
    assert not gone.in_clinic and gone.over  # phoned instead


# --- role boundaries -------------------------------------------------------------------------

ROUTES = [
    ("get", "/triage"),
    ("get", "/triage/to-call"),
    ("get", "/triage/to-call/{episode}/calls"),
    ("get", "/triage/clinic-day"),
    ("get", "/triage/{task}"),
    ("post", "/triage/{task}/claim"),
    ("post", "/triage/{task}/assign"),
    ("post", "/triage/{task}/contacts"),
    ("post", "/triage/{task}/sessions"),
    ("post", "/triage/{task}/referrals"),
    ("post", "/triage/{task}/referrals/1"),
    ("post", "/triage/{task}/notes"),
    ("post", "/triage/{task}/follow-up"),
    ("post", "/triage/{task}/close"),
    ("post", "/triage/{task}/reopen"),
    ("post", "/triage/to-call/{episode}/calls"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(("role", "expected"), [(None, 302), ("clinician", 403)])
def test_every_triage_route_keeps_out_anyone_without_the_role(
    app: Flask, session: Session, method: str, path: str, role: str | None, expected: int
) -> None:
    task = make_task(session)
    url = path.format(task=task.id, episode=task.episode_id)
    client = sign_in(app, session, "doc@example.nhs.uk", role) if role else app.test_client()
    if method == "get":
        response = client.get(url)
    else:
        token = csrf_token(page(client.get("/login" if role is None else "/")))
        data = {"csrf_token": token, "outcome": "reached", "method": "phone", "text": "x",
                "questionnaire": "ons4-wellbeing", "date": "2027-03-01"}  # fmt: skip
        response = client.post(url, data=data)
    assert response.status_code == expected
    if expected == 302:
        assert response.headers["Location"].startswith("/login")
    session.expire_all()
    assert session.get(TriageTask, task.id).status == "open"
    assert session.scalar(select(func.count()).select_from(ContactAttempt)) == 0
    assert session.scalar(select(func.count()).select_from(Episode)) == 1  # no follow-up
    shown = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == c.AUDIT_VIEW_PATIENT)
    )
    assert shown == 0


@pytest.mark.parametrize("role", ["prescriber", "admin"])
def test_prescribers_and_admins_reach_every_triage_page(
    app: Flask, session: Session, role: str
) -> None:
    task = make_task(session)
    client = sign_in(app, session, f"{role}@example.nhs.uk", role)
    for path, kind in (
        ("/triage", "queue"),
        ("/triage/to-call", "to-call"),
        ("/triage/clinic-day", "clinic-day"),
        (f"/triage/{task.id}", "task"),
    ):
        staff_page(client, path, kind)


def test_a_deceased_patients_episode_leaves_the_to_call_list(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    from screening.appointments.deaths import stop_everything_for

    episode, _ = make_invited_episode(session, appointment_at=clock.now() + timedelta(days=1))
    stop_everything_for(session, episode.patient)
    session.commit()
    assert session.get(Episode, episode.id).status == "cancelled"
    assert staff_page(prescriber, "/triage/to-call", "to-call").select("[data-episode-id]") == []


def test_the_staff_home_warns_when_urgent_tasks_are_not_mailed(
    app: Flask, session: Session, prescriber: FlaskClient
) -> None:
    home = text_of(page(prescriber.get("/")))
    assert "Urgent tasks are not being mailed" in home
    assert "SCREENING_SMTP_URL" not in home  # how to set it up is for admins
    admin = sign_in(app, session, "admin@example.nhs.uk", "admin")
    assert "SCREENING_SMTP_URL" in text_of(page(admin.get("/")))
