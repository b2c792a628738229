"""Data protection (SPEC §5).

- purge: the retention purge, keeping every count the funnel needs
- subject_access: everything held about one patient
"""
