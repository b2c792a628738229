"""The pathway as data, a module per noun (README, Architecture: one patient through it).

Patient-identifiable fields (name, NHS number, date of birth, mobile, postcode) live on
`Patient` and nowhere else: episodes, responses, flags and tasks carry keys, timestamps
and coded facts only, so a retention purge can blank a patient and keep every count.
Every other table refers to a patient only through `patient_id`.

- base: the shared helpers and the created time
- patients: the patient, the only table with identifiable data
- staff: staff accounts, and the services a partner answers for
- appointments: clinics and their appointments
- episodes: the screening episode, one timestamp per funnel stage
- funnel_indexes: the episodes' covering indexes that the funnel report reads
- answers: answers, the submitted response, its flags, frozen questionnaire versions
- triage: tasks, contact attempts, sessions, referrals, notes, GP letters, the mail outbox
- messages: the SMS outbox, opt-outs, the shared sending pace
- operations: workers' heartbeats and the audit trail
- migrate, migrations/: the schema's history (Alembic), applied by `init-db` and the tests
"""

from .answers import Answer, Flag, QuestionnaireVersion, Response
from .appointments import Appointment, Clinic
from .episodes import Episode
from .funnel_indexes import FUNNEL_BREAKDOWNS, FUNNEL_FILTERS, FUNNEL_STAGE_COLUMNS, sqlite_day_key
from .messages import OptOut, OutboundMessage, SmsPace
from .operations import AuditEvent, WorkerHeartbeat
from .patients import Patient
from .staff import StaffService, StaffUser
from .triage import (
    ContactAttempt,
    GpLetter,
    Mail,
    Referral,
    ReferralUpdate,
    SupportSession,
    TaskNote,
    TriageTask,
)

__all__ = [
    "FUNNEL_BREAKDOWNS",
    "FUNNEL_FILTERS",
    "FUNNEL_STAGE_COLUMNS",
    "Answer",
    "Appointment",
    "AuditEvent",
    "Clinic",
    "ContactAttempt",
    "Episode",
    "Flag",
    "GpLetter",
    "Mail",
    "OptOut",
    "OutboundMessage",
    "Patient",
    "QuestionnaireVersion",
    "Referral",
    "ReferralUpdate",
    "Response",
    "SmsPace",
    "StaffService",
    "StaffUser",
    "SupportSession",
    "TaskNote",
    "TriageTask",
    "WorkerHeartbeat",
    "sqlite_day_key",
]
