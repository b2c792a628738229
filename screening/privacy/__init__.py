"""Data protection: the retention purge and the subject-access report (SPEC §5)."""
