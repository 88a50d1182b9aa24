"""The change feed under concurrent writers, on SQLite and PostgreSQL.

Two SOAP writers (creating, editing, withdrawing and reinstating achievements on several gunicorn workers)
and a batch job processed by an `lrs-ws worker` process (creates, updates, withdrawals and promotions, in
chunks of its own transactions) change one organisation while a poller follows its feed with small pages.
After each round, once every writer is done, the poller drains the feed and its replayed copy must equal the
organisation's achievements in the database, and it must have read every sequence number exactly once: a
change numbered before another but committed after it (the feed's classic race) would be missing.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from support.batch import (
    CREATE,
    UPDATE,
    WITHDRAW,
    achievement,
    count,
    unit_reference,
    wait_until,
)
from support.databases import DEMO, build_database, remove_database
from support.demo import AMIRA, GRACE, JAMES, OWEN, TEST_LEARNER
from support.records import achievement_record
from support.server import LiveServer
from support.soap import DEMO1, client_for

ROUNDS = 3
WRITERS = 2
PER_WRITER = 6
BATCH_CREATES = 150
PAGE = 37
ULNS = (TEST_LEARNER, JAMES, AMIRA, OWEN, GRACE)


@pytest.fixture(scope="module")
def feed_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A database of its own, gunicorn with 2 workers and a batch worker committing chunks of 40 records."""
    url = build_database(backend, tmp_path_factory.mktemp(f"feed-{backend}"), DEMO)
    server = LiveServer(
        url,
        tmp_path_factory.mktemp("feed-server") / "gunicorn.log",
        batch_worker=True,
        extra_env={"LRS_WS_WORKER_CHUNK_SIZE": "40", "LRS_WS_WORKER_POLL_SECONDS": "0.05"},
    ).start()
    yield server
    server.stop()
    remove_database(backend, url)


class Poller(threading.Thread):
    """Follows the feed from an empty cursor, applying each change to its copy, until told to stop."""

    def __init__(self, soap_url: str) -> None:
        super().__init__(daemon=True)
        self.soap = client_for(soap_url)
        self.cursor: str | None = None
        self.copy: dict[int, tuple[Any, ...]] = {}
        self.sequences: list[int] = []
        self.kinds: set[str] = set()
        self.stop_now = threading.Event()
        self.error: BaseException | None = None

    def poll_once(self) -> bool:
        """One page; True when more are waiting."""
        page = self.soap.ListAchievementChanges(invokingUser=DEMO1, cursor=self.cursor, pageSize=PAGE)
        for c in page.Changes.AchievementChange if page.Changes else []:
            a = c.Achievement
            self.sequences.append(int(c.Sequence))
            self.kinds.add(c.Kind)
            challenged = a.UnderDataChallenge == "Y"
            self.copy[int(a.AchievementId)] = (
                a.Uln,
                a.Grade or "",
                a.Status,
                bool(a.Withdrawn),
                bool(c.Deleted),
                challenged,
                int(a.Version),
            )
        self.cursor = page.NextCursor
        return bool(page.HasMore)

    def drain(self) -> None:
        for _ in range(100_000):
            if not self.poll_once():
                return
        raise AssertionError("the feed never said it had no more")

    def run(self) -> None:
        try:
            while not self.stop_now.is_set():
                self.poll_once()
        except BaseException as exc:  # reported by the test, which joins the thread
            self.error = exc


def writer(soap_url: str, tag: str, made: list[dict[str, Any]], errors: list[BaseException]) -> None:
    """Provisional achievements over SOAP, each edited, withdrawn and reinstated; records kept in `made`."""
    try:
        soap = client_for(soap_url, new_connection_per_call=True)
        for i in range(PER_WRITER):
            record = achievement_record(ULNS[i % len(ULNS)], reference="K/501/5773", mis=f"{tag}-{i}")
            aid = int(
                soap.CreateAchievement(
                    invokingUser=DEMO1, submissionType="Provisional", achievement=record
                ).AchievementId
            )
            soap.EditAchievementGrade(invokingUser=DEMO1, achievementId=aid, newGrade=f"G{i}")
            soap.WithdrawAchievement(invokingUser=DEMO1, achievementId=aid, reason="Checking")
            if i % 2 == 0:
                soap.ReinstateAchievement(invokingUser=DEMO1, achievementId=aid)
            made.append({**record, "Grade": f"G{i}"})
    except BaseException as exc:
        errors.append(exc)


