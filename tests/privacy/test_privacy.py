"""Data protection (SPEC §5): the retention purge keeps every count, subject access shows
everything, and both are audited."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening.appointments.clinics import sync_clinics
from screening.config.loaded import state
from screening.core import clock
from screening.core import constants as c
from screening.core.clock import LONDON
from screening.core.extensions import db
from screening.invitations.placement import place_in_episode
from screening.models import (
    Answer,
    Appointment,
    AuditEvent,
    ContactAttempt,
    Episode,
    GpLetter,
    Mail,
    OutboundMessage,
    Patient,
    Referral,
    ReferralUpdate,
    StaffUser,
    SupportSession,
    TaskNote,
    TriageTask,
)
from screening.patient.responses import save_answer, submit
from screening.privacy.purge import purge
from screening.privacy.subject_access import UnknownPatient, subject_access
from screening.reports import Filters, build_report
from screening.reports.exports import csv_table
from tests.conftest import settings_for_test_clinics
from tests.factories import make_invited_episode, make_task, make_user
from tests.fake_twilio import FakeTwilio
from tests.reports.test_pilot import PATIENTS, rebuild_pilot
from tests.sms.conftest import fake_twilio, fake_twilio_server, no_real_twilio  # noqa: F401
from tests.sms.test_outbox import twilio_app  # noqa: F401

TABLES = ("stages", "domains", "by_clinic", "groups")


def questionnaires():
    return state().questionnaires.questionnaires


def whole_report(session: Session) -> tuple[dict, dict[str, str]]:
    report = build_report(session, state(), Filters())
    return report, {table: csv_table(report, table) for table in TABLES}


NOTES_PER_TASK = 4  # a task note, and the notes of a contact, a session and a referral


def add_notes(session: Session, task: TriageTask, text: str) -> None:
    user = session.scalar(select(StaffUser)) or make_user(session)
    session.add_all(
        [
            TaskNote(task_id=task.id, by_user_id=user.id, text=text),
            ContactAttempt(
                task_id=task.id, episode_id=task.episode_id, by_user_id=user.id,
                method="phone", outcome="voicemail", note=text,
            ),
            SupportSession(task_id=task.id, by_user_id=user.id, minutes=20, note=text),
            Referral(task_id=task.id, service_id="citizens-advice", by_user_id=user.id, note=text),
        ]
    )  # fmt: skip
    session.commit()


def test_a_purge_removes_identities_and_keeps_every_count_of_the_pilot(
    twilio_app: Flask,  # noqa: F811
    fake_twilio: FakeTwilio,  # noqa: F811
    tmp_path: Path,
) -> None:
    rebuild_pilot(twilio_app, fake_twilio, tmp_path)
    session = db.session()
    tasks = session.scalars(select(TriageTask).order_by(TriageTask.id)).all()
    closed = next(t for t in tasks if t.status == c.TASK_CLOSED)
    active = next(t for t in tasks if t.status in c.ACTIVE_TASK_STATUSES)
    add_notes(session, closed, "Lives with her sister at number 4")
    add_notes(session, active, "Ring after 2pm, works mornings")
    before_report, before_csv = whole_report(session)
    day_after_clinic = clock.now().astimezone(LONDON).date() + timedelta(days=8)

    preview = purge(session, questionnaires().values(), day_after_clinic, dry_run=True)
    session.rollback()
    assert session.scalar(select(func.count()).where(Patient.nhs_number.is_not(None))) == PATIENTS
    active_count = session.scalar(
        select(func.count()).where(TriageTask.status.in_(c.ACTIVE_TASK_STATUSES))
    )
    assert preview.patients == PATIENTS - active_count  # those being helped are kept
    assert preview.kept_for_active_tasks == active_count
    assert preview.notes == NOTES_PER_TASK and preview.free_text_answers == 0

    done = purge(session, questionnaires().values(), day_after_clinic)
    session.commit()
    assert done == preview
    after_report, after_csv = whole_report(session)
    assert after_report == before_report and after_csv == before_csv

    emptied = session.scalars(select(Patient).where(Patient.purged_at.is_not(None))).all()
    assert len(emptied) == done.patients
    assert all(
        (p.nhs_number, p.given_name, p.family_name, p.date_of_birth, p.mobile, p.postcode)
        == (None,) * 6
        for p in emptied
    )
    notes = session.scalars(select(TaskNote.text)).all()
    assert notes == ["Ring after 2pm, works mornings"]  # the active task's note stays
    for model in (ContactAttempt, SupportSession, Referral):
        kept = session.scalars(select(model.note).where(model.note.is_not(None))).all()
        assert kept == ["Ring after 2pm, works mornings"], model.__name__
    assert session.scalar(select(Episode.token_hash).where(Episode.id == closed.episode_id)) is None
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == c.AUDIT_PURGE))
    assert event.detail["patients"] == done.patients
    assert event.detail["before"] == day_after_clinic.isoformat()
    # Run again: nothing left to remove.
    again = purge(session, questionnaires().values(), day_after_clinic)
    assert (again.patients, again.notes, again.links) == (0, 0, 0)


def test_a_patient_with_a_clinic_after_the_date_keeps_their_details(session: Session) -> None:
    old = make_task(session, appointment_at=clock.now() - timedelta(days=400))
    old.status, old.outcome = c.TASK_CLOSED, "not_needed"
    session.commit()
    # The same patient is booked again next week, in a clinic with another questionnaire.
    again = Appointment(
        external_id="APT-NEXT-WEEK", patient=old.episode.patient, clinic_code="CARD-RLH",
        appointment_at=clock.now() + timedelta(days=7), status=c.APPOINTMENT_BOOKED,
    )  # fmt: skip
    session.add(again)
    session.flush()
    place_in_episode(session, state().config, again)
    session.commit()
    counts = purge(session, questionnaires().values(), clock.now().date())
    session.commit()
    assert counts.patients == 0
    assert session.scalar(select(Patient.mobile)) == "+447400100001"


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    return settings_for_test_clinics(tmp_path)


def test_free_text_answers_go_and_choice_answers_stay(session: Session) -> None:
    episode, _ = make_invited_episode(
        session, clinic="ALL-TYPES", appointment_at=clock.now() - timedelta(days=30)
    )
    questionnaire = questionnaires()["every-item-type"]
    now = clock.now()
    save_answer(
        session, questionnaire, episode, "anything_else", "My landlord is Mr Peters", now=now
    )
    save_answer(session, questionnaire, episode, "people_at_home", "3", now=now)
    submit(session, questionnaire, episode, language="en", now=now)
    session.commit()
    counts = purge(session, questionnaires().values(), date.today())
    session.commit()
    assert counts.free_text_answers == 1
    kept = dict(session.execute(select(Answer.item_id, Answer.value)).all())
    assert kept == {"people_at_home": "3"}


def test_subject_access_shows_the_whole_record_and_is_audited(session: Session) -> None:
    task = make_task(session, nhs_number="9990000018")
    add_notes(session, task, "Prefers a call in the morning")
    record = subject_access(session, questionnaires(), "9990000018")
    session.commit()
    assert record["patient"]["given_name"] == "Alex"
    assert record["patient"]["date_of_birth"] == "1960-05-17"
    (episode,) = record["episodes"]
    answers = {a["item_id"]: a for a in episode["answers"]}
    assert answers["ends_meet"]["value"] == "yes"
    assert answers["ends_meet"]["question"]  # the question as the patient saw it
    assert [f["domain"] for f in episode["flags"]] == ["financial"]
    assert episode["task"]["notes"][0]["text"] == "Prefers a call in the morning"
    assert episode["contact_attempts"][0]["outcome"] == "voicemail"
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == c.AUDIT_SUBJECT_ACCESS))
    assert event.patient_id == session.scalar(select(Patient.id))
    with pytest.raises(UnknownPatient):
        subject_access(session, questionnaires(), "9990000026")


def test_a_text_still_to_send_keeps_the_episode_and_its_patient(session: Session) -> None:
    episode, _ = make_invited_episode(session, appointment_at=clock.now() - timedelta(days=60))
    # A follow-up text scheduled for next week: the patient is still in contact.
    session.add(
        OutboundMessage.for_the_day(episode.id, c.MESSAGE_INVITE, clock.now() + timedelta(days=7))
    )
    session.commit()
    counts = purge(session, questionnaires().values(), clock.now().date())
    session.commit()
    assert (counts.patients, counts.kept_for_active_tasks) == (0, 1)
    assert session.scalar(select(Patient.mobile)) == "+447400100001"


def test_subject_access_lists_calls_from_the_to_call_list(session: Session) -> None:
    episode, _ = make_invited_episode(session)
    user = make_user(session)
    session.add(
        ContactAttempt(
            episode_id=episode.id, by_user_id=user.id, method="phone",
            outcome="no_answer", note="Rang twice before clinic",
        )
    )  # fmt: skip
    session.commit()
    record = subject_access(session, questionnaires(), "9990000018")
    (entry,) = record["episodes"]
    assert entry["task"] is None
    assert [a["note"] for a in entry["contact_attempts"]] == ["Rang twice before clinic"]
    snapshot = {"age_band", "sex", "ethnicity", "imd_decile", "needs_call_reason"}
    assert snapshot <= set(entry) and "submission_mode" in entry


def test_a_patient_on_an_old_list_without_an_episode_is_purged_too(session: Session) -> None:
    patient = Patient(nhs_number="9990000018", given_name="Alex", mobile="+447400100001")
    session.add(patient)
    sync_clinics(session, state().config)
    session.commit()
    session.add(
        Appointment(
            external_id="APT-OLD", patient_id=patient.id, clinic_code="CARD-NUH",
            appointment_at=clock.now() - timedelta(days=400), status=c.APPOINTMENT_BOOKED,
        )
    )  # fmt: skip
    session.commit()
    assert purge(session, questionnaires().values(), clock.now().date()).patients == 1
    session.commit()
    assert session.scalar(select(Patient.nhs_number)) is None


# --- closing the loop (SPEC §13) ---------------------------------------------------------------

LETTER_PDF = b"%PDF-1.7 Alex Example, born 17 May 1960, NHS number 999 000 0018"


def close_the_loop(session: Session, task: TriageTask, *, mail_status: str = c.MAIL_SENT):
    """The task closed as referred, one service helped and another declined, each saying
    why in a note, and the letter to the patient's practice made and mailed."""
    user = session.scalar(select(StaffUser)) or make_user(session)
    made = task.created_at + timedelta(days=1)
    task.status, task.outcome, task.closed_at = c.TASK_CLOSED, c.OUTCOME_REFERRED, made
    task.episode.patient.gp_practice = "F84001"
    task.episode.helped_at = made + timedelta(days=20)
    helped = Referral(
        task_id=task.id, service_id="citizens-advice", domain="financial", by_user_id=user.id,
        status=c.REFERRAL_COMPLETED, referred_at=made, outcome=c.REFERRAL_HELPED,
        accepted_at=made + timedelta(days=2), completed_at=made + timedelta(days=20),
    )  # fmt: skip
    declined = Referral(
        task_id=task.id, service_id="food-bank", domain="food", by_user_id=user.id,
        status=c.REFERRAL_DECLINED, referred_at=made, reason="not_eligible",
        declined_at=made + timedelta(days=3),
    )  # fmt: skip
    session.add_all([helped, declined])
    session.flush()
    session.add_all(
        [
            ReferralUpdate(
                referral_id=helped.id, at=helped.accepted_at, by_user_id=user.id,
                status=c.REFERRAL_ACCEPTED, note="Seen Tuesday with her daughter",
            ),
            ReferralUpdate(
                referral_id=helped.id, at=helped.completed_at, by_user_id=user.id,
                status=c.REFERRAL_COMPLETED, outcome=c.REFERRAL_HELPED,
                note="Attendance allowance awarded, £72.65 a week",
            ),
            ReferralUpdate(
                referral_id=declined.id, at=declined.declined_at, by_user_id=user.id,
                status=c.REFERRAL_DECLINED, reason="not_eligible",
                note="Lives outside the borough (E13)",
            ),
        ]
    )  # fmt: skip
    letter = GpLetter(
        task_id=task.id, practice_code="F84001", made_at=made, fingerprint="0" * 64,
        pdf=LETTER_PDF,
    )  # fmt: skip
    session.add(letter)
    session.flush()
    session.add(
        Mail(
            kind=c.MAIL_GP_LETTER, task_id=task.id, letter_id=letter.id,
            to_address="f84001.practice@nhs.net", status=mail_status,
            sent_at=made if mail_status == c.MAIL_SENT else None,
        )
    )  # fmt: skip
    session.commit()


