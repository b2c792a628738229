"""FHIR R4 resources (SPEC §12): the questionnaires as `Questionnaire`, each submitted
response as a `QuestionnaireResponse`, each flag as an SDOH `Observation` and each triage
task as a `Task`. `questionnaire.py` maps the YAML model and its `show_if` conditions;
`records.py` maps what patients and staff did; `export.py` writes them as NDJSON."""
