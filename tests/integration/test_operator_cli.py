"""`lrs-ws user ...` and `lrs-ws org ...`: an operator's everyday changes, each audited; an unknown name is
one plain line, exit 2, and changes nothing. Run through the command's own entry point on both backends."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from support.dbstate import db_state
from support.demo import DEMO1_USER, DEMO_PASSWORD, JAMES

from lrs_ws.app import Wiring
from lrs_ws.cli import main
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.passwords import verify_password
from lrs_ws.service.auth import authenticate

TABLES = ("organisations", "users", "login_failures", "audit_events")


@pytest.fixture
def cli_env(demo_wiring: Wiring, monkeypatch: pytest.MonkeyPatch) -> Wiring:
    monkeypatch.setenv("LRS_WS_DATABASE_URL", demo_wiring.settings.database_url)
    monkeypatch.setenv("LRS_WS_LOG_JSON", "false")
    return demo_wiring


def audit_events(wiring: Wiring) -> list[dict[str, object]]:
    with wiring.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT username, operation, organisation_id, before, after FROM audit_events "
                "WHERE username LIKE 'operator:%' ORDER BY id"
            )
        ).mappings()
        return [dict(r) for r in rows]


def user_row(wiring: Wiring, name: str) -> dict[str, object]:
    with wiring.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM users WHERE username = :n"), {"n": name}).mappings().one()
        return dict(row)


def fail_logins(wiring: Wiring, name: str, n: int, source: str = "") -> None:
    """`n` failed logins of the user name from `source` (authenticate's default source is "")."""
    now = utcnow()
    with wiring.uow_factory() as uow:
        for i in range(n):
            uow.login_failures.reserve(name, source, now - timedelta(seconds=i), now - timedelta(hours=1), n)
        uow.commit()


def table_lines(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines()[1:]}


def test_user_list_shows_organisation_roles_active_and_lock_out(
    cli_env: Wiring, capsys: pytest.CaptureFixture[str]
) -> None:
    fail_logins(cli_env, "demo2.edc", cli_env.settings.login_failure_limit)
    assert main(["user", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["USER", "ORGANISATION", "ROLES", "ACTIVE", "LOCKED", "OUT"]
    rows = table_lines(out)
    assert rows["demo1.edc"] == ["demo1.edc", "DEMO01", "AO_USER,", "EDC_USER", "yes", "no"]
    assert rows["demo2.edc"][-2:] == ["yes", "yes"]
    assert rows["lrs.support"][1] == "LRS001"

    assert main(["user", "list", "--org", "demo02"]) == 0
    assert list(table_lines(capsys.readouterr().out)) == ["demo2.edc"]


def test_user_unlock_forgets_every_failure_of_the_user_and_is_audited(
    cli_env: Wiring, capsys: pytest.CaptureFixture[str]
) -> None:
    limit = cli_env.settings.login_failure_limit
    fail_logins(cli_env, "demo1.edc", limit)
    fail_logins(cli_env, "demo2.edc", 1)
    with pytest.raises(Exception, match="Authentication failed"):
        authenticate(
            cli_env.uow_factory(),
            username="demo1.edc",
            password=DEMO_PASSWORD,
            organisation_ref="DEMO01",
        )

    assert main(["user", "unlock", "demo1.edc"]) == 0
    assert capsys.readouterr().out.strip() == "user demo1.edc unlocked"
    caller = authenticate(
        cli_env.uow_factory(), username="demo1.edc", password=DEMO_PASSWORD, organisation_ref="DEMO01"
    )
    assert caller.username == "demo1.edc"
    with cli_env.engine.connect() as conn:
        left = conn.execute(text("SELECT username FROM login_failures")).scalars().all()
    assert left == ["demo2.edc"]
    event = audit_events(cli_env)[-1]
    assert event["operation"] == "user unlock"
    assert str(event["username"]).startswith("operator:")
    assert json.loads(str(event["before"])) == {"User": "demo1.edc", "FailedLogins": limit}


def test_user_reset_password_reads_stdin_hashes_it_and_audits_without_the_password(
    cli_env: Wiring, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("A-new-password-42\n"))
    assert main(["user", "reset-password", "demo2.edc", "--password-stdin"]) == 0
    assert capsys.readouterr().out.strip() == "password of user demo2.edc changed"
    stored = str(user_row(cli_env, "demo2.edc")["password_hash"])
    assert stored.startswith("scrypt$") and verify_password("A-new-password-42", stored)
    assert not verify_password(DEMO_PASSWORD, stored)
    event = audit_events(cli_env)[-1]
    assert event["operation"] == "user reset-password"
    assert "A-new-password-42" not in json.dumps(event) and stored not in json.dumps(event)


def test_deactivate_activate_and_roles_change_the_user_and_are_audited(
    cli_env: Wiring, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "deactivate", "demo2.edc"]) == 0
    assert user_row(cli_env, "demo2.edc")["active"] in (False, 0)
    assert main(["user", "deactivate", "demo2.edc"]) == 0
    assert main(["user", "activate", "demo2.edc"]) == 0
    assert user_row(cli_env, "demo2.edc")["active"] in (True, 1)
    assert main(["user", "roles", "demo2.edc", "--set", "edc_user, AO_USER"]) == 0
    assert main(["user", "roles", "demo2.edc", "--set", "EDC_USER"]) == 0
    assert user_row(cli_env, "demo2.edc")["roles"] == "EDC_USER"
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "user demo2.edc is now inactive",
        "user demo2.edc is already inactive; nothing changed",
        "user demo2.edc is now active",
        "user demo2.edc already has these roles; nothing changed",
        "user demo2.edc roles set",
    ]
    events = [(e["operation"], e["after"]) for e in audit_events(cli_env)]
    assert [op for op, _ in events] == ["user deactivate", "user activate", "user roles"]
    assert json.loads(str(events[-1][1])) == {"User": "demo2.edc", "Roles": "EDC_USER"}


def test_org_list_deactivate_and_activate(cli_env: Wiring, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["org", "deactivate", "DEMO02"]) == 0
    assert main(["org", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "organisation DEMO02 is now inactive"
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert rows["DEMO02"].split()[-3:] == ["yes", "no", "1"]  # batch-enabled, inactive, one user
    with pytest.raises(Exception, match="Authentication failed"):
        authenticate(
            cli_env.uow_factory(),
            username="demo2.edc",
            password=DEMO_PASSWORD,
            organisation_ref="DEMO02",
        )
    assert main(["org", "activate", "DEMO02"]) == 0
    authenticate(
        cli_env.uow_factory(), username="demo2.edc", password=DEMO_PASSWORD, organisation_ref="DEMO02"
    )
    assert [e["operation"] for e in audit_events(cli_env)] == [
        "organisation deactivate",
        "organisation activate",
    ]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["user", "unlock", "nobody.here"], "lrs-ws: No user nobody.here."),
        (["user", "deactivate", "nobody.here"], "lrs-ws: No user nobody.here."),
        (["user", "activate", "nobody.here"], "lrs-ws: No user nobody.here."),
        (["user", "roles", "nobody.here", "--set", "AO_USER"], "lrs-ws: No user nobody.here."),
        (
            ["user", "roles", DEMO1_USER, "--set", "AO_USER,ROOT"],
            "lrs-ws: roles must be chosen from AO_USER, EDC_USER, LRS_SUPPORT, AO_ADMIN.",
        ),
        (["user", "list", "--org", "DEMO99"], "lrs-ws: No organisation DEMO99."),
        (["org", "deactivate", "DEMO99"], "lrs-ws: No organisation DEMO99."),
        (["org", "activate", "DEMO-1"], "lrs-ws: OrganisationRef must be 6 letters or digits."),
        (
            ["user", "add", "x.y", "--org", "DEMO99", "--email", "x@y.example", "--roles", "AO_USER"],
            "lrs-ws: No organisation DEMO99.",
        ),
    ],
)
def test_an_unknown_name_is_one_plain_line_exit_2_and_changes_nothing(
    cli_env: Wiring,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    line: str,
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("A-long-enough-password\n"))
    before = db_state(cli_env.engine, TABLES)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line] and captured.out == ""
    assert db_state(cli_env.engine, TABLES) == before


