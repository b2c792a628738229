"""What the benchmarks share: the repository root, test NHS numbers, scratch databases."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_URL = os.environ.get(
    "SCREENING_BENCH_POSTGRES_URL",
    os.environ.get(
        "SCREENING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
)


def nhs_numbers() -> Iterator[str]:
    """Valid NHS numbers of the 999 test range, in order (about 909,000 of them)."""
    weights = range(10, 1, -1)
    for serial in range(1_000_000):
        stem = f"999{serial:06d}"
        check = (11 - sum(int(d) * w for d, w in zip(stem, weights, strict=True)) % 11) % 11
        if check != 10:
            yield stem + str(check)


def create_postgres(prefix: str) -> str | None:
    """A fresh PostgreSQL database for one run; its URL, or None when there is none here."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:  # any failure means: no PostgreSQL here
        print(f"PostgreSQL unavailable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}")
        return None
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()
