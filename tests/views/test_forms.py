"""One way to write a staff form (`views.forms`): every error of a form at once, each
linked from the error summary to its field, from the form's own checks or the domain's
refusal; a blank form ignores what another form sent; a template's typo fails."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from wtforms import StringField

from screening.core import clock
from screening.core.refusals import Conflict, Problem, Refused
from screening.triage.service_levels import today
from screening.views.forms import FilterForm, StaffForm
from tests.factories import make_task
from tests.pages import csrf_token, page, text_of
from tests.views.test_triage import post, sign_in


class ExampleForm(StaffForm):
    key = "example"
    name = StringField("Name")
    when = StringField("When", name="from")


def summary_of(html: BeautifulSoup) -> list[tuple[str, str | None]]:
    """The error summary's items: text, and where each link leads (it must lead somewhere)."""
    summary = html.select_one(".nhsuk-error-summary")
    assert summary is not None, "no error summary"
    items = []
    for item in summary.select("li"):
        link = item.find("a")
        if link is not None:
            assert html.select_one(link["href"]) is not None, f"{link['href']} leads nowhere"
        items.append((text_of(item), link["href"] if link else None))
    return items


# --- the pattern itself ----------------------------------------------------------------------


def test_a_refusal_lands_on_the_fields_it_names_in_the_forms_order(app: Flask) -> None:
    with app.test_request_context(method="POST", data={"name": "x", "from": "y"}):
        form = ExampleForm()
        assert (form.name.id, form.when.id) == ("example-name", "example-from")
        refused = Conflict.of(
            [Problem("from", "Enter a real date"), Problem("name", "Enter a name")]
        )
        form.refuse(refused)
        assert form.http_status == 409
        assert form.error_list == [
            {"text": "Enter a name", "href": "#example-name"},
            {"text": "Enter a real date", "href": "#example-from"},
        ]
        assert form.message_for("from") == {"text": "Enter a real date"}
        assert form.value("name") == "x"


def test_a_refusal_about_no_field_of_the_form_links_to_the_form(app: Flask) -> None:
    with app.test_request_context(method="POST"):
        form = ExampleForm()
        form.refuse(Refused("This task is closed"))
        form.refuse(Refused("Not here", field="somewhere_else"))
        assert form.error_list == [
            {"text": "This task is closed", "href": "#example"},
            {"text": "Not here", "href": "#example"},
        ]


def test_a_field_named_like_the_forms_own_attributes_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="rename the field http_status, value"):

        class Clashing(StaffForm):
            value = StringField("Value")
            http_status = StringField("Status")


def test_only_the_posted_form_is_read_and_its_values_are_text(app: Flask) -> None:
    with app.test_request_context(method="POST", json={"name": 5}):
        assert ExampleForm().value("name") == ""  # a JSON body is not a staff form
    with app.test_request_context(method="POST", data={"name": "5"}):
        assert ExampleForm().value("name") == "5"


def test_a_blank_form_ignores_what_the_request_sent(app: Flask) -> None:
    with app.test_request_context(method="POST", data={"name": "typed into another form"}):
        assert ExampleForm.blank().value("name") == ""
        assert ExampleForm().value("name") == "typed into another form"


def test_a_filter_form_reads_the_query_string_and_a_template_typo_fails(app: Flask) -> None:
    class Filters(FilterForm):
        clinic = StringField("Clinic")

    with app.test_request_context("/?clinic=CARD1"):
        assert Filters.blank().value("clinic") == ""
        form = Filters()
        assert form.read(lambda args: args["clinic"].lower()) == "card1"
        assert form.http_status == 200 and form.error_list == []
        with pytest.raises(KeyError, match="no field 'clinc'"):
            form.value("clinc")


def test_a_filter_form_puts_the_domains_refusal_on_its_fields(app: Flask) -> None:
    class Filters(FilterForm):
        clinic = StringField("Clinic")

    def parse(args: object) -> None:
        raise Refused.of([Problem("clinic", "No such clinic"), Problem("to", "Too late")])

    with app.test_request_context("/?clinic=NOPE"):
        form = Filters()
        assert form.read(parse) is None
        assert form.http_status == 400
        assert form.error_list == [
            {"text": "Too late"},  # no field of this form, and the form has no id: no link
            {"text": "No such clinic", "href": "#clinic"},
        ]


# --- every staff form shows every error at once ----------------------------------------------


@pytest.fixture
def admin(app: Flask, session: Session) -> FlaskClient:
    return sign_in(app, session, "admin@example.nhs.uk", "admin")


def test_a_new_account_with_three_mistakes_is_told_all_three(admin: FlaskClient) -> None:
    html = page(
        post(admin, "/admin/users", "/admin/users", email="", role="wizard", password="short"),
        400,
    )
    assert summary_of(html) == [
        ("Enter the person's email address", "#new-email"),
        ("Select a role", "#new-role"),
        ("A password needs at least 12 characters", "#new-password"),
    ]
    assert html.select_one("#new-email").find_parent(class_="nhsuk-form-group--error")