def old_task(session: Session) -> TriageTask:
    return make_task(
        session,
        appointment_at=clock.now() - timedelta(days=400),
        submitted_at=clock.now() - timedelta(days=401),
    )


def service_answers(session: Session) -> tuple[list, list]:
    """Each referral's status, reason, outcome and times, and each change's codes."""
    referrals = session.execute(
        select(
            Referral.status, Referral.reason, Referral.outcome, Referral.accepted_at,
            Referral.declined_at, Referral.completed_at,
        ).order_by(Referral.id)
    ).all()  # fmt: skip
    updates = session.execute(
        select(ReferralUpdate.status, ReferralUpdate.reason, ReferralUpdate.outcome).order_by(
            ReferralUpdate.id
        )
    ).all()
    return referrals, updates


def test_a_purge_leaves_no_referral_note_nor_letter_and_keeps_what_services_answered(
    session: Session,
) -> None:
    task = old_task(session)
    close_the_loop(session, task)
    answered = service_answers(session)
    helped_at = session.scalar(select(Episode.helped_at))

    counts = purge(session, questionnaires().values(), clock.now().date())
    session.commit()
    assert (counts.patients, counts.notes, counts.letters) == (1, 3, 1)
    notes = select(ReferralUpdate.note).where(ReferralUpdate.note.is_not(None))
    assert session.scalars(notes).all() == []
    letter = session.scalar(select(GpLetter))
    assert letter.pdf is None
    assert (letter.practice_code, letter.made_at) == ("F84001", task.closed_at)
    assert session.scalar(select(Patient.gp_practice)) is None
    # What the funnel and the report count stays: statuses, reasons, outcomes, times.
    assert service_answers(session) == answered
    assert helped_at is not None and session.scalar(select(Episode.helped_at)) == helped_at
    # The outbox keeps its row: a practice's mailbox and ids, no patient.
    assert session.scalar(select(Mail.to_address)) == "f84001.practice@nhs.net"
    again = purge(session, questionnaires().values(), clock.now().date())
    assert (again.notes, again.letters) == (0, 0)


