"""Mixed read/write load test: `python -m benchmarks.load` (not part of the test suite).

Starts gunicorn with 2 workers on a fresh PostgreSQL database holding the demo data (loopback only), then
runs several concurrent clients for a fixed time, each picking operations at random with fixed weights:

    reads   GetLearnerAchievements, GetAchievement, FindLearnerByUln, ListEventDataChallenges,
            GetAchievementHistory, ListAchievementBatchJobs
    writes  EditAchievementGrade and TransferAchievement on the client's own achievements,
            CreateAchievement, SubmitAchievementBatchJob (5 records, processed by an `lrs-ws worker` process)
    races   EditAchievementGrade with expectedVersion on one achievement all clients share: losing the
            race is answered WSRC0013, which is counted as an *expected* fault, not an error

and reports, per operation: requests, throughput, p50/p95/p99 latency, expected faults and errors (anything
else: another fault, an HTTP error, a timeout). It exits 1 when there was any error.

PostgreSQL: --pg-url (an administrative URL; a database is created and dropped), else LRS_WS_TEST_PG_URL,
else a throwaway local cluster started like the tests do (tests/support/pg.py).
Bounds: at most 600 s and 64 clients; everything listens on 127.0.0.1 only.

    python -m benchmarks.load --duration 60 --clients 8
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.hardening import cpu_seconds, rss_kib, worker_pids  # noqa: E402
from support.pg import create_database, drop_database, postgres_url  # noqa: E402
from support.server import LiveServer  # noqa: E402

MAX_SECONDS = 600
MAX_CLIENTS = 64
PASSWORD = "DemoPassword0001"
SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"
ULNS = ["3415521949", "8659377485", "1234567899", "1604938268", "1975308637"]
NAMES = {
    "3415521949": ("Test", "Learner"),
    "8659377485": ("James", "Pickles"),
    "1234567899": ("Amira", "Khan"),
    "1604938268": ("Owen", "Jones"),
    "1975308637": ("Grace", "Okafor"),
}
EXPECTED_FAULTS = {"EditContended": {"WSRC0013"}}
WEIGHTS = {
    "GetLearnerAchievements": 22,
    "GetAchievement": 18,
    "FindLearnerByUln": 8,
    "ListEventDataChallenges": 8,
    "GetAchievementHistory": 5,
    "ListAchievementBatchJobs": 3,
    "EditAchievementGrade": 12,
    "TransferAchievement": 6,
    "CreateAchievement": 6,
    "SubmitAchievementBatchJob": 2,
    "EditContended": 10,
}
ERROR_CODE = re.compile(rb"<(?:\w+:)?ErrorCode>([^<]*)</")
VERSION = re.compile(rb"<(?:\w+:)?Version>(\d+)</")
ACHIEVEMENT_ID = re.compile(rb"<(?:\w+:)?AchievementId>(\d+)</")
ULN = re.compile(rb"<(?:\w+:)?Uln>(\d+)</")


def user(name: str = "demo1.edc", org: str = "DEMO01") -> str:
    return (
        f"<s:invokingUser><m:OrgPassword>{PASSWORD}</m:OrgPassword><m:OrganisationRef>{org}"
        f"</m:OrganisationRef><m:UserName>{name}</m:UserName></s:invokingUser>"
    )


def envelope(operation: str, params: str, who: str | None = None) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}" '
        f'xmlns:m="{MODEL}"><soap:Body><s:{operation}>{who or user()}{params}</s:{operation}></soap:Body>'
        "</soap:Envelope>"
    ).encode()


def achievement_xml(uln: str, tag: str = "achievement") -> str:
    given, family = NAMES[uln]
    return (
        f"<s:{tag}><s:AchievementAwardDate>2016-05-01T00:00:00</s:AchievementAwardDate>"
        "<s:Action>1</s:Action>"
        f"<s:ActionDate>2016-05-02T00:00:00</s:ActionDate><s:FamilyName>{family}</s:FamilyName>"
        f"<s:GivenName>{given}</s:GivenName><s:Grade>Pass</s:Grade>"
        f"<s:MisIdentifier>{uuid.uuid4().hex[:16]}</s:MisIdentifier>"
        "<s:ProviderUkprn>10000001</s:ProviderUkprn>"
        f"<s:Uln>{uln}</s:Uln><s:UnitOrQualificationReferenceNumber>K/501/5773"
        f"</s:UnitOrQualificationReferenceNumber></s:{tag}>"
    )


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ok: Counter[str] = field(default_factory=Counter)
    expected: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    def __init__(self, server: LiveServer, stats: Stats, seed: int, shared_id: int) -> None:
        self.server = server
        self.stats = stats
        self.rng = random.Random(seed)
        self.session = requests.Session()
        self.shared_id = shared_id
        self.own: dict[int, str] = {}  # achievement id -> current ULN
        self.jobs: list[int] = []
        self.ops, self.weights = zip(*WEIGHTS.items(), strict=True)

    def post(self, body: bytes) -> requests.Response:
        return self.session.post(
            self.server.soap_url, data=body, timeout=30, headers={"Content-Type": "text/xml; charset=utf-8"}
        )

    def create(self) -> int:
        uln = self.rng.choice(ULNS)
        answer = self.post(
            envelope("CreateAchievement", "<s:submissionType>Final</s:submissionType>" + achievement_xml(uln))
        )
        found = ACHIEVEMENT_ID.search(answer.content) if answer.status_code == 200 else None
        if found is None:
            raise RuntimeError(f"CreateAchievement failed: {answer.status_code} {answer.content[:300]!r}")
        self.own[int(found.group(1))] = uln
        return int(found.group(1))

    def request_for(self, op: str) -> bytes:
        rng = self.rng
        if op == "GetLearnerAchievements":
            sort = rng.choice(["AwardDate", "Grade", "ReferenceNumber"])
            return envelope(
                op,
                f"<s:uln>{rng.choice(ULNS)}</s:uln><s:sortBy>{sort}</s:sortBy>"
                "<s:pageNumber>1</s:pageNumber><s:pageSize>20</s:pageSize>",
            )
        if op == "GetAchievement":
            return envelope(op, f"<s:achievementId>{rng.choice(list(self.own))}</s:achievementId>")
        if op == "FindLearnerByUln":
            return envelope(op, f"<s:uln>{rng.choice(ULNS)}</s:uln>")
        if op == "ListEventDataChallenges":
            return envelope(op, "<s:pageNumber>1</s:pageNumber><s:pageSize>50</s:pageSize>")
        if op == "GetAchievementHistory":
            return envelope(op, f"<s:achievementId>{rng.choice(list(self.own))}</s:achievementId>")
        if op == "ListAchievementBatchJobs":
            return envelope(op, "<s:pageNumber>1</s:pageNumber><s:pageSize>20</s:pageSize>")
        if op == "EditAchievementGrade":
            return envelope(
                op,
                f"<s:achievementId>{rng.choice(list(self.own))}</s:achievementId>"
                f"<s:newGrade>{rng.choice(['Pass', 'Merit', 'Distinction'])}</s:newGrade>",
            )
        if op == "TransferAchievement":
            achievement_id = rng.choice(list(self.own))
            target = rng.choice([u for u in ULNS if u != self.own[achievement_id]])
            self.pending_transfer = (achievement_id, target)
            return envelope(
                op, f"<s:achievementId>{achievement_id}</s:achievementId><s:newUln>{target}</s:newUln>"
            )
        if op == "CreateAchievement":
            record = achievement_xml(rng.choice(ULNS))
            return envelope(op, "<s:submissionType>Final</s:submissionType>" + record)
        if op == "SubmitAchievementBatchJob":
            records = "".join(achievement_xml(rng.choice(ULNS), "Achievement") for _ in range(5))
            return envelope(
                op,
                "<s:emailAddress>mi@demo1.example</s:emailAddress>"
                "<s:submissionType>Final</s:submissionType>"
                f"<s:achievements>{records}</s:achievements>",
            )
        if op == "EditContended":
            # Read the shared achievement's version, then change it on that version: the race is the point.
            read = envelope("GetAchievement", f"<s:achievementId>{self.shared_id}</s:achievementId>")
            answer = self.post(read)
            version = VERSION.search(answer.content)
            expected = version.group(1).decode() if version else "0"
            return envelope(
                "EditAchievementGrade",
                f"<s:achievementId>{self.shared_id}</s:achievementId>"
                f"<s:newGrade>R{rng.randint(0, 999)}</s:newGrade>"
                f"<s:expectedVersion>{expected}</s:expectedVersion>",
            )
        raise ValueError(op)

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            op = self.rng.choices(self.ops, self.weights)[0]
            body = self.request_for(op)
            started = time.perf_counter()
            try:
                answer = self.post(body)
                elapsed = time.perf_counter() - started
            except requests.RequestException as exc:
                with self.stats.lock:
                    self.stats.errors[(op, type(exc).__name__)] += 1
                continue
            self.record(op, answer, elapsed)

    def record(self, op: str, answer: requests.Response, elapsed: float) -> None:
        code = ""
        if answer.status_code != 200:
            found = ERROR_CODE.search(answer.content)
            code = found.group(1).decode() if found else f"HTTP{answer.status_code}"
        elif op == "TransferAchievement":
            achievement_id, target = self.pending_transfer
            self.own[achievement_id] = target
        with self.stats.lock:
            self.stats.latencies[op].append(elapsed)
            if not code:
                self.stats.ok[op] += 1
            elif code in EXPECTED_FAULTS.get(op, ()):
                self.stats.expected[(op, code)] += 1
            else:
                self.stats.errors[(op, code)] += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


def prepare(url: str) -> None:
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.db.migrate import upgrade
    from lrs_ws.service import demo

    upgrade(url)
    w = wire(Settings(database_url=url))
    demo.load(w.uow_factory())
    w.engine.dispose()


def report(stats: Stats, seconds: float, server_cpu: float, rss: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for op in sorted(stats.latencies, key=lambda o: -len(stats.latencies[o])):
        lat = stats.latencies[op]
        rows.append(
            {
                "operation": op,
                "requests": len(lat),
                "per_second": round(len(lat) / seconds, 1),
                "p50_ms": ms(lat, 0.50),
                "p95_ms": ms(lat, 0.95),
                "p99_ms": ms(lat, 0.99),
                "ok": stats.ok[op],
                "expected_faults": sum(n for (o, _), n in stats.expected.items() if o == op),
                "errors": sum(n for (o, _), n in stats.errors.items() if o == op),
            }
        )
    total = sum(r["requests"] for r in rows)
    everything = [x for lat in stats.latencies.values() for x in lat]
    summary = {
        "seconds": round(seconds, 1),
        "requests": total,
        "per_second": round(total / seconds, 1),
        "p50_ms": ms(everything, 0.5),
        "p95_ms": ms(everything, 0.95),
        "p99_ms": ms(everything, 0.99),
        "expected_faults": {f"{o} {c}": n for (o, c), n in stats.expected.items()},
        "errors": {f"{o} {c}": n for (o, c), n in stats.errors.items()},
        "server_worker_cpu_seconds": round(server_cpu, 1),
        "worker_rss_mib": rss,
    }
    header = f"{'operation':<28}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'ok':>8}"
    print(header + f"{'expected':>10}{'errors':>8}")
    for r in rows:
        print(
            f"{r['operation']:<28}{r['requests']:>9}{r['per_second']:>8}{r['p50_ms']:>9}{r['p95_ms']:>9}"
            f"{r['p99_ms']:>9}{r['ok']:>8}{r['expected_faults']:>10}{r['errors']:>8}"
        )
    print(
        f"{'all':<28}{total:>9}{summary['per_second']:>8}{summary['p50_ms']:>9}{summary['p95_ms']:>9}"
        f"{summary['p99_ms']:>9}"
    )
    print(f"expected faults: {summary['expected_faults'] or 'none'}")
    print(f"errors: {summary['errors'] or 'none'}")
    print(f"server workers: {summary['server_worker_cpu_seconds']} s CPU, RSS MiB {rss}")
    return {"summary": summary, "operations": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60, max 600)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8, max 64)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--pg-url", default=None, help="administrative PostgreSQL URL (default: see above)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    duration = min(max(args.duration, 1.0), MAX_SECONDS)
    clients = min(max(args.clients, 1), MAX_CLIENTS)

    admin = args.pg_url or postgres_url()
    if admin is None:
        print("no PostgreSQL available: give --pg-url or LRS_WS_TEST_PG_URL", file=sys.stderr)
        return 2
    url = create_database(admin, "lrs_load")
    workdir = Path(tempfile.mkdtemp(prefix="lrs_ws_load_"))
    server = None
    try:
        prepare(url)
        env = {"LRS_WS_LOGIN_FAILURE_LIMIT": "100000"}
        server = LiveServer(
            url, workdir / "server.log", workers=args.workers, extra_env=env, batch_worker=True
        ).start()
        stats = Stats()
        seeder = Client(server, stats, args.seed, 0)
        shared = seeder.create()
        pool = [Client(server, stats, args.seed * 1000 + i, shared) for i in range(clients)]
        for c in pool:
            for _ in range(3):
                c.create()
        pids = worker_pids(server)
        cpu_before = sum(cpu_seconds(p) for p in pids)
        rss_before = {p: round(rss_kib(p) / 1024, 1) for p in pids}
        print(
            f"load: {clients} clients for {duration:.0f} s against {args.workers} gunicorn workers on "
            f"PostgreSQL (pids {pids})",
            flush=True,
        )
        started = time.monotonic()
        until = started + duration
        threads = [threading.Thread(target=c.run, args=(until,)) for c in pool]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - started
        cpu = sum(cpu_seconds(p) for p in pids) - cpu_before
        rss = {"before": rss_before, "after": {p: round(rss_kib(p) / 1024, 1) for p in pids}}
        figures = report(stats, seconds, cpu, rss)
        if worker_pids(server) != pids:
            print("a worker was replaced during the run", file=sys.stderr)
            figures["summary"]["errors"]["worker replaced"] = 1
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return 1 if figures["summary"]["errors"] else 0
    finally:
        if server is not None:
            server.stop()
        drop_database(admin, url)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    raise SystemExit(main())
