"""screening: social-needs screening before outpatient clinics.

`create_app()` builds the WSGI app (`flask --app screening run`,
`gunicorn 'screening:create_app()'`); `screening.cli` is the `screening` command.

The packages follow one patient along the pathway, each importing only those before it:
core, models, questionnaire, config, mail, staff, invitations, sms, practices, triage,
referrals, patient, appointments, reports, privacy, fhir, then views and cli (README,
Architecture).
"""

from .app import create_app

__all__ = ["create_app"]
