"""The social prescriber's work (SPEC §10): the queue, the task actions, the call lists.

- `service_levels`: working days and each task's due date.
- `queue`: the triage queue and `screening tasks`, as queries.
- `tasks`: every action on a task (claim, assign, contacts, sessions, referrals, notes,
  close, reopen), each one transaction with its audit event; refusals as `Refused`.
- `details`: what the task page shows: the patient, the answers, the timeline.
- `calls`: the to-call list and the clinic day.

Nothing here imports Flask: views parse a form, call one function, and redirect.
"""
