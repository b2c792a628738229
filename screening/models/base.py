"""What every table shares: the declarative base's helpers and the created time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from ..core import clock
from ..core.db import UTCDateTime


def one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


# The timestamps that mark the funnel's stages (SPEC §7), in the order of FUNNEL_STAGES.


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