def test_a_letter_still_to_send_keeps_the_episode_and_its_patient(session: Session) -> None:
    close_the_loop(session, old_task(session), mail_status=c.MAIL_PENDING)
    counts = purge(session, questionnaires().values(), clock.now().date())
    session.commit()
    assert (counts.patients, counts.letters, counts.kept_for_active_tasks) == (0, 0, 1)
    assert session.scalar(select(GpLetter.pdf)) == LETTER_PDF
    assert session.scalar(select(Patient.gp_practice)) == "F84001"


def test_subject_access_shows_the_services_answers_and_the_letters_made(
    session: Session,
) -> None:
    task = make_task(session, nhs_number="9990000018")
    close_the_loop(session, task)
    record = subject_access(session, questionnaires(), "9990000018")
    session.commit()
    assert record["patient"]["gp_practice"] == "F84001"
    (episode,) = record["episodes"]
    helped, declined = episode["task"]["referrals"]
    assert (helped["status"], helped["outcome"]) == ("completed", "helped")
    assert helped["accepted_at"] and helped["completed_at"] and helped["declined_at"] is None
    assert [(u["status"], u["note"]) for u in helped["updates"]] == [
        ("accepted", "Seen Tuesday with her daughter"),
        ("completed", "Attendance allowance awarded, £72.65 a week"),
    ]
    assert helped["updates"][0]["by"] == "sp@example.nhs.uk" and helped["updates"][1]["at"]
    assert (declined["status"], declined["reason"]) == ("declined", "not_eligible")
    assert declined["updates"][0]["note"] == "Lives outside the borough (E13)"
    (letter,) = episode["task"]["gp_letters"]
    assert letter["letter"].startswith("letter made on ")
    assert letter["letter"].endswith("for GP practice F84001")
    assert (letter["practice_code"], letter["made_at"]) == ("F84001", task.closed_at.isoformat())
    assert letter["mailed"] == [
        {"to": "f84001.practice@nhs.net", "status": "sent", "sent_at": task.closed_at.isoformat()}
    ]
    # Said, not shown: the PDF's bytes are not in the record.
    assert "%PDF" not in json.dumps(record, ensure_ascii=False)