@pytest.mark.parametrize(
    ("action", "fields", "expected"),
    [
        (
            "contacts",
            {"method": "carrier_pigeon", "outcome": "", "note": "x" * 5001},
            [
                ("Select how you contacted the patient", "#contacts-method"),
                ("Select what happened", "#contacts-outcome"),
                ("The note must be 5000 characters or fewer", "#contacts-note"),
            ],
        ),
        (
            "referrals",
            {"service": "other", "other_name": " ", "domain": "astrology"},
            [
                ("Enter the name of the service you referred to", "#referrals-other_name"),
                ("Select a need from the list, or none", "#referrals-domain"),
            ],
        ),
        (
            "sessions",
            {"minutes": "0", "note": "x" * 5001},
            [
                ("Enter how long the session was, in minutes, from 1 to 600", "#sessions-minutes"),
                ("The note must be 5000 characters or fewer", "#sessions-note"),
            ],
        ),
        (
            "follow-up",
            {"questionnaire": "nope", "date-day": "1", "date-month": "1", "date-year": "2020"},
            [
                ("Select a questionnaire to send", "#follow-up-questionnaire"),
                ("The date must be today or later", "#follow-up-date-day"),
            ],
        ),
    ],
)
def test_a_task_action_with_several_mistakes_is_told_them_all_and_keeps_what_was_typed(
    app: Flask, session: Session, action: str, fields: dict[str, str], expected: list
) -> None:
    task = make_task(session)
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    here = f"/triage/{task.id}"
    html = page(post(prescriber, f"{here}/{action}", here, **fields), 400)
    assert summary_of(html) == expected
    typed = {name: value for name, value in fields.items() if name in ("note", "other_name")}
    for name, value in typed.items():
        field = html.select_one(f"#{action}-{name}")
        shown = field.get_text() if field.name == "textarea" else field.get("value", "")
        assert shown == value
    # The other forms on the page are blank: nothing typed leaks into them.
    assert html.select_one("#notes-text").get_text() == ""


def test_the_report_names_every_bad_filter(app: Flask, session: Session) -> None:
    clinician = sign_in(app, session, "doc@example.nhs.uk", "clinician")
    html = page(clinician.get("/reports/funnel?clinic=NOPE&from=soon&to=later"), 400)
    assert [href for _, href in summary_of(html)] == ["#clinic", "#from-day", "#to-day"]
    download = page(clinician.get("/reports/funnel.csv?table=everything&from=soon"), 400)
    assert [href for _, href in summary_of(download)] == ["#from-day", None]


def test_a_clinic_day_that_is_not_a_day_is_asked_for_again(app: Flask, session: Session) -> None:
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    html = page(prescriber.get("/triage/clinic-day?date-day=31&date-month=2&date-year=2026"), 400)
    assert summary_of(html) == [("Enter a real date", "#date-day")]
    typed = [html.select_one(f"#date-{part}")["value"] for part in ("day", "month", "year")]
    assert typed == ["31", "2", "2026"]
    assert html.title.get_text().startswith("Error: ")
    assert html.select("[data-episode-id]") == []


def test_a_refusal_on_a_form_a_colleague_took_off_the_page_links_to_the_top(
    app: Flask, session: Session
) -> None:
    task = make_task(session)
    here = f"/triage/{task.id}"
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    token = csrf_token(page(prescriber.get(here)))  # the page as it was drawn
    colleague = sign_in(app, session, "colleague@example.nhs.uk")
    post(colleague, f"{here}/close", here, outcome="not_needed", version=str(task.version))
    response = prescriber.post(
        f"{here}/notes", data={"csrf_token": token, "text": "Rang back, all sorted"}
    )
    html = page(response, 409)
    assert html.select_one("#notes") is None  # a closed task draws no note form
    [(text, href)] = summary_of(html)
    assert "closed" in text and href == "#task-summary"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("sessions", {"minutes": "²"}),
        ("sessions", {"minutes": "9" * 5000}),
        ("assign", {"user_id": "²", "version": "1"}),
        ("assign", {"user_id": "9" * 5000, "version": "1"}),
        ("close", {"outcome": "not_needed", "version": "²"}),
    ],
)
def test_numbers_that_are_not_whole_numbers_are_refused_not_a_server_error(
    app: Flask, session: Session, path: str, fields: dict[str, str]
) -> None:
    task = make_task(session)
    here = f"/triage/{task.id}"
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    html = page(post(prescriber, f"{here}/{path}", here, **fields), 400)
    assert summary_of(html)


def test_a_page_number_that_is_not_one_is_refused_on_every_list(
    app: Flask, session: Session, admin: FlaskClient
) -> None:
    for path, shown in [
        ("/triage?page=²", "'²'"),
        ("/triage/to-call?page=0", "'0'"),
        ("/admin/audit?page=" + "9" * 5000, "'999"),
    ]:
        text = text_of(page(admin.get(path), 400))
        assert "There is a problem" in text and shown in text and "is not a page number" in text


def test_the_report_page_itself_ignores_a_download_links_table(
    app: Flask, session: Session
) -> None:
    clinician = sign_in(app, session, "doc@example.nhs.uk", "clinician")
    assert clinician.get("/reports/funnel?table=bogus").status_code == 200


def test_a_date_typed_in_three_boxes_filters_as_the_iso_parameter_does(
    app: Flask, session: Session
) -> None:
    when = datetime.combine(today() + timedelta(days=3), time(10), tzinfo=clock.LONDON)
    task = make_task(session, appointment_at=when)
    make_task(session, nhs_number="9990000026")
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    day = when.date()
    boxes = f"appointment-day={day.day}&appointment-month={day.month}&appointment-year={day.year}"
    for query in (f"appointment={day.isoformat()}", boxes):
        html = page(prescriber.get(f"/triage?{query}"))
        assert [int(row["data-task-id"]) for row in html.select("[data-task-id]")] == [task.id]
        shown = [html.select_one(f"#appointment-{part}")["value"] for part in ("day", "month")]
        assert shown == [str(day.day), str(day.month)]
    clinic_day = page(prescriber.get(f"/triage/clinic-day?{boxes.replace('appointment', 'date')}"))
    assert day.strftime("%-d %B %Y") in clinic_day.find("h1").get_text()
