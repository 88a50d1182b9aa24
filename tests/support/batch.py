"""Helpers for the batch tests: achievement records, batch files, waiting for a job, counting rows."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from lrs_ws.config import Settings
from lrs_ws.service.records import FIELD_NAMES, AchievementRecord
from support.demo import DEMO1_USER, LEARNER_NAMES, ORG1

DATA = Path(__file__).resolve().parents[1] / "data" / "lrs"
REFERENCE_WSDL = DATA / "ExternalService.wsdl"
GOLDEN = DATA / "golden"

CREATE, UPDATE, WITHDRAW, REINSTATE = 1, 2, 3, 4


def achievement(
    uln: str,
    reference: str,
    action: int = CREATE,
    *,
    award: datetime = datetime(2023, 7, 1),
    mis: str | None = None,
    grade: str | None = "Pass",
    given: str | None = None,
    family: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One LRS Achievement as a dict (zeep accepts it as is)."""
    names = LEARNER_NAMES.get(uln, ("Nobody", "Known"))
    record: dict[str, Any] = {
        "AchievementAwardDate": award,
        "Action": action,
        "ActionDate": datetime(2024, 1, 5),
        "FamilyName": family if family is not None else names[1],
        "GivenName": given if given is not None else names[0],
        "Grade": grade,
        "LanguageForAssessment": "English",
        "MisIdentifier": mis,
        "ProviderUkprn": "10000001",
        "Uln": uln,
        "UnitOrQualificationReferenceNumber": reference,
    }
    record.update(extra)
    return record


def write_batch_file(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """A batch file: the 15 Achievement fields as the header, dates as yyyy-mm-dd."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(FIELD_NAMES)
        for row in rows:
            writer.writerow(
                [
                    (v.date().isoformat() if isinstance(v, datetime) else "" if v is None else str(v))
                    for v in (row.get(name) for name in FIELD_NAMES)
                ]
            )
    return path


def wait_until(check: Callable[[], Any], timeout: float = 120.0, interval: float = 0.2) -> Any:
    """Poll `check` until it returns something other than None or False; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout} s")
        time.sleep(interval)


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


def error_rows(error_file: str | None) -> list[dict[str, str]]:
    """The AchievementBatchErrorFile as dicts."""
    if not error_file:
        return []
    return list(csv.DictReader(error_file.splitlines()))


def valid_uln(first_nine: str) -> str:
    """A ULN with a correct check digit (first_nine must not give remainder 0 or check digit 10)."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    remainder = total % 11
    assert remainder not in (0, 1), f"{first_nine} has no valid check digit"
    return first_nine + str(10 - remainder)


def unit_reference(i: int) -> str:
    """Distinct unit references in the J/602/3521 format."""
    return f"{'ABCDEFGHJKLMNPRTY'[i // 10000 % 17]}/{100 + i // 10000 // 17:03d}/{i % 10000:04d}"


# -- databases and processes for the batch tests -------------------------------------------------------------


def worker_env(url: str, **settings: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env.update({"LRS_WS_DATABASE_URL": url, "LRS_WS_LOG_JSON": "true", **settings})
    return env


def start_worker(url: str, log_path: Path, *args: str, **settings: str) -> Any:
    """`lrs-ws worker` as a process of its own."""
    import subprocess
    import sys

    lrs_ws = Path(sys.executable).with_name("lrs-ws")
    with open(log_path, "ab") as log:  # the child writes to its own copy of the descriptor
        return subprocess.Popen(
            [str(lrs_ws), "worker", *args],
            env=worker_env(url, **settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def reference_schema(directory: Path) -> Any:
    """The data types of the real LRS WSDL as one lxml XMLSchema, to validate what this service answers."""
    from lxml import etree

    xs = "http://www.w3.org/2001/XMLSchema"
    wsdl = etree.parse(str(REFERENCE_WSDL))
    schemas = wsdl.findall(f".//{{{xs}}}schema")
    files = {s.get("targetNamespace"): directory / f"schema{i}.xsd" for i, s in enumerate(schemas)}
    for schema in schemas:
        for imp in schema.findall(f"{{{xs}}}import"):
            imp.set("schemaLocation", files[imp.get("namespace")].name)
        files[schema.get("targetNamespace")].write_bytes(etree.tostring(schema))
    main = etree.Element(f"{{{xs}}}schema", nsmap={"xs": xs})
    for namespace, path in files.items():
        etree.SubElement(main, f"{{{xs}}}import", namespace=namespace, schemaLocation=path.name)
    (directory / "main.xsd").write_bytes(etree.tostring(main))
    return etree.XMLSchema(etree.parse(str(directory / "main.xsd")))


def submit_creates(wiring: Any, records: int, mis_prefix: str) -> int:
    """A SubmitAchievementBatchJob of `records` new achievements (spread over the demo learners) by demo1.edc,
    through the use case; returns the job id."""
    from lrs_ws.service import batch
    from lrs_ws.service.auth import Caller

    with wiring.uow_factory() as uow:
        user = uow.users.by_username(DEMO1_USER)
        assert user is not None and user.id is not None
        caller = Caller(user.id, user.username, user.organisation_id, ORG1, user.role_set, user.email)
    ulns = sorted(LEARNER_NAMES)
    rows = [
        achievement(ulns[i % len(ulns)], unit_reference(i), mis=f"{mis_prefix}{i}") for i in range(records)
    ]
    return int(
        batch.submit(
            wiring.uow_factory(),
            caller=caller,
            email="mi@demo1.example",
            submission_type="Final",
            achievements=[AchievementRecord(**r) for r in rows],
            max_achievements=records,
            max_queued_records=Settings().max_queued_records_per_org,
        )
    )
