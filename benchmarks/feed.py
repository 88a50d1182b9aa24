"""Change feed benchmark: `make bench` (or `python -m benchmarks.feed`).

For SQLite and PostgreSQL, in one run: 100,000 achievements are created by a batch job processed in chunks
exactly as the worker does (not timed), which gives the organisation 100,000 changes. Then, timed:

- **service**: the whole feed paged through with the use case ListAchievementChanges and `lrs-ws changes`
  call (pages of 500, the maximum; each page checks and signs its cursor and builds the changes);
- **SOAP**: the same through ListAchievementChanges on a live gunicorn server (raw HTTP, the answer parsed
  with lxml: a client's cost, not zeep's);
- **baseline**: a plain indexed SELECT of the same rows, paged by the same key range with SQLAlchemy Core.

It prints records/s and the ratio to the baseline, and the query plan of a poll with nothing new.
PostgreSQL as for benchmarks.run (LRS_WS_BENCH_PG_URL, LRS_WS_TEST_PG_URL, or a throwaway local cluster).
Options: --changes N, --backends sqlite,postgresql.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from sqlalchemy import create_engine, select, text

from benchmarks.run import FIELDS, Processes, given_family, load_world, new_database, pg_admin_url, rows, ulns

PAGE = 500
MODEL = "http://api.lrs.qcf.gov.uk/model"
ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soap-env:Body><ns0:ListAchievementChanges xmlns:ns0="http://api.lrs.qcf.gov.uk/services" '
    'xmlns:m="http://api.lrs.qcf.gov.uk/model">'
    "<ns0:invokingUser><m:OrgPassword>DemoPassword0001</m:OrgPassword><m:OrganisationRef>DEMO01"
    "</m:OrganisationRef><m:UserName>demo1.edc</m:UserName></ns0:invokingUser>"
    "{cursor}<ns0:pageSize>{size}</ns0:pageSize></ns0:ListAchievementChanges></soap-env:Body>"
    "</soap-env:Envelope>"
)


def make_changes(url: str, n: int) -> int:
    """A batch job of `n` creates for DEMO01, processed in chunks as the worker does; returns DEMO01's id."""
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.service import batch
    from lrs_ws.service import batch_processing as bp

    w = wire(Settings(database_url=url))
    learners = ulns(max(20, n // 5))
    load_world(url, learners)
    records = (
        (
            i + 2,
            dict(
                zip(
                    FIELDS,
                    [
                        "2023-07-01",
                        "1",
                        "2024-01-05",
                        "",
                        "",
                        given_family(r.uln)[1],
                        "",
                        given_family(r.uln)[0],
                        "Pass",
                        "English",
                        "",
                        r.mis,
                        "10000001",
                        r.uln,
                        r.reference,
                    ],
                    strict=True,
                )
            ),
        )
        for i, r in enumerate(rows(learners, n, 0))
    )
    batch.submit_file(
        w.uow_factory(),
        organisation_ref="DEMO01",
        username="demo1.edc",
        email="mi@demo1.example",
        submission_type="Final",
        filename="feed-bench.csv",
        rows=records,
        max_queued_records=n,
    )
    job = bp.claim_next(w.uow_factory(), worker_id="feed-bench", lease_seconds=600)
    assert job is not None
    for _ in range(n // 1000 + 10):
        if bp.process_chunk(
            w.uow_factory(), job=job, worker_id="feed-bench", chunk_size=5000, lease_seconds=600
        ).finished:
            break
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref("DEMO01")
        assert org is not None and org.id is not None
        organisation_id = org.id
    w.engine.dispose()
    return organisation_id


def page_service(url: str, organisation_id: int) -> tuple[int, float]:
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.service import feed

    w = wire(Settings(database_url=url))
    feed.changes_of(w.uow_factory(), organisation_id=organisation_id, cursor=None, page_size=1)  # warm up
    seen, cursor = 0, None
    started = time.perf_counter()
    while True:
        page = feed.changes_of(
            w.uow_factory(), organisation_id=organisation_id, cursor=cursor, page_size=PAGE
        )
        seen += len(page.changes)
        cursor = page.next_cursor
        if not page.has_more:
            break
    elapsed = time.perf_counter() - started
    w.engine.dispose()
    return seen, elapsed


def page_soap(soap_url: str) -> tuple[int, float]:
    session = requests.Session()
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    seen, cursor = 0, ""
    started = time.perf_counter()
    while True:
        body = ENVELOPE.format(cursor=f"<ns0:cursor>{cursor}</ns0:cursor>" if cursor else "", size=PAGE)
        answer = session.post(soap_url, data=body.encode(), headers=headers, timeout=120)
        answer.raise_for_status()
        doc = etree.fromstring(answer.content)
        seen += len(doc.findall(f".//{{{MODEL}}}AchievementChange"))
        cursor = doc.findtext(f".//{{{MODEL}}}NextCursor")
        if doc.findtext(f".//{{{MODEL}}}HasMore") != "true":
            break
    return seen, time.perf_counter() - started


def page_baseline(url: str, organisation_id: int) -> tuple[int, float]:
    from lrs_ws.db.tables_feed import achievement_changes as C

    engine = create_engine(url)
    seen, after = 0, 0
    started = time.perf_counter()
    while True:
        with engine.connect() as conn:
            batch = conn.execute(
                select(C)
                .where(C.c.organisation_id == organisation_id, C.c.seq > after)
                .order_by(C.c.seq)
                .limit(PAGE)
            ).all()
        seen += len(batch)
        if len(batch) < PAGE:
            break
        after = batch[-1].seq
    elapsed = time.perf_counter() - started
    engine.dispose()
    return seen, elapsed


def empty_poll_plan(url: str, organisation_id: int) -> str:
    """The plan of the feed's query when nothing is new (after the last change)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            last = conn.execute(
                text("SELECT last_seq FROM change_counters WHERE organisation_id = :o"),
                {"o": organisation_id},
            ).scalar_one()
            query = (
                f"SELECT * FROM achievement_changes WHERE organisation_id = {organisation_id} "
                f"AND seq > {last} ORDER BY seq LIMIT {PAGE + 1}"
            )
            sqlite = url.startswith("sqlite")
            explain = "EXPLAIN QUERY PLAN" if sqlite else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)"
            lines = [str(r[-1]) for r in conn.execute(text(f"{explain} {query}"))]
    finally:
        engine.dispose()
    return "\n".join([query, *lines])


def run_backend(backend: str, n: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"lrs-bench-feed-{backend}-"))
    print(f"\n== {backend} ({workdir})", file=sys.stderr)
    url, drop = new_database(backend, workdir, "feed")
    proc: Processes | None = None
    try:
        print(f"  making {n} changes with a batch job (not timed) ...", file=sys.stderr)
        organisation_id = make_changes(url, n)
        if backend == "postgresql":
            engine = create_engine(url)
            with engine.connect() as conn:
                conn.execute(text("ANALYZE achievement_changes"))
                conn.commit()
            engine.dispose()
        print("  paging: baseline, service, SOAP ...", file=sys.stderr)
        base_n, base_s = page_baseline(url, organisation_id)
        service_n, service_s = page_service(url, organisation_id)
        proc = Processes(url, workdir).start(1000)
        soap_n, soap_s = page_soap(proc.soap_url)
        plan = empty_poll_plan(url, organisation_id)
    finally:
        if proc is not None:
            proc.stop()
        drop()
    return {
        "backend": backend,
        "changes": service_n,
        "base": (base_n, base_s),
        "service": (service_n, service_s),
        "soap": (soap_n, soap_s),
        "plan": plan,
    }


def report(results: list[dict[str, Any]]) -> None:
    print()
    print(f"{'backend':<11}{'run':<30}{'changes':>9}{'seconds':>9}{'rec/s':>10}{'ratio to baseline':>19}")
    for r in results:
        base_rps = r["base"][0] / r["base"][1]
        for name, label in (
            ("base", "baseline: indexed SELECT"),
            ("service", "service: changes_of"),
            ("soap", "SOAP ListAchievementChanges"),
        ):
            count, seconds = r[name]
            print(
                f"{r['backend'] if name == 'base' else '':<11}{label:<30}{count:>9}{seconds:>9.2f}"
                f"{count / seconds:>10.0f}{count / seconds / base_rps:>19.2f}"
            )
    for r in results:
        print(f"\n{r['backend']}: a poll with nothing new\n{r['plan']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.feed", description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    results = []
    for backend in args.backends.split(","):
        if backend == "postgresql" and pg_admin_url() is None:
            print("== postgresql: skipped (no server)", file=sys.stderr)
            continue
        results.append(run_backend(backend, args.changes))
    for r in results:
        assert r["base"][0] == r["service"][0] == r["soap"][0] >= args.changes, r
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
