"""What every step stands on, knowing no step of the pathway.

- constants: statuses, roles, funnel stages: one vocabulary
- clock: the one `now()`, which `--now` and tests can move
- db: the engine (SQLite WAL pragmas), the session, UTC datetimes on every backend
- extensions: Flask's extensions, created here and bound by the app factory
- yamlsource: YAML with the line of every node; pydantic errors as `FILE:LINE`
- refusals: `Refused` (and `Conflict`, `NotFound`): what a step will not change, by field
- numbers: whole numbers from outside, read without an exception
- identifiers: NHS numbers (modulus 11) and UK phone numbers
- logs: JSON log lines with a request id; one line per request, by route
- i18n: the app's own words in the patient's language (translations/: for translators)
"""
