"""Single-record changes over SOAP while a large batch job runs on SQLite (one writer at a time): none of
them fails because a chunk of the job holds the database's write lock."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, datetime

from sqlalchemy import insert, text
from support.batch import achievement
from support.databases import DEMO, build_database, remove_database
from support.demo import JAMES, TEST_LEARNER
from support.server import LiveServer
from support.soap import DEMO1, client_for, fault_code
from zeep.exceptions import Fault

from lrs_ws.app import wire
from lrs_ws.config import Settings
from lrs_ws.db.tables import achievements
from lrs_ws.service import batch
from lrs_ws.service.auth import Caller
from lrs_ws.service.records import AchievementRecord

REFERENCE = "Y/999/0001"
# Achievements the learner already holds of the job's reference, from earlier jobs.
HELD = 80_000
JOB_RECORDS = 40_000
MAX_EDITS = 200


def test_single_edits_over_soap_all_succeed_while_a_large_job_runs_on_sqlite(tmp_path):
    url = build_database("sqlite", tmp_path, DEMO)
    w = wire(Settings(database_url=url))
    server = None
    try:
        with w.uow_factory() as uow:
            user = uow.users.by_username("demo1.edc")
            assert user is not None and user.id is not None
            caller = Caller(user.id, user.username, user.organisation_id, "DEMO01", user.role_set, user.email)
            target = uow.achievements.matching(user.organisation_id, TEST_LEARNER, "J/602/3521", None)[0].id
        now = datetime(2024, 1, 5)
        with w.engine.begin() as conn:
            conn.execute(
                insert(achievements),
                [
                    {
                        "organisation_id": caller.organisation_id,
                        "uln": JAMES,
                        "reference": REFERENCE,
                        "title": REFERENCE,
                        "aim_type": "Unit",
                        "level": "",
                        "grade": "Pass",
                        "award_date": date(2023, 7, 1),
                        "language": "English",
                        "provider_ukprn": "10000001",
                        "mis_identifier": f"H{i}",
                        "status": "Final",
                        "withdrawn": False,
                        "withdrawn_reason": "",
                        "deleted": False,
                        "under_challenge": False,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                    for i in range(HELD)
                ],
            )
        server = LiveServer(
            url,
            tmp_path / "server.log",
            batch_worker=True,
            extra_env={"LRS_WS_WORKER_CHUNK_SIZE": "200", "LRS_WS_WORKER_POLL_SECONDS": "0.1"},
        ).start()
        client = client_for(server.soap_url)
        # The first call pays for the password check and the workers' start: it comes before the job.
        client.EditAchievementGrade(invokingUser=DEMO1, achievementId=target, newGrade="Warm-up")
        job_id = batch.submit(
            w.uow_factory(),
            caller=caller,
            email="mi@demo1.example",
            submission_type="Final",
            achievements=[
                AchievementRecord(**achievement(JAMES, REFERENCE, mis=f"N{i}")) for i in range(JOB_RECORDS)
            ],
            max_achievements=JOB_RECORDS,
            max_queued_records=Settings().max_queued_records_per_org,
        )

        def status() -> str:
            with w.engine.connect() as conn:
                return str(
                    conn.execute(text("SELECT status FROM batch_jobs WHERE id = :j"), {"j": job_id}).scalar()
                )

        outcomes: Counter[str] = Counter()
        while_running = 0
        deadline = time.monotonic() + 600
        for n in range(MAX_EDITS):
            before = status()
            if before in ("Successful", "Failed") or time.monotonic() > deadline:
                break
            try:
                edited = client.EditAchievementGrade(
                    invokingUser=DEMO1, achievementId=target, newGrade=f"Grade {n}"
                )
                outcomes["ok"] += 1
                assert edited.Grade == f"Grade {n}"
            except Fault as fault:
                outcomes[fault_code(fault)] += 1
            if "InProgress" in (before, status()):
                while_running += 1
        assert status() == "Successful"
        assert while_running >= 2
        assert set(outcomes) == {"ok"}, outcomes
    finally:
        if server is not None:
            server.stop()
        w.engine.dispose()
        remove_database("sqlite", url)
