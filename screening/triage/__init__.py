"""The social prescriber's work (SPEC §10): from a submission's task to its close.

- creation: a task born of a submission (the triage rule), with its urgent alert queued
- service_levels: working days and each task's due date
- queue: the triage queue and `screening tasks`, as queries
- counts: the home page's counts, each by its list's own query
- tasks: every action on a task, each one transaction with its audit event
- details: what the task page shows: the patient, the answers, the timeline
- calls: the to-call list and the clinic day
- follow_ups: follow-up questionnaires scheduled from a task (SPEC §11)
- alerts: the urgent alert's mail, sent by the worker

Nothing here imports Flask: views parse a form, call one function, and redirect.
"""