def test_a_short_new_password_is_refused_and_the_old_one_still_works(
    cli_env: Wiring, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    before = db_state(cli_env.engine, TABLES)
    assert main(["user", "reset-password", "demo1.edc"]) == 2
    assert capsys.readouterr().err.strip() == "lrs-ws: The password must be at least 12 characters long."
    assert db_state(cli_env.engine, TABLES) == before


def test_a_deactivated_user_or_organisation_cannot_be_sent_a_batch_file(
    cli_env: Wiring, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from lrs_ws.service.records import FIELD_NAMES

    path = tmp_path / "one.csv"
    path.write_text(
        ",".join(FIELD_NAMES) + "\n"
        f"2023-07-01,1,2024-01-05,,,Pickles,,James,Pass,English,,M1,10000002,{JAMES},K/501/5773\n",
        encoding="utf-8",
    )
    submit = ["batch", "submit", str(path), "--org", "DEMO02", "--user", "demo2.edc", "--no-wait"]
    assert main(["user", "deactivate", "demo2.edc"]) == 0
    assert main(["org", "deactivate", "DEMO02"]) == 0
    capsys.readouterr()
    before = db_state(cli_env.engine, ("batch_jobs",))
    assert main(submit) == 2
    assert capsys.readouterr().err.splitlines() == [
        "lrs-ws: The user demo2.edc is deactivated: it cannot submit batch files."
    ]
    assert main(["user", "activate", "demo2.edc"]) == 0
    assert main(submit) == 2
    assert capsys.readouterr().err.splitlines() == [
        "lrs-ws: The organisation DEMO02 is deactivated: it cannot submit batch files."
    ]
    assert db_state(cli_env.engine, ("batch_jobs",)) == before