def batch_rows(round_no: int, promotions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New achievements; updates and withdrawals of the last round's; Final creates of last round's
    Provisional ones that were reinstated (promotions)."""
    rows = [
        achievement(ULNS[i % len(ULNS)], unit_reference(round_no * 1000 + i), mis=f"b{round_no}-{i}")
        for i in range(BATCH_CREATES)
    ]
    if round_no:
        previous = round_no - 1
        for i in range(0, 40):
            rows.append(
                achievement(
                    ULNS[i % len(ULNS)],
                    unit_reference(previous * 1000 + i),
                    UPDATE,
                    mis=f"b{previous}-{i}",
                    grade="Merit",
                )
            )
        for i in range(40, 60):
            rows.append(
                achievement(
                    ULNS[i % len(ULNS)], unit_reference(previous * 1000 + i), WITHDRAW, mis=f"b{previous}-{i}"
                )
            )
        rows += [{**p, "Action": CREATE} for p in promotions]
    return rows


def database_copy(url: str) -> dict[int, tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.id, a.uln, a.grade, a.status, a.withdrawn, a.deleted, a.under_challenge, "
                    "a.version FROM achievements a JOIN organisations o ON o.id = a.organisation_id "
                    "WHERE o.ref = 'DEMO01'"
                )
            ).all()
    finally:
        engine.dispose()
    return {r[0]: (r[1], r[2], r[3], bool(r[4]), bool(r[5]), bool(r[6]), r[7]) for r in rows}


def finished(engine: Any, job_id: int) -> bool:
    sql = "SELECT count(*) FROM batch_jobs WHERE id = :i AND status = 'Successful'"
    return count(engine, sql, i=job_id) == 1


def run_round(
    soap_url: str, engine: Any, round_no: int, promotions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Submit the round's batch job, run the SOAP writers beside it, wait for all; the records to promote
    next round (the writers' Provisional ones left reinstated: a withdrawn one cannot be promoted)."""
    soap = client_for(soap_url)
    job_id = int(
        soap.SubmitAchievementBatchJob(
            invokingUser=DEMO1,
            emailAddress="mi@demo1.example",
            submissionType="Final",
            achievements={"Achievement": batch_rows(round_no, promotions)},
        ).JobId
    )
    made: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    tags = [f"w{round_no}{t}{uuid.uuid4().hex[:6]}" for t in range(WRITERS)]
    threads = [threading.Thread(target=writer, args=(soap_url, tag, made, errors)) for tag in tags]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    wait_until(lambda: finished(engine, job_id), timeout=600)
    return [m for m in made if int(m["MisIdentifier"].rsplit("-", 1)[1]) % 2 == 0]


def test_a_poller_running_beside_soap_writers_and_a_batch_job_replays_exactly_the_database(
    feed_server: LiveServer,
) -> None:
    url = feed_server.database_url
    engine = create_engine(url)
    poller = Poller(feed_server.soap_url)
    promotions: list[dict[str, Any]] = []
    try:
        for round_no in range(ROUNDS):
            follower = Poller(feed_server.soap_url)
            follower.cursor, follower.copy, follower.sequences, follower.kinds = (
                poller.cursor,
                poller.copy,
                poller.sequences,
                poller.kinds,
            )
            poller = follower
            poller.start()
            promotions = run_round(feed_server.soap_url, engine, round_no, promotions)
            # Every writer has committed: what the poller has not read yet is waiting for it now.
            poller.stop_now.set()
            poller.join(timeout=120)
            assert poller.error is None, poller.error
            poller.drain()
            assert poller.copy == database_copy(url), f"round {round_no}"
            assert poller.sequences == list(range(1, len(poller.sequences) + 1)), f"round {round_no}"
        assert count(engine, "SELECT count(*) FROM batch_records WHERE state <> 'applied'") == 0
    finally:
        poller.stop_now.set()
        engine.dispose()
    assert {"Created", "Updated", "GradeEdited", "Withdrawn", "Reinstated", "PromotedToFinal"} <= poller.kinds
