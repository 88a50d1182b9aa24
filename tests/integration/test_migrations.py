"""`alembic upgrade head` from an empty database builds exactly the schema the models describe.

The comparison takes the whole of `lrs_ws.db.schema.metadata`, so every table module's migration is
checked too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from lrs_ws.db.schema import metadata

REPO = Path(__file__).resolve().parents[2]


def _alembic_upgrade_head(url: str) -> None:
    env = {**os.environ, "LRS_WS_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _diffs(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_alembic_upgrade_head_from_an_empty_database_equals_the_models(blank_db_url: str) -> None:
    _alembic_upgrade_head(blank_db_url)
    assert _diffs(blank_db_url) == []


def test_every_table_of_the_models_exists_after_the_upgrade(blank_db_url: str) -> None:
    _alembic_upgrade_head(blank_db_url)
    engine = create_engine(blank_db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(metadata.tables) <= tables
    assert tables - set(metadata.tables) == {"alembic_version"}


def test_the_comparison_notices_a_schema_that_differs_from_the_models(blank_db_url: str) -> None:
    """Guards the guard: a missing index and an extra column are reported."""
    _alembic_upgrade_head(blank_db_url)
    engine = create_engine(blank_db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_event_data_challenges_organisation_id_status")
            conn.exec_driver_sql("ALTER TABLE learners ADD COLUMN nickname VARCHAR(20)")
    finally:
        engine.dispose()
    kinds = {d[0] for d in _diffs(blank_db_url) if isinstance(d, tuple)}
    assert {"add_index", "remove_column"} <= kinds
