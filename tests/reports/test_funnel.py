"""The funnel report on a constructed cohort with known counts at every stage (SPEC §7),
on SQLite and PostgreSQL: stages, filters, domains, process outcomes, patient groups under
disclosure control, the weekly trend, and CSV that says what the JSON says."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from screening.appointments.clinics import sync_clinics
from screening.config.loaded import state
from screening.core import constants as c
from screening.models import (
    ContactAttempt,
    Episode,
    Flag,
    Patient,
    Referral,
    Response,
    SupportSession,
    TriageTask,
)
from screening.patient.responses import save_answer
from screening.reports import BadFilter, Filters, build_report, parse_report_filters
from screening.reports.exports import TABLES, csv_table

STAGES = c.FUNNEL_STAGES
WHEN = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # a summer appointment (BST)


def add_episode(
    session: Session,
    *,
    reached: str = "invited",
    clinic: str = "CARD-NUH",
    questionnaire: str = "barts-social-welfare",
    appointment_at: datetime = WHEN,
    domains: tuple[str, ...] = (),
    mode: str = c.MODE_SMS,
    follow_up_of: int | None = None,
    **group: object,
) -> Episode:
    """An episode that reached every stage up to `reached` (or none, for "scheduled")."""
    patient = Patient()
    session.add(patient)
    session.flush()
    stages = STAGES[: STAGES.index(reached) + 1] if reached != "scheduled" else ()
    at = appointment_at - timedelta(days=7)
    episode = Episode(
        patient_id=patient.id,
        clinic_code=clinic,
        questionnaire_id=questionnaire,
        appointment_at=None if follow_up_of else appointment_at,
        mode=mode,
        follow_up_task_id=follow_up_of,
        **{f"{stage if stage != 'engaged' else 'opened'}_at": at for stage in stages},
        **group,
    )
    session.add(episode)
    session.flush()
    if "completed" in stages:
        response = Response(
            episode_id=episode.id, questionnaire_id=questionnaire, questionnaire_version=1,
            mode=mode, language="en", submitted_at=at,
        )  # fmt: skip
        session.add(response)
        session.flush()
        for domain in domains:
            session.add(
                Flag(response_id=response.id, item_id=domain, domain=domain, priority="routine")
            )
    if "wants_help" in stages:
        task = TriageTask(episode_id=episode.id, status=c.TASK_OPEN, clinic_code=clinic)
        session.add(task)
        session.flush()
        if "contacted" in stages:
            reached_at = at + timedelta(days=3)  # the Saturday after: two working days on
            session.add(
                ContactAttempt(
                    task_id=task.id, episode_id=episode.id, method="phone", outcome="reached",
                    attempted_at=reached_at,
                )
            )  # fmt: skip
            episode.contacted_at = reached_at
        if "referred" in stages:
            referral = Referral(task_id=task.id, service_id="citizens-advice", domain="financial")
            if "helped" in stages:  # the service said so, as screening.referrals.answers records
                referral.status, referral.outcome = c.REFERRAL_COMPLETED, c.REFERRAL_HELPED
                referral.accepted_at = referral.completed_at = at + timedelta(days=5)
            session.add(referral)
            session.add(SupportSession(task_id=task.id, minutes=30))
    return episode


# A cohort with known counts: 40 invited, fewer at each stage, as a clinic would see it.
COHORT = {
    "scheduled": 5,  # not yet invited: counted nowhere
    "invited": 4,
    "delivered": 16,
    "engaged": 8,
    "completed": 4,
    "flagged": 2,
    "wants_help": 2,
    "contacted": 2,
    "referred": 1,
    "helped": 1,
}
EXPECTED = {  # stage: (count, pct_of_previous, pct_of_invited)
    "invited": (40, None, 100.0),
    "delivered": (36, 90.0, 90.0),
    "engaged": (20, 55.6, 50.0),
    "completed": (12, 60.0, 30.0),
    "flagged": (8, 66.7, 20.0),
    "wants_help": (6, 75.0, 15.0),
    "contacted": (4, 66.7, 10.0),
    "referred": (2, 50.0, 5.0),
    "helped": (1, 50.0, 2.5),
}


def build_cohort(session: Session) -> None:
    sync_clinics(session, state().config)
    for reached, count in COHORT.items():
        for n in range(count):
            flagged = (
                STAGES.index(reached) >= STAGES.index("flagged")
                if reached != "scheduled"
                else False
            )
            add_episode(
                session,
                reached=reached,
                domains=("financial", "food")
                if flagged and n % 2 == 0
                else ("financial",)
                if flagged
                else (),
            )
    # A follow-up questionnaire answered in full: not a screening episode, so not counted.
    task = session.query(TriageTask).first()
    add_episode(session, reached="referred", follow_up_of=task.id)
    session.commit()


def report_of(session: Session, suppress: bool = False, **filters: object) -> dict:
    return build_report(session, state(), Filters(**filters), suppress=suppress)


def stages_of(report: dict) -> dict:
    return {
        s["stage"]: (s["count"], s["pct_of_previous"], s["pct_of_invited"])
        for s in report["stages"]
    }


def test_each_stage_counts_its_own_condition_and_follow_ups_are_left_out(session: Session) -> None:
    build_cohort(session)
    report = report_of(session)
    assert stages_of(report) == EXPECTED
    assert report["follow_ups"] == {"invited": 1, "completed": 1}
    assert report["filters"] == {"clinic": None, "from": None, "to": None, "questionnaire": None}
    assert [clinic["clinic_code"] for clinic in report["by_clinic"]] == ["CARD-NUH"]
    assert stages_of({"stages": report["by_clinic"][0]["stages"]}) == EXPECTED


def test_domains_count_patients_among_completers_and_flagged(session: Session) -> None:
    build_cohort(session)
    domains = {d["domain"]: d for d in report_of(session)["domains"]}
    # Every flagged patient (8) flagged money; the even-numbered of each stage's flagged
    # also food: the first at each of the five stages from flagged on.
    assert (domains["financial"]["count"], domains["financial"]["pct_of_completed"],
            domains["financial"]["pct_of_flagged"]) == (8, 66.7, 100.0)  # fmt: skip
    assert (domains["food"]["count"], domains["food"]["pct_of_flagged"]) == (5, 62.5)
    assert domains["housing"]["count"] == 0  # declared by the questionnaire, none flagged
    assert list(domains)[:3] == ["financial", "food", "housing"]  # the questionnaire's order


def test_process_outcomes_count_sessions_referrals_and_the_wait_in_working_days(
    session: Session,
) -> None:
    build_cohort(session)
    process = report_of(session)["process"]
    assert (process["sessions"], process["patients_with_sessions"]) == (2, 2)
    assert (process["referrals"], process["referrals_to_pcn"]) == (2, 0)
    assert process["referrals_by_domain"] == [{"domain": "financial", "count": 2}]
    # Completed on Wednesday 3 June, reached on Saturday 6 June: two working days.
    assert process["median_working_days_to_contact"] == 2
    assert process["tasks"]["open"] == 6  # the follow-up's own task is not screening


def test_filters_by_clinic_questionnaire_and_london_appointment_days(session: Session) -> None:
    sync_clinics(session, state().config)
    # 23:30 London on 30 June is 22:30 UTC: inside a report to 30 June. 00:30 London on
    # 1 July is 23:30 UTC on 30 June: outside it, though its UTC date says 30 June.
    late = add_episode(session, appointment_at=datetime(2026, 6, 30, 22, 30, tzinfo=UTC))
    after = add_episode(session, appointment_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    add_episode(session, clinic="CARD-RLH", questionnaire="simple-question")
    session.commit()
    assert late and after
    count = lambda **f: report_of(session, **f)["stages"][0]["count"]  # noqa: E731
    assert count() == 3
    assert count(clinic="CARD-RLH") == 1
    assert count(questionnaire="barts-social-welfare") == 2
    assert count(date_from=date(2026, 6, 11), date_to=date(2026, 6, 30)) == 1
    assert count(date_from=date(2026, 7, 1)) == 1
    assert count(date_to=date(2026, 6, 10)) == 1  # the CARD-RLH one, on 10 June


def test_bad_filters_are_refused_naming_the_field(session: Session) -> None:
    sync_clinics(session, state().config)
    session.commit()
    cases = [
        ({"clinic": "NOPE"}, "clinic", "not a clinic code"),
        ({"questionnaire": "nope"}, "questionnaire", "not a questionnaire id"),
        ({"from": "2026-13-01"}, "from", "use YYYY-MM-DD"),
        ({"from": "1 June"}, "from", "use YYYY-MM-DD"),
        ({"from": "2026-07-01", "to": "2026-06-01"}, "to", "same as or after"),
    ]
    for values, field, words in cases:
        with pytest.raises(BadFilter) as refused:
            parse_report_filters(session, state(), values)
        assert refused.value.field == field and words in str(refused.value)


def _group_episodes(session: Session, band: str, invited: int, completed: int) -> None:
    for n in range(invited):
        add_episode(session, reached="completed" if n < completed else "invited", age_band=band)


def test_patient_groups_are_always_published_under_the_disclosure_rule(session: Session) -> None:
    sync_clinics(session, state().config)
    for band, size in (("16-24", 1), ("25-34", 7), ("35-44", 8), ("45-54", 12), ("55-64", 13)):
        _group_episodes(session, band, size, completed=size // 2)
    _group_episodes(session, "85+", 60, completed=6)
    _group_episodes(session, "65-74", 100, completed=40)
    session.commit()
    report = report_of(session)
    assert report["stages"][0]["count"] == 201  # stage totals stay exact for staff
    groups = {g["group"]: g["stages"] for g in report["groups"]["age_band"]}
    invited = {band: stages[0]["count"] for band, stages in groups.items()}
    assert invited == {"16-24": None, "25-34": None, "35-44": 10, "45-54": 10, "55-64": 15,
                       "65-74": 100, "85+": 60}  # fmt: skip
    suppressed = groups["25-34"][3]
    assert suppressed == {"stage": "completed", "count": None, "pct_of_invited": None,
                          "ci95": None, "vs_all": None, "suppressed": True}  # fmt: skip
    # 6 of 12 completed: published 10 of 10 would say 100%; 6 is suppressed instead.
    assert groups["45-54"][3]["count"] is None
    # 40 of 100 against 65 of 201 overall (32.3%): inside the 99.8% limits.
    assert groups["65-74"][3] == {"stage": "completed", "count": 40, "pct_of_invited": 40.0,
                                  "ci95": [30.9, 49.8], "vs_all": "similar"}  # fmt: skip
    assert groups["85+"][3]["count"] is None  # 6 completed: suppressed


def test_the_largest_gaps_in_completion_are_named(session: Session) -> None:
    sync_clinics(session, state().config)
    _group_episodes(session, "85+", 100, completed=10)
    _group_episodes(session, "45-54", 300, completed=90)
    session.commit()
    gaps = report_of(session)["completion_gaps"]
    first = gaps[0]
    assert (first["label"], first["pct_of_invited"], first["overall"], first["vs_all"]) == (
        "Patients aged 85 and over", 10.0, 25.0, "lower",
    )  # fmt: skip
    assert first["ci95"] == [5.5, 17.4]


def test_for_publication_every_count_is_under_the_rule(session: Session) -> None:
    build_cohort(session)
    report = report_of(session, suppress=True)
    assert stages_of(report) == {
        "invited": (40, None, 100.0),
        "delivered": (35, 87.5, 87.5),
        "engaged": (20, 57.1, 50.0),
        "completed": (10, 50.0, 25.0),
        "flagged": (10, 100.0, 25.0),
        "wants_help": (None, None, None),
        "contacted": (None, None, None),
        "referred": (None, None, None),
        "helped": (None, None, None),
    }
    assert report["suppressed"] is True and report["disclosure"].startswith("All counts:")
    assert report["process"]["referrals"] is None and report["domains"][0]["count"] == 10


def test_the_weekly_trend_counts_by_the_london_week_of_invitation(session: Session) -> None:
    sync_clinics(session, state().config)
    # Sunday 7 June 23:30 UTC is Monday 8 June 00:30 in London: the week of 8 June.
    add_episode(session, appointment_at=datetime(2026, 6, 14, 23, 30, tzinfo=UTC))
    add_episode(session, appointment_at=datetime(2026, 6, 14, 22, 30, tzinfo=UTC))
    session.commit()
    weekly = report_of(session)["weekly"]
    assert [(w["week_starting"], w["stages"][0]["count"]) for w in weekly] == [
        ("2026-06-01", 1), ("2026-06-08", 1),
    ]  # fmt: skip


@pytest.mark.parametrize("suppress", [False, True], ids=["exact", "publication"])
def test_every_csv_table_says_what_the_json_says(session: Session, suppress: bool) -> None:
    build_cohort(session)
    report = report_of(session, suppress=suppress)
    for table, (header, _) in TABLES.items():
        assert csv_table(report, table).splitlines()[0] == ",".join(header)
    stages = list(csv.DictReader(io.StringIO(csv_table(report, "stages"))))
    assert [r["stage"] for r in stages] == list(STAGES)
    for row, entry in zip(stages, report["stages"], strict=True):
        assert row["count"] == ("[c]" if entry.get("suppressed") else str(entry["count"]))
        assert row["pct_of_invited"] == (
            "" if entry["pct_of_invited"] is None else str(entry["pct_of_invited"])
        )
    groups = list(csv.DictReader(io.StringIO(csv_table(report, "groups"))))
    flat = [
        (dimension, g["group"], s["stage"], s)
        for dimension, gs in report["groups"].items()
        for g in gs
        for s in g["stages"]
    ]
    assert len(groups) == len(flat)
    for row, (dimension, group, stage, entry) in zip(groups, flat, strict=True):
        assert (row["dimension"], row["group"], row["stage"]) == (dimension, group, stage)
        assert row["count"] == ("[c]" if entry.get("suppressed") else str(entry["count"]))
        lo, hi = entry["ci95"] or ("", "")
        assert (row["ci95_lo"], row["ci95_hi"]) == (str(lo), str(hi))
        assert row["vs_all"] == (entry["vs_all"] or "")
    domains = list(csv.DictReader(io.StringIO(csv_table(report, "domains"))))
    assert [(r["domain"], r["pct_of_flagged"]) for r in domains] == [
        (d["domain"], "" if d["pct_of_flagged"] is None else str(d["pct_of_flagged"]))
        for d in report["domains"]
    ]


def test_text_someone_typed_cannot_run_as_a_spreadsheet_formula(session: Session) -> None:
    # Ethnicity outside the NHS codes is kept as the list gave it, and becomes a group.
    typed = ['=HYPERLINK("http://x.invalid")', "+1", "-2", "@SUM(A1)"]
    sync_clinics(session, state().config)
    for text in typed:
        for _ in range(8):  # above the disclosure rule's suppression
            add_episode(session, ethnicity=text)
    add_episode(session, ethnicity="-")  # alone: one character, still text
    session.commit()
    rows = list(csv.DictReader(io.StringIO(csv_table(report_of(session), "groups"))))
    written = {r["group"] for r in rows if r["dimension"] == "ethnicity"}
    assert {f"'{text}" for text in typed} | {"'-"} <= written
    assert not any(group.startswith(("=", "+", "-", "@", "\t")) for group in written)
    # Counts and percentages are numbers, never quoted.
    assert all(r["count"].isdigit() or r["count"] == "[c]" for r in rows)


def test_where_patients_stop_counts_each_unfinished_episode_at_its_next_page(
    session: Session,
) -> None:
    sync_clinics(session, state().config)
    barts = state().questionnaires.questionnaires["barts-social-welfare"]
    # Answers saved through the patient's own path, which keeps the page each stands at.
    first_four = {"ends_meet": "no", "missed_meals": "no", "stable_housing": "yes",
                  "support_network": "yes"}  # fmt: skip
    all_six = {**first_four, "feel_unsafe": "no", "carer_impact": "no"}
    answered = {
        "start": {},
        "missed_meals": {"ends_meet": "no"},
        "feel_unsafe": first_four,
        # Item 7 (wants help) shows only after a flag: without one, every question is done.
        "check": all_six,
        "wants_help": {**all_six, "ends_meet": "yes"},
    }
    for page, answers in answered.items():
        for _ in range(2 if page == "feel_unsafe" else 1):
            episode = add_episode(session, reached="engaged")
            for item_id, value in answers.items():
                save_answer(session, barts, episode, item_id, value, now=WHEN)
    add_episode(session, reached="completed")  # finished: not a stop
    add_episode(session, reached="delivered")  # never opened the link: not a stop
    add_episode(session, reached="engaged", questionnaire="simple-question")
    session.commit()

    report = report_of(session)
    by_questionnaire = {
        entry["questionnaire"]: {p["page"]: p["stopped"] for p in entry["pages"]}
        for entry in report["dropoff"]
    }
    assert list(by_questionnaire["barts-social-welfare"]) == [
        "start", "ends_meet", "missed_meals", "stable_housing", "support_network",
        "feel_unsafe", "carer_impact", "wants_help", "check",
    ]  # fmt: skip
    assert by_questionnaire["barts-social-welfare"] == {
        "start": 1, "ends_meet": 0, "missed_meals": 1, "stable_housing": 0,
        "support_network": 0, "feel_unsafe": 2, "carer_impact": 0, "wants_help": 1, "check": 1,
    }  # fmt: skip
    assert by_questionnaire["simple-question"]["start"] == 1
    # Every unfinished, engaged episode is somewhere: the counts add up to them.
    counts = {entry["stage"]: entry["count"] for entry in report["stages"]}
    unfinished = counts["engaged"] - counts["completed"]
    assert sum(sum(pages.values()) for pages in by_questionnaire.values()) == unfinished == 7
    rows = list(csv.DictReader(io.StringIO(csv_table(report, "dropoff"))))
    assert ("barts-social-welfare", "feel_unsafe", "2") in [
        (r["questionnaire"], r["page"], r["stopped"]) for r in rows
    ]
    # For publication, each count is under the rule like any other.
    published = report_of(session, suppress=True)["dropoff"][0]["pages"]
    assert {p["stopped"] for p in published} <= {0, None}
