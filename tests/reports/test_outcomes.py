"""What difference it made (SPEC §7 `helped` and `outcomes`, §13): the funnel's helped
stage, what the services said of the referrals (counts, reasons, overdue in working days,
the median wait for an answer), wellbeing before and after support with its t interval,
the filters, disclosure control, the CSV table and the page, on SQLite and PostgreSQL.

Referrals are written field by field, as `screening.referrals.answers` leaves them: each
status with the time it was first reached, `helped_at` on the episode the first time a
service says it helped."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from bs4 import Tag
from flask import Flask
from sqlalchemy.orm import Session

from screening.appointments.clinics import sync_clinics
from screening.config.loaded import state
from screening.core import clock
from screening.core import constants as c
from screening.models import Answer, Episode, Referral, TriageTask
from screening.reports import Filters, build_report
from screening.reports.check import differences
from screening.reports.exports import csv_table
from tests.pages import text_of
from tests.views.test_triage import sign_in, staff_page

from .test_funnel import add_episode

# Monday 7 September 2026, mid-morning in London: Monday 31 August was a bank holiday.
TODAY = datetime(2026, 9, 7, 10, 0, tzinfo=clock.LONDON)


def london(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=clock.LONDON)


def task_of(session: Session, *, clinic: str = "CARD-NUH", **episode: object) -> TriageTask:
    made = add_episode(session, reached="wants_help", clinic=clinic, **episode)
    return session.query(TriageTask).filter_by(episode_id=made.id).one()


def referral(
    session: Session,
    task: TriageTask,
    service: str,
    made: datetime,
    *answers: tuple[str, datetime, str | None],
) -> Referral:
    """A referral made at `made`, then answered in turn: (status, when, reason or outcome)."""
    referred = Referral(task_id=task.id, service_id=service, referred_at=made)
    session.add(referred)
    episode = session.get(Episode, task.episode_id)
    episode.referred_at = episode.referred_at or made
    for status, at, detail in answers:
        referred.status = status
        setattr(referred, f"{status}_at", at)
        if status == c.REFERRAL_DECLINED:
            referred.reason = detail
        if status == c.REFERRAL_COMPLETED:
            referred.outcome = detail
            if detail in c.HELPED_OUTCOMES and episode.helped_at is None:
                episode.helped_at = at
    session.flush()
    return referred


def accepted(day: date) -> tuple[str, datetime, None]:
    return (c.REFERRAL_ACCEPTED, london(day), None)


def declined(day: date, reason: str) -> tuple[str, datetime, str]:
    return (c.REFERRAL_DECLINED, london(day), reason)


def completed(day: date, outcome: str) -> tuple[str, datetime, str]:
    return (c.REFERRAL_COMPLETED, london(day), outcome)


def report_of(session: Session, suppress: bool = False, **filters: object) -> dict:
    with clock.frozen_at(TODAY):
        return build_report(session, state(), Filters(**filters), suppress=suppress)


def stage(report: dict, name: str) -> int | None:
    return next(s["count"] for s in report["stages"] if s["stage"] == name)


# --- the helped stage ----------------------------------------------------------------------


def test_helped_counts_each_episode_once_whatever_its_helpful_referrals(session: Session) -> None:
    sync_clinics(session, state().config)
    monday = date(2026, 8, 3)
    twice = task_of(session)  # two services helped: one patient helped
    referral(session, twice, "citizens-advice", london(monday), accepted(monday),
             completed(date(2026, 8, 10), c.REFERRAL_HELPED))  # fmt: skip
    referral(session, twice, "food-bank", london(monday), accepted(monday),
             completed(date(2026, 8, 12), c.REFERRAL_PARTLY_HELPED))  # fmt: skip
    partly = task_of(session)
    referral(session, partly, "food-bank", london(monday), accepted(monday),
             completed(date(2026, 8, 12), c.REFERRAL_PARTLY_HELPED))  # fmt: skip
    not_helped = task_of(session)
    referral(session, not_helped, "citizens-advice", london(monday), accepted(monday),
             completed(date(2026, 8, 10), c.REFERRAL_NOT_HELPED))  # fmt: skip
    waiting = task_of(session)
    referral(session, waiting, "citizens-advice", london(monday), accepted(monday))
    session.commit()

    report = report_of(session)
    assert [s["stage"] for s in report["stages"]][-2:] == ["referred", "helped"]
    helped = report["stages"][-1]
    assert helped == {"stage": "helped", "count": 2, "pct_of_previous": 50.0,
                      "pct_of_invited": 50.0}  # fmt: skip
    assert report["by_clinic"][0]["stages"][-1]["count"] == 2
    # The referrals themselves: three completions said they helped, one did not.
    assert report["referrals_all_services"]["helped"] == 3
    assert [g["stages"][-1]["stage"] for g in report["groups"]["sex"]] == ["helped"]
    stages = list(csv.DictReader(io.StringIO(csv_table(report, "stages"))))
    assert stages[-1] == {"stage": "helped", "count": "2", "pct_of_previous": "50.0",
                          "pct_of_invited": "50.0"}  # fmt: skip
    assert differences(session) == []  # report check: what is kept agrees with the referrals


def test_report_check_names_a_helped_stage_its_referrals_do_not_bear_out(
    session: Session,
) -> None:
    sync_clinics(session, state().config)
    task = task_of(session)
    referral(session, task, "citizens-advice", london(date(2026, 8, 3)))
    session.get(Episode, task.episode_id).helped_at = london(date(2026, 8, 4))
    session.commit()
    [difference] = differences(session)
    assert (difference.clinic_code, difference.stage, difference.kept, difference.recomputed) == (
        "CARD-NUH", "helped, from its referrals", 1, 0,
    )  # fmt: skip
    assert "CARD-NUH helped, from its referrals: the report counts 1" in str(difference)


# --- what the services said ----------------------------------------------------------------


def build_referrals(session: Session) -> None:
    """Nine referrals to two services, answered in every way, around the August bank
    holiday (Monday 31 August 2026)."""
    sync_clinics(session, state().config)
    aug = lambda day: date(2026, 8, day)  # noqa: E731
    sep = lambda day: date(2026, 9, day)  # noqa: E731
    one, two, three = task_of(session), task_of(session), task_of(session)
    # Citizens Advice: two waiting, three accepted and completed, one declined.
    # Friday 21 August: ten working days on (the bank holiday left out) is Monday 7 September.
    referral(session, one, "citizens-advice", london(aug(21)))
    # Monday 24 August: nine working days by 7 September, so not yet overdue.
    referral(session, two, "citizens-advice", london(aug(24)))
    referral(session, one, "citizens-advice", london(aug(3)), accepted(aug(5)),  # 2 days
             completed(aug(20), c.REFERRAL_HELPED))  # fmt: skip
    referral(session, two, "citizens-advice", london(aug(3)), accepted(aug(10)),  # 5 days
             completed(aug(20), c.REFERRAL_PARTLY_HELPED))  # fmt: skip
    referral(session, three, "citizens-advice", london(aug(3)), accepted(aug(4)),  # 1 day
             completed(aug(20), c.REFERRAL_NOT_HELPED))  # fmt: skip
    # Friday to Monday: one working day.
    referral(session, three, "citizens-advice", london(aug(7)), declined(aug(10), "no_capacity"))
    # The food bank: declined across the bank holiday, Thursday 27 August to Wednesday
    # 2 September (Friday, Tuesday, Wednesday: three working days); accepted the next day
    # and declined later (in both counts; the wait is to the first answer); and one
    # completed before the times were kept (a status without a time, in no wait).
    referral(session, one, "food-bank", london(aug(27)), declined(sep(2), "not_eligible"))
    referral(session, two, "food-bank", london(aug(3)), accepted(aug(4)),
             declined(aug(12), "patient_declined"))  # fmt: skip
    session.add(Referral(task_id=three.id, service_id="food-bank", referred_at=london(aug(3)),
                         status=c.REFERRAL_COMPLETED))  # fmt: skip
    session.commit()


NO_REASONS = dict.fromkeys(c.DECLINE_REASONS, 0)
CITIZENS_ADVICE = {
    "service": "citizens-advice", "made": 6, "accepted": 3, "declined": 1,
    "declined_reasons": {**NO_REASONS, "no_capacity": 1}, "completed": 3, "helped": 2,
    "overdue": 1,
    # Waits of 1, 1, 2 and 5 working days: the mean of the middle two.
    "median_days_to_response": 1.5,
}  # fmt: skip
FOOD_BANK = {
    "service": "food-bank", "made": 3, "accepted": 2, "declined": 2,
    "declined_reasons": {**NO_REASONS, "not_eligible": 1, "patient_declined": 1},
    "completed": 1, "helped": 0, "overdue": 0,
    "median_days_to_response": 2.0,  # waits of 1 and 3 working days
}  # fmt: skip


def test_referral_outcomes_count_every_answer_by_service(session: Session) -> None:
    build_referrals(session)
    referrals = report_of(session)["outcomes"]["referrals"]
    assert referrals == {
        "made": 9, "accepted": 5, "declined": 3, "completed": 4, "overdue": 1,
        "by_service": [CITIZENS_ADVICE, FOOD_BANK],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("now", "overdue"),
    [
        # Friday 4 September: nine working days after Friday 21 August (not 14 calendar days).
        (datetime(2026, 9, 4, 16, 0), 0),
        (datetime(2026, 9, 6, 23, 59), 0),  # the weekend adds none
        (datetime(2026, 9, 7, 0, 1), 1),  # the tenth working day, London time
        # By Tuesday 8 September Monday 24 August's is overdue too (ten working days).
        (datetime(2026, 9, 8, 9, 0), 2),
    ],
    ids=["friday", "sunday-night", "monday-morning", "tuesday"],
)
def test_a_referral_is_overdue_ten_working_days_after_it_was_made(
    session: Session, now: datetime, overdue: int
) -> None:
    build_referrals(session)
    with clock.frozen_at(now):
        referrals = build_report(session, state(), Filters())["outcomes"]["referrals"]
    assert referrals["overdue"] == referrals["by_service"][0]["overdue"] == overdue


def test_a_referral_made_late_in_the_london_evening_counts_from_the_london_day(
    session: Session,
) -> None:
    sync_clinics(session, state().config)
    task = task_of(session)
    # 23:30 UTC on Thursday 20 August is 00:30 on Friday 21 August in London.
    referral(session, task, "citizens-advice", datetime(2026, 8, 20, 23, 30, tzinfo=UTC),
             declined(date(2026, 8, 24), "other"))  # fmt: skip
    referral(session, task, "food-bank", datetime(2026, 8, 20, 23, 30, tzinfo=UTC))
    session.commit()
    with clock.frozen_at(datetime(2026, 9, 4, 12, 0)):  # nine working days after the 21st
        referrals = build_report(session, state(), Filters())["outcomes"]["referrals"]
    assert referrals["overdue"] == 0
    assert referrals["by_service"][0]["median_days_to_response"] == 1  # Friday to Monday


def test_outcomes_follow_the_reports_filters(session: Session) -> None:
    build_referrals(session)
    elsewhere = task_of(session, clinic="CARD-RLH", appointment_at=datetime(2026, 7, 1, tzinfo=UTC))
    referral(session, elsewhere, "housing-options", london(date(2026, 8, 3)))
    session.commit()
    assert report_of(session)["outcomes"]["referrals"]["made"] == 10
    nuh = report_of(session, clinic="CARD-NUH")["outcomes"]["referrals"]
    assert nuh["made"] == 9 and [s["service"] for s in nuh["by_service"]] == [
        "citizens-advice", "food-bank",
    ]  # fmt: skip
    rlh = report_of(session, clinic="CARD-RLH")["outcomes"]["referrals"]
    assert rlh["made"] == rlh["overdue"] == 1 and rlh["by_service"][0]["service"] == (
        "housing-options"
    )
    july = report_of(session, date_from=date(2026, 7, 1), date_to=date(2026, 7, 1))
    assert july["outcomes"]["referrals"]["made"] == 1
    simple = report_of(session, questionnaire="simple-question")["outcomes"]["referrals"]
    assert simple == {"made": 0, "accepted": 0, "declined": 0, "completed": 0, "overdue": 0,
                      "by_service": []}  # fmt: skip


def test_for_publication_every_outcome_count_is_under_the_rule(session: Session) -> None:
    build_referrals(session)
    referrals = report_of(session, suppress=True)["outcomes"]["referrals"]
    # 9 is published as 10; every count from 1 to 7 is suppressed; 0 stays 0.
    assert {k: v for k, v in referrals.items() if k != "by_service"} == {
        "made": 10, "accepted": None, "declined": None, "completed": None, "overdue": None,
    }  # fmt: skip
    food = referrals["by_service"][1]
    assert food["declined_reasons"] == {**NO_REASONS, "not_eligible": None,
                                        "patient_declined": None}  # fmt: skip
    assert (food["made"], food["helped"], food["overdue"]) == (None, 0, 0)
    rows = list(csv.DictReader(io.StringIO(csv_table(report_of(session, True), "outcomes"))))
    assert rows[0]["made"] == "[c]" and rows[-1]["made"] == "10"


# --- wellbeing before and after ----------------------------------------------------------

JUNE_1 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
# Life satisfaction before and after for eight patients, worked by hand:
#   changes 2, 2, 0, 2, 1, 2, 1, 1: mean 11/8 = 1.375; squared deviations sum to 3.875, so
#   s = √(3.875 / 7) = 0.744024 and s/√8 = 0.263052; t(0.975, 7 df) = 2.364624 (NIST
#   e-Handbook 1.3.6.7.2: 2.365), so the half width is 0.622019: 0.752981 to 1.997019.
BEFORE = [3, 4, 5, 2, 6, 4, 3, 5]  # mean 4.0
AFTER = [5, 6, 5, 4, 7, 6, 4, 6]  # mean 5.375: 5.4, half up


def follow_up(
    session: Session, task: TriageTask, completed_at: datetime | None, **answers: int
) -> Episode:
    episode = add_episode(
        session, reached="completed", questionnaire="ons4-wellbeing", follow_up_of=task.id
    )
    episode.completed_at = completed_at
    for item_id, value in answers.items():
        session.add(Answer(episode_id=episode.id, item_id=item_id, value=str(value)))
    session.flush()
    return episode


def build_wellbeing(session: Session) -> list[TriageTask]:
    sync_clinics(session, state().config)
    tasks = [task_of(session) for _ in range(8)]
    for n, task in enumerate(tasks):
        # Anxiety answered twice by three patients only: too few pairs to publish.
        anxiety = {"anxiety": 6} if n < 3 else {}
        follow_up(session, task, JUNE_1, life_satisfaction=BEFORE[n], **anxiety)
        later = {"anxiety": 4} if n < 3 else {}
        # 28 London days on, at an earlier hour: 27 days and 23 hours, still a pair.
        latest = datetime(2026, 6, 29, 9, 0, tzinfo=UTC)
        if n == 0:
            # A middle follow-up does not count, nor one sent and not answered.
            follow_up(session, task, datetime(2026, 6, 15, tzinfo=UTC), life_satisfaction=0)
            follow_up(session, task, None)
            latest = datetime(2026, 7, 27, 12, 0, tzinfo=UTC)
        follow_up(session, task, latest, life_satisfaction=AFTER[n], **later)
    # No pairs: answered twice 27 days apart, once only, and the happiness question never.
    short = task_of(session)
    follow_up(session, short, JUNE_1, life_satisfaction=1, happiness=1)
    follow_up(session, short, datetime(2026, 6, 28, 12, 0, tzinfo=UTC), life_satisfaction=9)
    follow_up(session, task_of(session), JUNE_1, life_satisfaction=1)
    session.commit()
    return tasks


def test_wellbeing_pairs_first_and_latest_answers_with_a_t_interval(session: Session) -> None:
    build_wellbeing(session)
    wellbeing = report_of(session)["outcomes"]["wellbeing"]
    assert wellbeing == [
        {"questionnaire": "ons4-wellbeing", "item": "life_satisfaction", "pairs": 8,
         "mean_before": 4.0, "mean_after": 5.4, "mean_change": 1.4, "ci95": [0.8, 2.0]},
        # The anxiety question in its place after the others: too few pairs to publish.
        {"questionnaire": "ons4-wellbeing", "item": "anxiety", "pairs": 3,
         "mean_before": None, "mean_after": None, "mean_change": None, "ci95": None},
    ]  # fmt: skip
    # Follow-ups are not screening: the funnel did not count them.
    assert stage(report_of(session), "completed") == 10


def test_wellbeing_follows_the_reports_filters(session: Session) -> None:
    build_wellbeing(session)
    assert report_of(session, clinic="CARD-RLH")["outcomes"]["wellbeing"] == []
    assert report_of(session, clinic="CARD-NUH")["outcomes"]["wellbeing"][0]["pairs"] == 8
    # The questionnaire filter is the screening questionnaire's, as for every count.
    assert report_of(session, questionnaire="simple-question")["outcomes"]["wellbeing"] == []
    published = report_of(session, suppress=True)["outcomes"]["wellbeing"]
    assert [(w["pairs"], w["mean_change"]) for w in published] == [(10, 1.4), (None, None)]


# --- the CSV and the page ----------------------------------------------------------------


def test_the_outcomes_table_downloads_as_one_flat_csv(session: Session) -> None:
    build_referrals(session)
    build_wellbeing(session)
    rows = list(csv.DictReader(io.StringIO(csv_table(report_of(session), "outcomes"))))
    assert [(r["section"], r["service"]) for r in rows] == [
        ("service", "citizens-advice"), ("service", "food-bank"), ("all_services", ""),
        ("wellbeing", ""), ("wellbeing", ""),
    ]  # fmt: skip
    ca, food, everyone, life, anxiety = rows
    assert (ca["made"], ca["declined"], ca["declined_no_capacity"], ca["helped"],
            ca["overdue"], ca["median_days_to_response"], ca["pairs"]) == (
        "6", "1", "1", "2", "1", "1.5", "",
    )  # fmt: skip
    assert (food["declined_not_eligible"], food["declined_patient_declined"]) == ("1", "1")
    # The all-services row: the report's totals, with the helped, reasons and median too.
    assert (everyone["made"], everyone["helped"], everyone["declined_no_capacity"],
            everyone["median_days_to_response"]) == ("9", "2", "1", "1.5")  # fmt: skip
    assert (life["item"], life["pairs"], life["mean_before"], life["mean_after"],
            life["mean_change"], life["ci95_lo"], life["ci95_hi"], life["made"]) == (
        "life_satisfaction", "8", "4.0", "5.4", "1.4", "0.8", "2.0", "",
    )  # fmt: skip
    assert (anxiety["pairs"], anxiety["mean_change"], anxiety["ci95_lo"]) == ("3", "", "")


def test_the_page_says_what_difference_it_made(app: Flask, session: Session) -> None:
    build_referrals(session)
    build_wellbeing(session)
    with clock.frozen_at(TODAY):
        client = sign_in(app, session, "doc@example.nhs.uk", "clinician")
        html = staff_page(client, "/reports/funnel", "funnel")
        download = client.get("/reports/funnel.csv?table=outcomes")
        published = staff_page(client, "/reports/funnel?suppress=yes", "funnel")
    contents = [a["href"] for a in html.select("nav.nhsuk-contents-list a, .nhsuk-contents-list a")]
    assert "#outcomes" in contents
    assert html.select_one('[data-tile="helped"]') is not None
    rows = {
        shown(row.th): [shown(td) for td in row("td")]
        for row in html.select("#outcomes-by-service tbody tr")
    }
    assert rows["Citizens Advice (money, benefits and debt)"] == [
        "6", "3", "1 No capacity: 1", "3", "2", "1.5", "1",
    ]  # fmt: skip
    assert rows["All services"][:2] == ["9", "5"]
    assert html.select_one("#outcomes-by-service").find_parent("details") is not None
    wellbeing = [
        [shown(cell) for cell in row(["th", "td"])]
        for row in html.select("#wellbeing-ons4-wellbeing tbody tr")
    ]
    assert wellbeing[0][1:] == ["8", "4", "5.4", "+1.4", "0.8 to 2"]
    assert wellbeing[1][1:] == ["3", "Too few pairs to publish", "–", "–", "–"]
    note = text_of(html.select_one('[data-note-for="outcomes"]'))
    assert "10 working days" in note and "Other counts are exact" in note
    assert download.status_code == 200
    assert download.get_data(as_text=True).startswith("section,service,made,")
    # For publication the outcomes are under the rule like every count.
    [row] = published.select("#outcomes-by-service tbody tr")[:1]
    assert [shown(td) for td in row("td")] == [
        "[c]", "[c]", "[c] No capacity: [c]", "[c]", "[c]", "1.5", "[c]",
    ]  # fmt: skip
    assert "Of 10 onward referrals" in text_of(published.select_one("#outcomes + p"))


def shown(cell: Tag) -> str:
    """A table cell's value, without the heading a narrow screen shows beside it."""
    return text_of(cell.find_all("span", recursive=False)[-1])
