"""`lrs-ws changes`, run as the real executable against SQLite and PostgreSQL: the same changes as
ListAchievementChanges, one JSON object a line, the last line the cursor to continue from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.demo import DEMO2_USER, ORG2

from lrs_ws.service import achievements, feed
from lrs_ws.service.auth import Caller

LRS_WS = Path(sys.executable).with_name("lrs-ws")


def changes(wiring: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env["LRS_WS_DATABASE_URL"] = wiring.settings.database_url
    return subprocess.run(
        [str(LRS_WS), "changes", *args], env=env, capture_output=True, text=True, timeout=120
    )


def lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def demo2_caller(wiring: Any) -> Caller:
    with wiring.uow_factory() as uow:
        user = uow.users.by_username(DEMO2_USER)
        assert user is not None and user.id is not None
        return Caller(user.id, user.username, user.organisation_id, ORG2, user.role_set, user.email)


def test_changes_prints_each_change_as_a_json_line_and_the_next_cursor_last(demo_wiring: Any) -> None:
    printed = lines(changes(demo_wiring, "--org", "DEMO02"))
    org = demo2_caller(demo_wiring).organisation_id
    expected = feed.changes_of(demo_wiring.uow_factory(), organisation_id=org, cursor=None, page_size=500)
    assert [(c["Sequence"], c["Kind"], c["Achievement"]["AchievementId"]) for c in printed[:-1]] == [
        (c.seq, c.kind, c.achievement.id) for c in expected.changes
    ]
    assert printed[-1] == {"NextCursor": expected.next_cursor}


def test_changes_since_a_cursor_prints_only_what_changed_after_it(demo_wiring: Any) -> None:
    first = lines(changes(demo_wiring, "--org", "DEMO02"))
    caller = demo2_caller(demo_wiring)
    aid = first[0]["Achievement"]["AchievementId"]
    achievements.edit_grade(demo_wiring.uow_factory(), caller=caller, achievement_id=aid, new_grade="Merit")
    printed = lines(changes(demo_wiring, "--org", "DEMO02", "--since", first[-1]["NextCursor"]))
    assert len(printed) == 2
    assert (printed[0]["Kind"], printed[0]["Achievement"]["AchievementId"]) == ("GradeEdited", aid)
    assert printed[0]["Achievement"]["Grade"] == "Merit"
    again = changes(demo_wiring, "--org", "DEMO02", "--since", printed[-1]["NextCursor"])
    assert lines(again) == [printed[-1]]


def test_changes_refuses_a_cursor_of_another_organisation_in_one_line(demo_wiring: Any) -> None:
    theirs = lines(changes(demo_wiring, "--org", "DEMO02"))[-1]["NextCursor"]
    done = changes(demo_wiring, "--org", "DEMO01", "--since", theirs)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("lrs-ws: The cursor is not one this service gave")
    assert done.stderr.count("\n") == 1


def test_changes_refuses_an_unknown_organisation(demo_wiring: Any) -> None:
    done = changes(demo_wiring, "--org", "NOPE01")
    assert done.returncode == 2 and done.stdout == "" and "NOPE01" in done.stderr
