"""The English names of coded values that pages, letters and mails share, so a task's
outcome or a referral's answer reads the same on the task page, on a partner's page and in
the letter to the GP practice."""

from __future__ import annotations

from typing import Final

CLOSE_NAMES: Final = {
    "support_arranged": "Support arranged",
    "referred": "Referred on",
    "declined": "Patient declined help",
    "unable_to_contact": "Unable to contact",
    "not_needed": "Not needed",
}
REFERRAL_STATUS_NAMES: Final = {
    "made": "Made",
    "accepted": "Accepted",
    "declined": "Declined by the service",
    "completed": "Completed",
}
# Why a service declined (SPEC §13).
DECLINE_REASON_NAMES: Final = {
    "no_capacity": "No capacity",
    "not_eligible": "Not eligible",
    "patient_declined": "The patient declined",
    "unable_to_contact": "Could not reach the patient",
    "other": "Another reason",
}
# What came of a completed referral (SPEC §13).
REFERRAL_OUTCOME_NAMES: Final = {
    "helped": "Helped",
    "partly_helped": "Partly helped",
    "not_helped": "Did not help",
}


def referral_answer(status: str, reason: str | None, outcome: str | None) -> str:
    """A referral's status with the service's reason or outcome: "Declined by the service:
    no capacity", "Completed: partly helped"."""
    name = REFERRAL_STATUS_NAMES.get(status, status)
    if status == "declined" and reason:
        return f"{name}: {DECLINE_REASON_NAMES.get(reason, reason).lower()}"
    if status == "completed" and outcome:
        return f"{name}: {REFERRAL_OUTCOME_NAMES.get(outcome, outcome).lower()}"
    return name
