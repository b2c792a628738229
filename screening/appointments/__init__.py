"""A clinic's appointment list, imported (SPEC §4): from a CSV row to the patient, the
appointment and its episode.

- importer: `import_appointments`, batch by batch, and one row through the models
- reading: reading and checking the CSV, row by row, with `line N` reasons
- rows: what one row changes on a patient and an appointment
- batch: a batch as plain records, applied by the same rules as the models
- bulk: multi-row reads and writes for SQLite and PostgreSQL
- deaths: a `deceased` row stops every message and closes the patient's tasks
- clinics: the clinics table follows `config/clinics.yaml`
"""
