"""FHIR R4 export (SPEC §12).

- questionnaire: each questionnaire version as a `Questionnaire`, `show_if` as
  `enableWhen` or FHIRPath
- records: responses, flags (SDOH `Observation`s) and tasks, as what patients and staff did
- referrals: each referral as a `ServiceRequest` and its `Task`, each service referred to
  as an `Organization` (SPEC §13)
- export: every resource as NDJSON, audited
"""
