"""Thin views: each blueprint checks access, parses its request, calls a service, renders.

- patient: the questionnaire a patient answers from their link
- assisted: staff finding a patient and starting assisted mode
- auth: signing in and out, sessions, roles on every staff blueprint
- staff: the staff home page
- triage: the prescriber's pages and the task's actions
- reports: the funnel report and its CSV downloads
- admin: staff accounts and the audit trail
- webhooks: the SMS provider's callbacks
- health: `/healthz`
- about: the accessibility statement, and the footer's links on every page
- fields: a question's NHS.UK field, rendered once per distinct set of parameters
- forms: one way to write a staff form, and every error of it at once
- navigation: the staff header's pages, by role
- formatting: template filters (NHS numbers, London times, phone numbers as written,
  languages by their English name, ages)
- security: headers on every response, and the error pages
"""
