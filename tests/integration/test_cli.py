"""The `lrs-ws` administration commands against SQLite and PostgreSQL: most through the command's entry point
in this process, and `db upgrade`, `wsdl` and `serve` as the installed executable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect, text
from support.cli import run_cli as run
from support.databases import DEMO, database
from support.dbstate import db_state
from support.demo import AMIRA, DEMO1_USER, GRACE, JAMES, MASTER_ULN, MERGED_ULN, ORG1, OWEN, TEST_LEARNER
from support.server import free_port

from lrs_ws.app import wire
from lrs_ws.config import Settings
from lrs_ws.db.migrate import head_revision
from lrs_ws.domain.passwords import verify_password
from lrs_ws.service.auth import authenticate

REPO = Path(__file__).resolve().parents[2]
LRS_WS = Path(sys.executable).with_name("lrs-ws")
CORE_TABLES = (
    "organisations",
    "users",
    "learners",
    "learning_aims",
    "achievements",
    "event_data_challenges",
    "audit_events",
)


def run_executable(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `lrs-ws` as a process of its own, with `url` the only LRS_WS_ setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env["LRS_WS_DATABASE_URL"] = url
    return subprocess.run(
        [str(LRS_WS), *args], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
    )


def ok(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    done = run(url, *args, stdin=stdin)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr[-2000:]}"
    return done


def scalar(url: str, sql: str, **params: object) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def row_counts(url: str) -> dict[str, object]:
    return {t: scalar(url, f"SELECT count(*) FROM {t}") for t in CORE_TABLES}


@pytest.fixture(scope="module")
def demo_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One demo database per backend for this module: each test adds only names of its own, and every
    refusal compares the row counts before and after itself."""
    with database(backend, tmp_path_factory.mktemp("cli"), DEMO) as url:
        yield url


# -- db upgrade, demo-data -------------------------------------------------------------------------------


def test_db_upgrade_creates_every_table_says_from_where_to_where_and_can_run_again(blank_db_url: str) -> None:
    first = run_executable(blank_db_url, "db", "upgrade")
    assert first.returncode == 0, first.stderr[-2000:]
    head = head_revision()
    assert first.stdout == f"database upgraded from none (empty database) to {head} (the latest revision)\n"
    engine = create_engine(blank_db_url)
    try:
        assert set(CORE_TABLES) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    again = ok(blank_db_url, "db", "upgrade")
    assert again.stdout == f"database already at the latest revision ({head}); nothing to do\n"


def test_demo_data_loads_the_demo_world_into_a_migrated_database(blank_db_url: str) -> None:
    ok(blank_db_url, "db", "upgrade")
    done = ok(blank_db_url, "demo-data")
    assert "demo data loaded" in done.stdout
    counts = row_counts(blank_db_url)
    assert counts["organisations"] == 3 and counts["users"] == 4 and counts["learners"] == 7
    assert counts["achievements"] == 4 and counts["event_data_challenges"] == 3
    demo1_rows = scalar(
        blank_db_url,
        "SELECT count(*) FROM achievements a JOIN organisations o ON o.id = a.organisation_id"
        " WHERE o.ref = 'DEMO01' AND a.uln = :uln",
        uln=TEST_LEARNER,
    )
    assert demo1_rows == 3
    statuses = scalar(blank_db_url, "SELECT count(DISTINCT status) FROM event_data_challenges")
    assert statuses == 3
    engine = create_engine(blank_db_url)
    try:
        with engine.connect() as conn:
            orgs = {
                r.ref: (r.ukprn, bool(r.batch_enabled), r.name)
                for r in conn.execute(text("SELECT ref, ukprn, batch_enabled, name FROM organisations"))
            }
            users = {
                r.username: (r.ref, r.roles, bool(r.active))
                for r in conn.execute(
                    text(
                        "SELECT u.username, o.ref, u.roles, u.active FROM users u JOIN organisations o"
                        " ON o.id = u.organisation_id"
                    )
                )
            }
            names = {
                r.uln: (r.given_name, r.family_name)
                for r in conn.execute(text("SELECT uln, given_name, family_name FROM learners"))
            }
    finally:
        engine.dispose()
    assert orgs["DEMO01"][:2] == ("10000001", True) and orgs["DEMO02"][:2] == ("10000002", True)
    assert orgs["LRS001"][2] == "LRS Business Support"
    assert users == {
        "demo1.edc": ("DEMO01", "AO_USER,EDC_USER", True),
        "demo2.edc": ("DEMO02", "AO_USER,EDC_USER", True),
        "lrs.support": ("LRS001", "LRS_SUPPORT", True),
        "demo1.admin": ("DEMO01", "AO_ADMIN", True),
    }
    assert names[TEST_LEARNER] == ("Test", "Learner") and names[JAMES] == ("James", "Pickles")


