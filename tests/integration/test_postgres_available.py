"""CI must never skip the PostgreSQL tests silently: there, a missing server is a failure."""

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

try:
    from support.pg import postgres_url
except ImportError:  # tests/ is not on sys.path when no conftest or pytest setting puts it there
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from support.pg import postgres_url

pytestmark = pytest.mark.postgres


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def test_a_postgresql_server_answers_select_1() -> None:
    url = postgres_url()
    if url is None:
        if _in_ci():
            pytest.fail("CI=true but no PostgreSQL server: set LRS_WS_TEST_PG_URL or install PostgreSQL")
        pytest.skip("no PostgreSQL server: set LRS_WS_TEST_PG_URL or install PostgreSQL")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar_one() == 1
    finally:
        engine.dispose()
