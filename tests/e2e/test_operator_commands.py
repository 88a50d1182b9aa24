"""An operator's commands take effect on the running service at once: a locked-out user logs in again right
after `lrs-ws user unlock`, and a deactivated user or organisation is refused over SOAP like any bad login."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.demo import ORG1, TEST_LEARNER
from support.server import LiveServer
from support.soap import client_for, expect_fault

from lrs_ws.service import admin

LRS_WS = Path(sys.executable).with_name("lrs-ws")
FAILURE_LIMIT = 3


@pytest.fixture(scope="module")
def throttled(demo_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server over the shared demo database that locks a user name out after FAILURE_LIMIT failures."""
    server = LiveServer(
        demo_db_url,
        tmp_path_factory.mktemp("operator") / "server.log",
        extra_env={"LRS_WS_LOGIN_FAILURE_LIMIT": str(FAILURE_LIMIT)},
    ).start()
    yield client_for(server.soap_url)
    server.stop()


def lrs_ws(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env["LRS_WS_DATABASE_URL"] = url
    env["LRS_WS_LOGIN_FAILURE_LIMIT"] = str(FAILURE_LIMIT)  # as the throttled server has it
    return subprocess.run([str(LRS_WS), *args], env=env, capture_output=True, text=True, timeout=120)


def new_user(wiring: Any, organisation_ref: str = ORG1) -> dict[str, str]:
    name = f"op.{uuid.uuid4().hex[:10]}"
    password = f"Pw-{uuid.uuid4().hex}"
    admin.add_user(
        wiring.uow_factory(),
        organisation_ref=organisation_ref,
        username=name,
        password=password,
        email=f"{name}@example.org",
        roles=["AO_USER"],
    )
    return {"UserName": name, "OrgPassword": password, "OrganisationRef": organisation_ref}


def test_a_locked_out_user_logs_in_again_right_after_user_unlock(
    throttled: Any, live_wiring: Any, demo_db_url: str
) -> None:
    soap = throttled
    user = new_user(live_wiring)
    for _ in range(FAILURE_LIMIT):
        expect_fault(
            "WSEC0003",
            soap.GetLearnerAchievements,
            invokingUser={**user, "OrgPassword": "wrong"},
            uln=TEST_LEARNER,
        )
    # Locked out: even the right password is refused.
    expect_fault("WSEC0003", soap.GetLearnerAchievements, invokingUser=user, uln=TEST_LEARNER)
    listed = lrs_ws(demo_db_url, "user", "list", "--org", "DEMO01")
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith(user["UserName"] + " "))
    assert row[-2:] == ["yes", "yes"]  # active, locked out

    done = lrs_ws(demo_db_url, "user", "unlock", user["UserName"])
    assert done.returncode == 0 and done.stdout.strip() == f"user {user['UserName']} unlocked", done.stderr

    answer = soap.GetLearnerAchievements(invokingUser=user, uln=TEST_LEARNER)
    assert answer is not None


def test_a_deactivated_user_is_refused_over_soap_and_activated_again(
    soap: Any, live_wiring: Any, demo_db_url: str
) -> None:
    user = new_user(live_wiring)
    assert soap.GetLearnerAchievements(invokingUser=user, uln=TEST_LEARNER) is not None
    assert lrs_ws(demo_db_url, "user", "deactivate", user["UserName"]).returncode == 0
    expect_fault("WSEC0003", soap.GetLearnerAchievements, invokingUser=user, uln=TEST_LEARNER)
    assert lrs_ws(demo_db_url, "user", "activate", user["UserName"]).returncode == 0
    assert soap.GetLearnerAchievements(invokingUser=user, uln=TEST_LEARNER) is not None


def test_a_deactivated_organisations_users_are_refused_over_soap_with_the_usual_message(
    soap: Any, live_wiring: Any, demo_db_url: str
) -> None:
    ref = f"OP{uuid.uuid4().hex[:4].upper()}"
    admin.add_organisation(
        live_wiring.uow_factory(), ref=ref, name="Operator test", ukprn="10000099", batch_enabled=False
    )
    user = new_user(live_wiring, ref)
    assert soap.GetLearnerAchievements(invokingUser=user, uln=TEST_LEARNER) is not None

    done = lrs_ws(demo_db_url, "org", "deactivate", ref)
    assert done.returncode == 0 and done.stdout.strip() == f"organisation {ref} is now inactive"
    refused = expect_fault("WSEC0003", soap.GetLearnerAchievements, invokingUser=user, uln=TEST_LEARNER)
    wrong = expect_fault(
        "WSEC0003",
        soap.GetLearnerAchievements,
        invokingUser={**user, "OrgPassword": "wrong"},
        uln=TEST_LEARNER,
    )
    assert refused.message == wrong.message

    assert lrs_ws(demo_db_url, "org", "activate", ref).returncode == 0
    assert soap.GetLearnerAchievements(invokingUser=user, uln=TEST_LEARNER) is not None
