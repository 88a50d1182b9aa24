"""A batch file is submitted for a user who could submit the batch over SOAP: active, with AO_USER."""

from __future__ import annotations

import io

import pytest
from support.dbstate import db_state
from support.demo import JAMES, ORG1

from lrs_ws.app import Wiring
from lrs_ws.domain import errors as e
from lrs_ws.domain import model
from lrs_ws.service import batch, records

TABLES = ("batch_jobs", "batch_records", "achievements", "audit_events")
ROW = f"2023-07-01,1,2024-01-05,,,Pickles,,James,Pass,English,,R1,10000001,{JAMES},K/501/5773"


def add_user(w: Wiring, username: str, roles: str, *, active: bool = True) -> None:
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref(ORG1)
        assert org is not None and org.id is not None
        uow.users.add(
            model.User(
                organisation_id=org.id,
                username=username,
                password_hash="x",
                email=f"{username}@demo1.example",
                roles=roles,
                active=active,
            )
        )
        uow.commit()


def submit(w: Wiring, username: str) -> int:
    rows = batch.csv_rows(io.StringIO(",".join(records.FIELD_NAMES) + "\n" + ROW + "\n"))
    return batch.submit_file(
        w.uow_factory(),
        organisation_ref=ORG1,
        username=username,
        email=None,
        submission_type="Final",
        filename="file.csv",
        rows=rows,
        max_queued_records=100_000,
    )


def test_a_batch_file_for_a_user_without_the_ao_user_role_is_refused_and_stores_nothing(demo_wiring):
    add_user(demo_wiring, "edc.only", "EDC_USER")
    state = db_state(demo_wiring.engine, TABLES)
    with pytest.raises(e.AccessDenied):
        submit(demo_wiring, "edc.only")
    assert db_state(demo_wiring.engine, TABLES) == state


def test_a_batch_file_for_an_inactive_user_is_refused_and_stores_nothing(demo_wiring):
    add_user(demo_wiring, "gone.user", "AO_USER,EDC_USER", active=False)
    state = db_state(demo_wiring.engine, TABLES)
    with pytest.raises(e.DomainError):
        submit(demo_wiring, "gone.user")
    assert db_state(demo_wiring.engine, TABLES) == state


def test_a_batch_file_for_an_active_ao_user_is_stored(demo_wiring):
    assert submit(demo_wiring, "demo1.edc") > 0
