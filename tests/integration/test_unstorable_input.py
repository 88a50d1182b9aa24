"""Text no answer could carry (control characters, U+FFFE/U+FFFF, other noncharacters) is refused at every
command that stores it, as a clear error naming the field, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support.databases import DEMO, database
from support.dbstate import db_state
from test_cli import CORE_TABLES, run

ALL_TABLES = (*CORE_TABLES, "outbox_messages")


@pytest.fixture(scope="module")
def demo_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database(backend, tmp_path_factory.mktemp("unstorable"), DEMO) as url:
        yield url


def refused(url: str, *args: str, stdin: str = "") -> str:
    """The command fails with exit 2 and one line, and no row of any table changed; returns stderr."""
    before = db_state(url, ALL_TABLES)
    done = run(url, *args, stdin=stdin)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("lrs-ws: ") and "Traceback" not in done.stderr
    assert db_state(url, ALL_TABLES) == before
    return done.stderr


@pytest.mark.parametrize("bad, code", [("\uffff", "U+FFFF"), ("\x0b", "U+000B"), ("\x85", "U+0085")])
def test_org_add_refuses_a_name_holding_a_character_that_cannot_be_stored(
    demo_url: str, bad: str, code: str
) -> None:
    err = refused(demo_url, "org", "add", "BADCH1", "--name", f"Bad{bad}Org", "--ukprn", "10000019")
    assert "name contains a character that cannot be stored" in err and code in err


@pytest.mark.parametrize(
    "name, email",
    [
        ("bad\ufffename", "ok@demo1.example"),
        ("okname.ao", "a,b@demo1.example"),
        ("okname.ao", "mi@demo1.example\nBcc: x@evil.example"),
    ],
    ids=["username", "email-list", "email-header"],
)
def test_user_add_refuses_a_value_that_cannot_be_stored_or_is_not_one_address(
    demo_url: str, name: str, email: str
) -> None:
    refused(
        demo_url,
        "user",
        "add",
        name,
        "--org",
        "DEMO01",
        "--email",
        email,
        "--roles",
        "AO_USER",
        "--password-stdin",
        stdin="Correct-Horse-Battery-9",
    )


def test_learner_import_refuses_a_row_holding_a_character_that_cannot_be_stored(
    demo_url: str, tmp_path: Path
) -> None:
    before = db_state(demo_url, ALL_TABLES)
    csv_file = tmp_path / "learners.csv"
    csv_file.write_text(
        "Uln,GivenName,FamilyName,DateOfBirth,Gender,Postcode\n9204574738,Pri\uffffya,Shah,2003-02-01,2,\n",
        encoding="utf-8",
    )
    done = run(demo_url, "learner", "import", str(csv_file))
    assert done.returncode == 1
    assert "line 2" in done.stderr and "GivenName contains a character that cannot be stored" in done.stderr
    assert db_state(demo_url, ALL_TABLES) == before


def test_edc_raise_refuses_a_description_holding_a_character_that_cannot_be_stored(demo_url: str) -> None:
    engine = create_engine(demo_url)
    try:
        with engine.connect() as conn:
            achievement_id = conn.execute(text("SELECT min(id) FROM achievements")).scalar_one()
    finally:
        engine.dispose()
    err = refused(
        demo_url,
        "edc",
        "raise",
        "--achievement",
        str(achievement_id),
        "--problem",
        "Duplicate",
        "--description",
        "Uploaded\x1ftwice",
        "--action",
        "Withdraw",
        "--user",
        "lrs.support",
    )
    assert "description contains a character that cannot be stored (U+001F" in err
