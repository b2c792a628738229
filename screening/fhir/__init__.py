"""FHIR R4 export (SPEC §12).

- questionnaire: each questionnaire version as a `Questionnaire`, `show_if` as
  `enableWhen` or FHIRPath
- records: responses, flags (SDOH `Observation`s) and tasks, as what patients and staff did
- export: every resource as NDJSON, audited
"""
