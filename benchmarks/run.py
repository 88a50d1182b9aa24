"""Batch throughput benchmark: `make bench` (or `python -m benchmarks.run`).

For SQLite and PostgreSQL, in one run:

- **SOAP**: one SubmitAchievementBatchJob of 5,000 Create records, posted to a live gunicorn server, timed
  from the POST until the job is Successful (processed by a separate `lrs-ws worker` process);
- **file**: a 100,000-row batch file through `lrs-ws batch submit FILE` (read, stored, processed), timed from
  the command's start until it exits after the job is Successful;
- **baseline**: the same rows inserted into the achievements table by one SQLAlchemy Core `executemany`
  (no validation, no audit, no outcome) into an equally fresh database.

It prints records/s, the ratio service/baseline and the peak RSS (VmHWM) of the server's processes, of the
worker and of the `batch submit` process. Every record of the service runs still gets its validation, its
audit event and its outcome row; the benchmark checks those counts before it reports.

PostgreSQL: LRS_WS_BENCH_PG_URL (an administrative URL; a database is created and dropped per run), else
LRS_WS_TEST_PG_URL, else a throwaway local cluster like the tests use; without any it is skipped.
- **same target**: jobs of 5,000 Creates for one ULN and one reference (different MisIdentifiers) one
  after the other, each timed from the POST until Successful: the later ones find more achievements there.

Options: --records-soap N, --records-file N, --backends sqlite,postgresql, --chunk-size N, --soap-repeats N
(SubmitAchievementBatchJob requests timed to their answer), --same-target-jobs N.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, insert, select, text

REPO = Path(__file__).resolve().parents[1]
LRS_WS = Path(sys.executable).with_name("lrs-ws")
LEARNERS = 20_000
AWARD = date(2023, 7, 1)
NOW = datetime(2024, 1, 5, 12, 0, 0)

SOAP_ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soap-env:Body><ns0:SubmitAchievementBatchJob xmlns:ns0="http://api.lrs.qcf.gov.uk/services" '
    'xmlns:m="http://api.lrs.qcf.gov.uk/model">'
    "<ns0:invokingUser><m:OrgPassword>DemoPassword0001</m:OrgPassword><m:OrganisationRef>DEMO01"
    "</m:OrganisationRef><m:UserName>demo1.edc</m:UserName></ns0:invokingUser>"
    "<ns0:emailAddress>mi@demo1.example</ns0:emailAddress><ns0:submissionType>Final</ns0:submissionType>"
    "<ns0:achievements>{records}</ns0:achievements></ns0:SubmitAchievementBatchJob></soap-env:Body>"
    "</soap-env:Envelope>"
)
SOAP_RECORD = (
    "<ns0:Achievement><ns0:AchievementAwardDate>2023-07-01T00:00:00</ns0:AchievementAwardDate>"
    "<ns0:Action>1</ns0:Action><ns0:ActionDate>2024-01-05T00:00:00</ns0:ActionDate>"
    "<ns0:FamilyName>{family}</ns0:FamilyName><ns0:GivenName>{given}</ns0:GivenName>"
    "<ns0:Grade>Pass</ns0:Grade><ns0:LanguageForAssessment>English</ns0:LanguageForAssessment>"
    "<ns0:MisIdentifier>{mis}</ns0:MisIdentifier><ns0:ProviderUkprn>10000001</ns0:ProviderUkprn>"
    "<ns0:Uln>{uln}</ns0:Uln><ns0:UnitOrQualificationReferenceNumber>{ref}"
    "</ns0:UnitOrQualificationReferenceNumber></ns0:Achievement>"
)
FIELDS = (
    "AchievementAwardDate",
    "Action",
    "ActionDate",
    "ActionReason",
    "DateofBirth",
    "FamilyName",
    "Gender",
    "GivenName",
    "Grade",
    "LanguageForAssessment",
    "LearnerPostcode",
    "MisIdentifier",
    "ProviderUkprn",
    "Uln",
    "UnitOrQualificationReferenceNumber",
)


# -- data ---------------------------------------------------------------------------------------------------


def ulns(n: int) -> list[str]:
    """`n` valid ULNs (DfE check digit) that are not in the demo data."""
    out: list[str] = []
    candidate = 200_000_000
    while len(out) < n:
        first = str(candidate)
        candidate += 1
        total = sum(int(d) * w for d, w in zip(first, range(10, 1, -1), strict=True))
        remainder = total % 11
        if remainder in (0, 1):
            continue
        out.append(first + str(10 - remainder))
    return out


def reference(i: int) -> str:
    return f"{'ABCDEFGHJKLMNPRTY'[i // 10000 % 17]}/{100 + i // 170000:03d}/{i % 10000:04d}"


@dataclass(frozen=True)
class Row:
    uln: str
    reference: str
    mis: str


def rows(learners: list[str], n: int, offset: int) -> Iterator[Row]:
    """Distinct (learner, reference) Create records; `offset` keeps two runs' records apart."""
    for i in range(offset, offset + n):
        yield Row(learners[i % len(learners)], reference(i // len(learners)), f"B{i}")


def given_family(uln: str) -> tuple[str, str]:
    return "Bench", f"Learner{uln[-4:]}"


# -- databases --------------------------------------------------------------------------------------------


def pg_admin_url() -> str | None:
    url = os.environ.get("LRS_WS_BENCH_PG_URL") or os.environ.get("LRS_WS_TEST_PG_URL")
    if url:
        return url
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from support.pg import postgres_url

        return postgres_url()
    except Exception as exc:  # no local PostgreSQL binaries
        print(f"  (no PostgreSQL available: {type(exc).__name__})", file=sys.stderr)
        return None


def new_database(backend: str, workdir: Path, name: str) -> tuple[str, Callable[[], None]]:
    from lrs_ws.db.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{workdir / f'{name}.sqlite3'}"
        drop: Callable[[], None] = lambda: None  # noqa: E731
    else:
        admin = pg_admin_url()
        assert admin is not None
        sys.path.insert(0, str(REPO / "tests"))
        from support.pg import create_database, drop_database

        url = create_database(admin, f"lrs_bench_{name}")
        drop = lambda: drop_database(admin, url)  # noqa: E731
    upgrade(url)
    return url, drop


def load_world(url: str, learners: list[str]) -> None:
    """Demo data plus the benchmark's learners (not timed)."""
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.db.tables import learners as learners_table
    from lrs_ws.service import demo

    w = wire(Settings(database_url=url))
    demo.load(w.uow_factory())
    with w.engine.begin() as conn:
        conn.execute(
            insert(learners_table),
            [
                {"uln": u, "given_name": given_family(u)[0], "family_name": given_family(u)[1], "gender": 0}
                for u in learners
            ],
        )
    w.engine.dispose()


# -- processes --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env.update({"LRS_WS_DATABASE_URL": url, "LRS_WS_LOG_JSON": "true", **extra})
    return env


def vmhwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


class PeakWatcher:
    """Samples VmHWM of some processes until stopped (the last sample before a process exits is its peak)."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.sample()

    def sample(self) -> None:
        for pid in self.pids():
            self.peak[pid] = max(self.peak.get(pid, 0), vmhwm_kb(pid))

    def __enter__(self) -> PeakWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    def mb(self) -> float:
        return max(self.peak.values(), default=0) / 1024


@dataclass
class Processes:
    url: str
    logs: Path
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    port: int = field(default_factory=free_port)

    @property
    def soap_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ExternalService.svc"

    def start(self, chunk_size: int) -> Processes:
        log = open(self.logs / "server.log", "ab")  # noqa: SIM115
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--config",
                "python:lrs_ws.gunicorn_conf",
                "lrs_ws.wsgi:application",
            ],
            env=env_for(self.url, LRS_WS_PUBLIC_URL=self.soap_url, LRS_WS_GUNICORN_TIMEOUT="120"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )
        wlog = open(self.logs / "worker.log", "ab")  # noqa: SIM115
        self.worker = subprocess.Popen(
            [str(LRS_WS), "worker"],
            env=env_for(
                self.url, LRS_WS_WORKER_POLL_SECONDS="0.05", LRS_WS_WORKER_CHUNK_SIZE=str(chunk_size)
            ),
            stdout=wlog,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start; see {self.logs / 'server.log'}")

    def server_pids(self) -> list[int]:
        return [self.server.pid, *children(self.server.pid)] if self.server else []

    def stop(self) -> None:
        for proc in (self.worker, self.server):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


def job_state(engine: Any, job_id: int) -> tuple[str, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, records_done FROM batch_jobs WHERE id = :j"), {"j": job_id}
        ).one()
        return row.status, row.records_done


def wait_finished(engine: Any, job_id: int, timeout: float = 3600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = job_state(engine, job_id)
        if status in ("Successful", "Failed", "Cancelled"):
            return status
        time.sleep(0.02)
    raise RuntimeError(f"job {job_id} did not finish")


def check_job(engine: Any, job_id: int, n: int) -> None:
    """Every record applied, with its audit event and outcome."""
    with engine.connect() as conn:
        created = conn.execute(text("SELECT created FROM batch_jobs WHERE id = :j"), {"j": job_id}).scalar()
        audit = conn.execute(
            text("SELECT count(*) FROM audit_events WHERE request_id = :r"), {"r": f"batch-job-{job_id}"}
        ).scalar()
        applied = conn.execute(
            text(
                "SELECT count(*) FROM batch_records WHERE job_id = :j AND state = 'applied' "
                "AND achievement_id IS NOT NULL"
            ),
            {"j": job_id},
        ).scalar()
    assert created == audit == applied == n, (created, audit, applied, n)


# -- the measurements -------------------------------------------------------------------------------------


SUBMIT_HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": '"http://api.lrs.qcf.gov.uk/services/IExternalService/SubmitAchievementBatchJob"',
}


def submit_body(records: Iterator[Row]) -> bytes:
    return SOAP_ENVELOPE.format(
        records="".join(
            SOAP_RECORD.format(
                uln=r.uln,
                ref=r.reference,
                mis=r.mis,
                given=given_family(r.uln)[0],
                family=given_family(r.uln)[1],
            )
            for r in records
        )
    ).encode()


def submit_and_wait(proc: Processes, engine: Any, body: bytes, n: int) -> tuple[float, float]:
    """(seconds from the POST until the job is Successful, seconds until the answer); checks the job."""
    started = time.perf_counter()
    answer = requests.post(proc.soap_url, data=body, headers=SUBMIT_HEADERS, timeout=600)
    accepted = time.perf_counter() - started
    answer.raise_for_status()
    job_id = int(answer.text.split("JobId>")[1].split("<")[0])
    status = wait_finished(engine, job_id)
    elapsed = time.perf_counter() - started
    assert status == "Successful", status
    check_job(engine, job_id, n)
    return elapsed, accepted


def bench_soap(
    proc: Processes, engine: Any, learners: list[str], n: int, repeats: int
) -> tuple[float, list[float]]:
    """`repeats` SubmitAchievementBatchJob requests of `n` new Creates, one after the other: the first's
    seconds until Successful, and each one's seconds until its answer."""
    elapsed = []
    answers = []
    for i in range(repeats):
        job_s, answer_s = submit_and_wait(proc, engine, submit_body(rows(learners, n, offset=i * n)), n)
        elapsed.append(job_s)
        answers.append(answer_s)
    return elapsed[0], answers


def bench_same_target(proc: Processes, engine: Any, learner: str, jobs: int, n: int) -> list[float]:
    """`jobs` jobs of `n` Creates each for one ULN and one reference (different MisIdentifiers), one after
    the other: each job's seconds from the POST until Successful. Every job finds more achievements of that
    learner and reference already there; its cost should not grow with them."""
    times = []
    for j in range(jobs):
        same = (Row(learner, "Y/999/0001", f"S{j}-{i}") for i in range(n))
        times.append(submit_and_wait(proc, engine, submit_body(same), n)[0])
    return times


def bench_validate(proc: Processes, engine: Any, learners: list[str], n: int, offset: int) -> float:
    """One ValidateAchievementBatch of `n` new Create records, from the POST until its answer; checks the
    answer's counts and that nothing was stored."""
    body = (
        SOAP_ENVELOPE.replace("SubmitAchievementBatchJob", "ValidateAchievementBatch")
        .replace("<ns0:emailAddress>mi@demo1.example</ns0:emailAddress>", "")
        .format(
            records="".join(
                SOAP_RECORD.format(
                    uln=r.uln,
                    ref=r.reference,
                    mis=r.mis,
                    given=given_family(r.uln)[0],
                    family=given_family(r.uln)[1],
                )
                for r in rows(learners, n, offset=offset)
            )
        )
        .encode()
    )
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM achievements")).scalar()
    started = time.perf_counter()
    answer = requests.post(
        proc.soap_url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=600
    )
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    assert f"AchievementsCreated>{n}<" in answer.text, answer.text[:500]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM achievements")).scalar() == before
    return elapsed


def write_file(path: Path, learners: list[str], n: int, offset: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(FIELDS)
        for r in rows(learners, n, offset):
            given, family = given_family(r.uln)
            writer.writerow(
                [
                    "2023-07-01",
                    "1",
                    "2024-01-05",
                    "",
                    "",
                    family,
                    "",
                    given,
                    "Pass",
                    "English",
                    "",
                    r.mis,
                    "10000001",
                    r.uln,
                    r.reference,
                ]
            )


def bench_file(proc: Processes, engine: Any, path: Path, n: int, logs: Path) -> tuple[float, float, float]:
    """(seconds from start to exit, peak RSS MB of `batch submit`, seconds until the job was stored)."""
    with engine.connect() as conn:
        last_job = conn.execute(text("SELECT coalesce(max(id), 0) FROM batch_jobs")).scalar()
    stored: list[float] = []
    stop = threading.Event()

    def watch_store() -> None:
        while not stop.wait(0.02):
            with engine.connect() as conn:
                newer = text("SELECT count(*) FROM batch_jobs WHERE id > :j")
                if conn.execute(newer, {"j": last_job}).scalar():
                    stored.append(time.perf_counter())
                    return

    started = time.perf_counter()
    watcher = threading.Thread(target=watch_store, daemon=True)
    watcher.start()
    with open(logs / "batch-submit.log", "wb") as log:
        cli = subprocess.Popen(
            [
                str(LRS_WS),
                "batch",
                "submit",
                str(path),
                "--org",
                "DEMO01",
                "--user",
                "demo1.edc",
                "--poll",
                "0.05",
            ],
            env=env_for(proc.url),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        with PeakWatcher(lambda: [cli.pid]) as watch:
            code = cli.wait()
    elapsed = time.perf_counter() - started
    stop.set()
    watcher.join()
    assert code == 0, f"batch submit exited {code}; see {logs / 'batch-submit.log'}"
    with engine.connect() as conn:
        job_id = conn.execute(text("SELECT max(id) FROM batch_jobs")).scalar()
    check_job(engine, job_id, n)
    return elapsed, watch.mb(), (stored[0] - started) if stored else float("nan")


def bench_baseline(backend: str, workdir: Path, learners: list[str], n: int, name: str) -> float:
    """The same rows by one Core executemany into a fresh database's achievements table."""
    from lrs_ws.db.tables import achievements

    url, drop = new_database(backend, workdir, name)
    try:
        engine = create_engine(url)
        with engine.begin() as conn:
            org_id = conn.execute(
                text(
                    "INSERT INTO organisations (ref, name, ukprn, batch_enabled, active) "
                    "VALUES ('BENCH1', 'Bench', '10000009', :t, :t) RETURNING id"
                ),
                {"t": True},
            ).scalar()
        params = [
            {
                "organisation_id": org_id,
                "uln": r.uln,
                "reference": r.reference,
                "title": r.reference,
                "aim_type": "Unit",
                "level": "",
                "grade": "Pass",
                "award_date": AWARD,
                "language": "English",
                "provider_ukprn": "10000001",
                "mis_identifier": r.mis,
                "status": "Final",
                "withdrawn": False,
                "withdrawn_reason": "",
                "deleted": False,
                "under_challenge": False,
                "created_at": NOW,
                "updated_at": NOW,
                "version": 1,
            }
            for r in rows(learners, n, offset=0)
        ]
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(achievements), params)
        elapsed = time.perf_counter() - started
        with engine.connect() as conn:
            last = select(achievements.c.id).order_by(achievements.c.id.desc()).limit(1)
            assert conn.execute(last).scalar()
        engine.dispose()
        return elapsed
    finally:
        drop()


def run_backend(backend: str, args: argparse.Namespace, learners: list[str]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"lrs-bench-{backend}-"))
    print(f"\n== {backend} ({workdir})", file=sys.stderr)
    url, drop = new_database(backend, workdir, "service")
    load_world(url, learners)
    engine = create_engine(url)
    proc = Processes(url, workdir).start(args.chunk_size)
    result: dict[str, Any] = {"backend": backend}
    try:
        worker_pids = lambda: [proc.worker.pid] if proc.worker else []  # noqa: E731
        with PeakWatcher(proc.server_pids) as server_watch, PeakWatcher(worker_pids) as worker_watch:
            print(f"  SOAP: one SubmitAchievementBatchJob of {args.records_soap} records", file=sys.stderr)
            soap_s, answers = bench_soap(proc, engine, learners, args.records_soap, args.soap_repeats)
            offset = args.records_soap * args.soap_repeats
            print(f"  SOAP: one ValidateAchievementBatch of {args.records_soap} records", file=sys.stderr)
            validate_s = bench_validate(proc, engine, learners, args.records_soap, offset=offset)
            print(
                f"  SOAP: {args.same_target_jobs} jobs of {args.records_soap} Creates for one ULN and "
                "reference",
                file=sys.stderr,
            )
            same_target = bench_same_target(
                proc, engine, learners[-1], args.same_target_jobs, args.records_soap
            )
            soap_server_mb = server_watch.mb()
            soap_worker_mb = worker_watch.mb()
            path = workdir / "batch.csv"
            write_file(path, learners, args.records_file, offset=offset)
            print(f"  file: lrs-ws batch submit of {args.records_file} rows ...", file=sys.stderr)
            file_s, submit_mb, stored_s = bench_file(proc, engine, path, args.records_file, workdir)
        print("  baselines: Core executemany ...", file=sys.stderr)
        base_soap = bench_baseline(backend, workdir, learners, args.records_soap, "base_soap")
        base_file = bench_baseline(backend, workdir, learners, args.records_file, "base_file")
        result.update(
            soap_records=args.records_soap,
            soap_seconds=soap_s,
            soap_accept_seconds=answers,
            same_target_seconds=same_target,
            validate_seconds=validate_s,
            soap_rps=args.records_soap / soap_s,
            soap_base_rps=args.records_soap / base_soap,
            file_records=args.records_file,
            file_seconds=file_s,
            file_rps=args.records_file / file_s,
            file_stored_seconds=stored_s,
            file_base_rps=args.records_file / base_file,
            server_peak_mb=server_watch.mb(),
            worker_peak_mb=worker_watch.mb(),
            submit_peak_mb=submit_mb,
            soap_server_peak_mb=soap_server_mb,
            soap_worker_peak_mb=soap_worker_mb,
        )
        result["soap_ratio"] = result["soap_rps"] / result["soap_base_rps"]
        result["file_ratio"] = result["file_rps"] / result["file_base_rps"]
    finally:
        proc.stop()
        engine.dispose()
        drop()
    return result


def report(results: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'backend':<11}{'run':<22}{'records':>9}{'seconds':>9}{'rec/s':>10}{'baseline rec/s':>16}"
        f"{'ratio':>7}"
    )
    for r in results:
        print(
            f"{r['backend']:<11}{'SOAP submit->done':<22}{r['soap_records']:>9}{r['soap_seconds']:>9.2f}"
            f"{r['soap_rps']:>10.0f}{r['soap_base_rps']:>16.0f}{r['soap_ratio']:>7.2f}"
        )
        print(
            f"{'':<11}{'SOAP validate->answer':<22}{r['soap_records']:>9}{r['validate_seconds']:>9.2f}"
            f"{r['soap_records'] / r['validate_seconds']:>10.0f}"
        )
        print(
            f"{'':<11}{'file submit->done':<22}{r['file_records']:>9}{r['file_seconds']:>9.2f}"
            f"{r['file_rps']:>10.0f}{r['file_base_rps']:>16.0f}{r['file_ratio']:>7.2f}"
        )
        print(
            f"{'':<11}peak RSS MB: server {r['server_peak_mb']:.0f} (after the SOAP run "
            f"{r['soap_server_peak_mb']:.0f}), worker {r['worker_peak_mb']:.0f} "
            f"(after the SOAP run {r['soap_worker_peak_mb']:.0f}), batch submit {r['submit_peak_mb']:.0f}; "
            f"file stored (job visible) after {r['file_stored_seconds']:.2f} s"
        )
        answers = sorted(r["soap_accept_seconds"])
        print(
            f"{'':<11}SubmitAchievementBatchJob of {r['soap_records']} answered after (s): "
            + ", ".join(f"{a:.3f}" for a in r["soap_accept_seconds"])
            + f"; median {answers[len(answers) // 2]:.3f}"
        )
        same = r["same_target_seconds"]
        if same:
            print(
                f"{'':<11}jobs of {r['soap_records']} Creates for one ULN and reference, seconds each: "
                + ", ".join(f"{t:.2f}" for t in same)
                + f"; last/first {same[-1] / same[0]:.2f}"
            )
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / f"batch-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--records-soap", type=int, default=5000)
    parser.add_argument("--records-file", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--chunk-size", type=int, default=1000, help="records a worker transaction")
    parser.add_argument("--soap-repeats", type=int, default=3, help="SOAP submissions timed to their answer")
    parser.add_argument(
        "--same-target-jobs",
        type=int,
        default=6,
        help="jobs of Creates for one ULN and reference, one after the other",
    )
    args = parser.parse_args(argv)
    learners = ulns(LEARNERS)
    results = []
    for backend in args.backends.split(","):
        if backend == "postgresql" and pg_admin_url() is None:
            print("== postgresql: skipped (no server)", file=sys.stderr)
            continue
        results.append(run_backend(backend, args, learners))
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
