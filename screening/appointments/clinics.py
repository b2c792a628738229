"""Keep the `clinics` table in step with `config/clinics.yaml`.

The table exists so appointments and episodes can refer to a clinic by code, and so
reports still name a clinic after it is removed from the file (it is marked inactive).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Config
from ..models import Clinic


def sync_clinics(session: Session, config: Config) -> int:
    """Insert or update every configured clinic; return how many are configured."""
    stored = {clinic.code: clinic for clinic in session.scalars(select(Clinic))}
    for code, clinic in config.clinics.items():
        row = stored.get(code) or Clinic(code=code)
        row.name = clinic.name
        row.hospital = clinic.hospital
        row.questionnaire_id = clinic.questionnaire
        row.active = True
        session.add(row)
    for code, row in stored.items():
        if code not in config.clinics:
            row.active = False
    return len(config.clinics)