def test_demo_data_run_twice_changes_nothing_the_second_time(blank_db_url: str) -> None:
    ok(blank_db_url, "db", "upgrade")
    ok(blank_db_url, "demo-data")
    before = row_counts(blank_db_url)
    hashes = scalar(blank_db_url, "SELECT min(password_hash) FROM users")
    done = ok(blank_db_url, "demo-data")
    assert "nothing changed" in done.stdout
    assert row_counts(blank_db_url) == before
    assert scalar(blank_db_url, "SELECT min(password_hash) FROM users") == hashes


# -- org add -----------------------------------------------------------------------------------------------


def test_org_add_creates_an_organisation(demo_url: str) -> None:
    done = ok(
        demo_url, "org", "add", "miap09", "--name", "MIAP Org", "--ukprn", "10012345", "--batch-enabled"
    )
    assert "MIAP09" in done.stdout
    assert scalar(demo_url, "SELECT name FROM organisations WHERE ref = 'MIAP09'") == "MIAP Org"
    assert scalar(demo_url, "SELECT batch_enabled FROM organisations WHERE ref = 'MIAP09'") in (True, 1)


@pytest.mark.parametrize(
    "args",
    [
        (ORG1, "--name", "Again", "--ukprn", "10000009"),  # exists
        ("AB12", "--name", "Short ref", "--ukprn", "10000009"),
        ("NEWORG", "--name", "Bad UKPRN", "--ukprn", "123"),
        ("NEWORG", "--name", "Bad UKPRN", "--ukprn", "09999999"),
    ],
    ids=["duplicate", "short-ref", "short-ukprn", "ukprn-below-range"],
)
def test_org_add_refuses_bad_input_and_changes_nothing(demo_url: str, args: tuple[str, ...]) -> None:
    before = row_counts(demo_url)
    done = run(demo_url, "org", "add", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("lrs-ws: ") and "Traceback" not in done.stderr
    assert row_counts(demo_url) == before


# -- user add ------------------------------------------------------------------------------------------------

NEW_PASSWORD = "Correct-Horse-Battery-9"


def test_user_add_reads_the_password_from_stdin_and_stores_only_a_scrypt_hash(demo_url: str) -> None:
    done = ok(
        demo_url,
        "user",
        "add",
        "alice.ao",
        "--org",
        "DEMO01",
        "--email",
        "alice@demo1.example",
        "--roles",
        "AO_USER,EDC_USER",
        "--password-stdin",
        stdin=NEW_PASSWORD + "\n",
    )
    assert NEW_PASSWORD not in done.stdout + done.stderr
    stored = str(scalar(demo_url, "SELECT password_hash FROM users WHERE username = 'alice.ao'"))
    assert stored.startswith("scrypt$") and NEW_PASSWORD not in stored
    assert verify_password(NEW_PASSWORD, stored) and not verify_password(NEW_PASSWORD + "x", stored)
    assert scalar(demo_url, "SELECT roles FROM users WHERE username = 'alice.ao'") == "AO_USER,EDC_USER"
    w = wire(Settings(database_url=demo_url))
    try:
        caller = authenticate(
            w.uow_factory(), username="alice.ao", password=NEW_PASSWORD, organisation_ref="DEMO01"
        )
    finally:
        w.engine.dispose()
    assert caller.organisation_ref == "DEMO01" and caller.has("EDC_USER")


def test_user_add_reads_a_piped_password_without_the_flag(demo_url: str) -> None:
    ok(
        demo_url,
        "user",
        "add",
        "bob.ao",
        "--org",
        "DEMO02",
        "--email",
        "bob@demo2.example",
        "--roles",
        "AO_USER",
        stdin=NEW_PASSWORD + "\n",
    )
    assert verify_password(
        NEW_PASSWORD, str(scalar(demo_url, "SELECT password_hash FROM users WHERE username = 'bob.ao'"))
    )


def test_two_users_with_the_same_password_get_different_hashes(demo_url: str) -> None:
    for name in ("carol.ao", "dave.ao"):
        ok(
            demo_url,
            "user",
            "add",
            name,
            "--org",
            "DEMO01",
            "--email",
            f"{name}@demo1.example",
            "--roles",
            "AO_USER",
            "--password-stdin",
            stdin=NEW_PASSWORD,
        )
    assert (
        scalar(
            demo_url,
            "SELECT count(DISTINCT password_hash) FROM users WHERE username IN ('carol.ao', 'dave.ao')",
        )
        == 2
    )


@pytest.mark.parametrize(
    "args, password",
    [
        (("short.pw", "--org", ORG1, "--roles", "AO_USER"), "elevenchars"),
        ((DEMO1_USER, "--org", ORG1, "--roles", "AO_USER"), NEW_PASSWORD),  # exists
        (("no.org", "--org", "NOORG1", "--roles", "AO_USER"), NEW_PASSWORD),
        (("bad.role", "--org", ORG1, "--roles", "SUPERUSER"), NEW_PASSWORD),
    ],
    ids=["short-password", "duplicate", "unknown-org", "unknown-role"],
)
def test_user_add_refuses_bad_input_and_changes_nothing(
    demo_url: str, args: tuple[str, ...], password: str
) -> None:
    before = row_counts(demo_url)
    done = run(
        demo_url, "user", "add", *args, "--email", "x@demo1.example", "--password-stdin", stdin=password
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("lrs-ws: ") and password not in done.stdout + done.stderr
    assert row_counts(demo_url) == before


def test_a_short_password_is_refused_with_its_minimum_length(demo_url: str) -> None:
    done = run(
        demo_url,
        "user",
        "add",
        "short.pw",
        "--org",
        "DEMO01",
        "--email",
        "s@demo1.example",
        "--roles",
        "AO_USER",
        "--password-stdin",
        stdin="elevenchars",
    )
    assert "at least 12 characters" in done.stderr


# -- learner import ----------------------------------------------------------------------------------------

LEARNER_CSV = f"""Uln,GivenName,FamilyName,DateOfBirth,Gender,Postcode
9204574738,Priya,Shah,2003-02-01,2,E1 6AN
3415521948,Bad,Checkdigit,2000-01-01,1,
1000000000,,Nameless,2000-01-01,1,
{JAMES},Jim,Pickles,1999-03-14,1,B1 1AA
{GRACE},Grace,Okafor,2002-01-04,2,POSTCODE-TOO-LONG
{OWEN},Owen,Jones,1998-01-02,7,
"""


def test_learner_import_adds_and_updates_good_rows_and_reports_bad_rows_by_line(
    demo_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "learners.csv"
    csv_file.write_text(LEARNER_CSV, encoding="utf-8")
    done = run(demo_url, "learner", "import", str(csv_file))
    assert done.returncode == 1
    assert "1 learners added, 1 updated, 4 rows refused" in done.stdout
    reported = [line.split(":")[0] for line in done.stderr.splitlines() if line.startswith("line ")]
    assert reported == ["line 3", "line 4", "line 6", "line 7"]
    assert "ULN" in done.stderr and "Traceback" not in done.stderr
    assert scalar(demo_url, "SELECT family_name FROM learners WHERE uln = '9204574738'") == "Shah"
    assert scalar(demo_url, "SELECT given_name FROM learners WHERE uln = :uln", uln=JAMES) == "Jim"
    assert scalar(demo_url, "SELECT count(*) FROM learners WHERE uln IN ('3415521948', '1000000000')") == 0
    assert scalar(demo_url, "SELECT gender FROM learners WHERE uln = :uln", uln=OWEN) == 1


def test_learner_import_of_a_clean_file_exits_zero(demo_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "clean.csv"
    csv_file.write_text("Uln,GivenName,FamilyName\n1000000019,Zed,Zero\n", encoding="utf-8")
    done = ok(demo_url, "learner", "import", str(csv_file))
    assert "1 learners added, 0 updated, 0 rows refused" in done.stdout


def test_learner_import_refuses_a_file_without_the_required_columns(demo_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "wrong.csv"
    csv_file.write_text("ULN;Name\n9204574738;Priya Shah\n", encoding="utf-8")
    before = row_counts(demo_url)
    done = run(demo_url, "learner", "import", str(csv_file))
    assert done.returncode == 2 and "header" in done.stderr
    assert row_counts(demo_url) == before


# -- previous family names and linked (merged) ULNs -------------------------------------------------------

LINKING_CSV = """Uln,GivenName,FamilyName,DateOfBirth,Gender,Postcode,PreviousFamilyName,MergedIntoUln
5239384990,Lena,Fischer,2001-02-03,2,,,2619730693
2619730693,Lena,Novak,2001-02-03,2,,Fischer,
7989355727,Tom,Self,2000-01-01,1,,,7989355727
1777778688,Tom,Nowhere,2000-01-01,1,,,9818365533
6753989225,Tom,Chain,2000-01-01,1,,,5239384990
2010713647,Tom,Badlink,2000-01-01,1,,,1234567890
"""


def test_learner_import_reads_previous_family_names_and_links_merged_ulns_once_every_row_is_in(
    demo_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "linking.csv"
    csv_file.write_text(LINKING_CSV, encoding="utf-8")
    done = run(demo_url, "learner", "import", str(csv_file))
    assert done.returncode == 1, done.stderr
    assert "5 learners added, 0 updated, 4 rows refused, 1 linked" in done.stdout
    assert done.stderr.splitlines() == [
        "line 4: MergedIntoUln: ULN 7989355727 cannot be linked into itself. The learner was imported, not "
        "linked.",
        "line 5: MergedIntoUln: No learner with ULN 9818365533 is on the register. The learner was imported, "
        "not linked.",
        "line 6: MergedIntoUln: ULN 5239384990 is itself linked into 2619730693: link 6753989225 into "
        "2619730693 instead. The learner was imported, not linked.",
        "line 7: MergedIntoUln is not a valid ULN.",
    ]
    assert scalar(demo_url, "SELECT merged_into FROM learners WHERE uln = '5239384990'") == "2619730693"
    assert scalar(demo_url, "SELECT previous_family_name FROM learners WHERE uln = '2619730693'") == "Fischer"
    assert (
        scalar(
            demo_url,
            "SELECT count(*) FROM learners WHERE merged_into IS NOT NULL"
            " AND uln IN ('7989355727', '1777778688', '6753989225')",
        )
        == 0
    )
    assert scalar(demo_url, "SELECT count(*) FROM learners WHERE uln = '2010713647'") == 0
    assert scalar(demo_url, "SELECT after FROM audit_events WHERE operation = 'learner link'") == (
        '{"MergedInto": "2619730693", "Uln": "5239384990"}'
    )

    # A file of the old shape updates names and leaves previous family names and links as they are.
    old_file = tmp_path / "old.csv"
    old_file.write_text("Uln,GivenName,FamilyName\n2619730693,Lena,Novak-Fischer\n", encoding="utf-8")
    updated = ok(demo_url, "learner", "import", str(old_file))
    assert "0 learners added, 1 updated, 0 rows refused" in updated.stdout
    assert scalar(demo_url, "SELECT previous_family_name FROM learners WHERE uln = '2619730693'") == "Fischer"
    assert scalar(demo_url, "SELECT merged_into FROM learners WHERE uln = '5239384990'") == "2619730693"


def test_learner_link_records_the_merge_audited_and_says_so_when_run_again(
    demo_url: str, tmp_path: Path
) -> None:
    master = "7257638631"
    csv_file = tmp_path / "two.csv"
    csv_file.write_text(f"Uln,GivenName,FamilyName\n{master},Ines,Costa\n9818365533,Ines,Silva\n")
    ok(demo_url, "learner", "import", str(csv_file))
    done = ok(demo_url, "learner", "link", "9818365533", "--into", master)
    assert done.stdout == f"ULN 9818365533 is now linked into {master}\n"
    assert scalar(demo_url, "SELECT merged_into FROM learners WHERE uln = '9818365533'") == master
    assert scalar(
        demo_url,
        "SELECT username FROM audit_events WHERE operation = 'learner link' AND after LIKE :a",
        a="%9818365533%",
    ).startswith("operator:")
    before = db_state(demo_url)
    again = ok(demo_url, "learner", "link", "9818365533", "--into", master)
    assert again.stdout == f"ULN 9818365533 is already linked into {master}; nothing changed\n"
    assert db_state(demo_url) == before


LINK_REFUSALS = [
    ((TEST_LEARNER, "--into", TEST_LEARNER), f"lrs-ws: ULN {TEST_LEARNER} cannot be linked into itself."),
    (
        (TEST_LEARNER, "--into", "1777778689"),
        "lrs-ws: The ULN is not valid: it must be 10 digits with a correct check digit.",
    ),
    ((TEST_LEARNER, "--into", "2010713647"), "lrs-ws: No learner with ULN 2010713647 is on the register."),
    (("2010713647", "--into", TEST_LEARNER), "lrs-ws: No learner with ULN 2010713647 is on the register."),
    (
        (AMIRA, "--into", MERGED_ULN),
        f"lrs-ws: ULN {MERGED_ULN} is itself linked into {MASTER_ULN}: "
        f"link {AMIRA} into {MASTER_ULN} instead.",
    ),
    (
        (MASTER_ULN, "--into", AMIRA),
        f"lrs-ws: ULN {MASTER_ULN} is the master of {MERGED_ULN}: it cannot be linked into another ULN "
        "(links are one level deep).",
    ),
    ((MERGED_ULN, "--into", AMIRA), f"lrs-ws: ULN {MERGED_ULN} is already linked into {MASTER_ULN}."),
]


@pytest.mark.parametrize(
    ("args", "says"),
    LINK_REFUSALS,
    ids=[
        "itself",
        "invalid ULN",
        "unknown master",
        "unknown ULN",
        "chain through the master",
        "chain through the ULN",
        "already linked elsewhere",
    ],
)
def test_a_learner_link_that_cannot_be_made_is_refused_in_one_line_and_changes_nothing(
    demo_url: str, args: tuple[str, ...], says: str
) -> None:
    before = db_state(demo_url)
    done = run(demo_url, "learner", "link", *args)
    assert (done.returncode, done.stderr, done.stdout) == (2, says + "\n", "")
    assert db_state(demo_url) == before


# -- wsdl --------------------------------------------------------------------------------------------------


def test_wsdl_needs_no_database() -> None:
    done = run_executable("postgresql+psycopg://nobody@127.0.0.1:1/none", "wsdl")
    assert done.returncode == 0
    assert done.stdout.startswith("<?xml") and "GetLearnerAchievements" in done.stdout


# -- serve -------------------------------------------------------------------------------------------------


def test_serve_migrates_the_database_and_publishes_the_bound_address(
    blank_db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env.update(LRS_WS_DATABASE_URL=blank_db_url, HOME=str(tmp_path))
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [str(LRS_WS), "serve", "--port", str(port), "--workers", "1", "--no-worker"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "lrs-ws serve did not answer within 60 s"
            time.sleep(0.2)
        wsdl = requests.get(f"{base}/ExternalService.svc?wsdl", timeout=10)
        assert f'location="{base}/ExternalService.svc"'.encode() in wsdl.content
        assert scalar(blank_db_url, "SELECT count(*) FROM organisations") == 0  # migrated, empty
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
