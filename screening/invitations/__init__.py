"""From an appointment to the invitation in the outbox (SPEC §6).

- placement: which episode an appointment belongs to, and its route (SMS or a call)
- schedule: when invitations and reminders fall due, and the link each carries
- quiet_hours: when nothing is due or sent
- opt_outs: opt-outs by number: STOP, START, provider refusals
- tokens: link tokens derived, never stored
"""
