"""Clients for the fault tests: writers whose every answer is recorded, readers timing their calls, batch
jobs submitted over SOAP, slow connections, and counting what the database holds afterwards."""

from __future__ import annotations

import http.client
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
import zeep.exceptions
from lxml import etree
from sqlalchemy import text
from support.batch import achievement, unit_reference
from support.demo import AMIRA, GRACE, JAMES, OWEN
from support.soap import DEMO1, fault_code

from deploy.topology import CERT_HEADER, Topology

OK, FAULT, TRANSPORT = "told OK", "told fault", "told transport error"


def record(mis: str, uln: str = OWEN) -> dict[str, Any]:
    return {
        "AchievementAwardDate": datetime(2015, 1, 1),
        "Action": 1,
        "ActionDate": datetime(2015, 1, 2),
        "GivenName": "Owen",
        "FamilyName": "Jones",
        "MisIdentifier": mis,
        "ProviderUkprn": "10000001",
        "Uln": uln,
        "UnitOrQualificationReferenceNumber": "K/501/5773",
    }


@dataclass
class Writers:
    """`clients` threads calling CreateAchievement with a distinct MisIdentifier each time."""

    topology: Topology
    prefix: str
    clients: int = 4
    max_calls: int = 2000
    told: dict[str, str] = field(default_factory=dict)
    fault_codes: dict[str, str] = field(default_factory=dict)  # MisIdentifier -> the fault's ErrorCode
    began: dict[str, float] = field(default_factory=dict)  # MisIdentifier -> monotonic time it was sent
    answered: dict[str, float] = field(default_factory=dict)  # ... and answered
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Writers:
        soaps = [self.topology.soap("DEMO01", timeout=60) for _ in range(self.clients)]
        self.threads = [
            threading.Thread(target=self._run, args=(n, soap), daemon=True) for n, soap in enumerate(soaps)
        ]
        for thread in self.threads:
            thread.start()
        return self

    def _run(self, n: int, soap: Any) -> None:
        for i in range(self.max_calls):
            if self.stop.is_set():
                return
            mis = f"{self.prefix}-{n}-{i}"
            began, code = time.monotonic(), None
            try:
                soap.CreateAchievement(invokingUser=DEMO1, submissionType="Final", achievement=record(mis))
                outcome = OK
            except zeep.exceptions.Fault as fault:
                outcome, code = FAULT, fault_code(fault)
            except (zeep.exceptions.TransportError, requests.RequestException):
                outcome = TRANSPORT
            with self.lock:
                self.told[mis] = outcome
                self.began[mis], self.answered[mis] = began, time.monotonic()
                if code is not None:
                    self.fault_codes[mis] = code

    def count(self, outcome: str) -> int:
        with self.lock:
            return sum(1 for told in self.told.values() if told == outcome)

    def finish(self) -> dict[str, str]:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in self.threads)
        return dict(self.told)


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what} after {timeout} s")


def applied(t: Topology, prefix: str) -> dict[str, tuple[int, int]]:
    """MisIdentifier -> (achievements holding it, audit events of those achievements)."""
    assert t.engine is not None
    with t.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.mis_identifier, COUNT(DISTINCT a.id), COUNT(ev.id) FROM achievements a"
                " LEFT JOIN audit_events ev ON ev.achievement_id = a.id"
                " WHERE a.mis_identifier LIKE :p GROUP BY a.mis_identifier"
            ),
            {"p": f"{prefix}-%"},
        ).all()
    return {mis: (int(n), int(events)) for mis, n, events in rows}


def tally(told: dict[str, str], found: dict[str, tuple[int, int]]) -> dict[str, int]:
    """The counts the fault tests report: what clients were told against what was applied."""
    return {
        "told OK": sum(1 for o in told.values() if o == OK),
        "told OK, applied once": sum(1 for m, o in told.items() if o == OK and found.get(m, (0, 0))[0] == 1),
        "told fault": sum(1 for o in told.values() if o == FAULT),
        "told fault, applied": sum(1 for m, o in told.items() if o == FAULT and m in found),
        "told transport error": sum(1 for o in told.values() if o == TRANSPORT),
        "told transport error, applied": sum(1 for m, o in told.items() if o == TRANSPORT and m in found),
        "applied twice or more": sum(1 for n, _ in found.values() if n > 1),
        "audit events != achievements": sum(1 for n, ev in found.values() if ev != n),
        "applied, never asked": sum(1 for m in found if m not in told),
    }


class HalfSentRequest:
    """CreateAchievement sent straight to one app server (from the trusted proxy address, with DEMO01's
    certificate in the proxy's header), stopped half way through its body until `finish`."""

    def __init__(self, t: Topology, index: int, achievement: dict[str, Any]) -> None:
        client = zeep.Client(f"{t.soap_url}?wsdl", transport=zeep.Transport(session=t.session("DEMO01")))
        message = client.create_message(
            client.service,
            "CreateAchievement",
            invokingUser=DEMO1,
            submissionType="Final",
            achievement=achievement,
        )
        body = etree.tostring(message)
        self.rest = body[len(body) // 2 :]
        self.conn = http.client.HTTPConnection("127.0.0.1", t.apps[index].port, timeout=60)
        self.conn.putrequest("POST", "/ExternalService.svc")
        for name, value in {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '""',
            "Content-Length": str(len(body)),
            CERT_HEADER: quote(t.pki["DEMO01"].pem, safe=""),
        }.items():
            self.conn.putheader(name, value)
        self.conn.endheaders(body[: len(body) // 2])
        time.sleep(0.5)  # let gunicorn's worker accept it and start reading the body

    def finish(self) -> tuple[int, bytes]:
        try:
            self.conn.send(self.rest)
            answer = self.conn.getresponse()
            return answer.status, answer.read()
        finally:
            self.conn.close()


# -- batch jobs ----------------------------------------------------------------------------------------------


def submit_job(t: Topology, prefix: str, records: int) -> int:
    ulns = [OWEN, GRACE, AMIRA, JAMES]
    rows = [achievement(ulns[i % len(ulns)], unit_reference(i), mis=f"{prefix}-{i}") for i in range(records)]
    answer = t.soap("DEMO01", timeout=120).SubmitAchievementBatchJob(
        invokingUser=DEMO1,
        emailAddress="mi@demo1.example",
        submissionType="Final",
        achievements={"Achievement": rows},
    )
    assert answer.ResponseCode == "WSRC0000"
    return int(answer.JobId)


def job_row(t: Topology, job_id: int) -> Any:
    assert t.engine is not None
    with t.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT status, records_done, record_count, created, attempts, worker_id FROM batch_jobs"
                " WHERE id = :id"
            ),
            {"id": job_id},
        ).one()


def told_by_service(t: Topology, job_id: int) -> Any:
    return t.soap("DEMO01").GetAchievementBatchJob(invokingUser=DEMO1, jobId=job_id)


def wait_finished(t: Topology, job_id: int, timeout: float = 240) -> Any:
    return wait_for(
        lambda: job_row(t, job_id) if job_row(t, job_id).status not in ("Queued", "InProgress") else None,
        timeout,
        f"job {job_id} to finish",
        interval=0.5,
    )


def worker_holding(t: Topology, job_id: int) -> int:
    """Index in t.workers of the worker process holding the job (its pid is in the worker id)."""
    worker_id = wait_for(lambda: job_row(t, job_id).worker_id, 60, f"job {job_id} to be claimed")
    pid = int(str(worker_id).split(":")[1])
    return next(i for i, w in enumerate(t.workers) if w.pid == pid)


# -- readers and slow connections --------------------------------------------------------------------------


@dataclass
class Readers:
    """`clients` threads calling GetLearnerAchievements back to back, timing each call."""

    topology: Topology
    clients: int = 4
    max_calls: int = 5000
    durations: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Readers:
        soaps = [self.topology.soap("DEMO01", timeout=60) for _ in range(self.clients)]
        self.threads = [threading.Thread(target=self._run, args=(s,), daemon=True) for s in soaps]
        for thread in self.threads:
            thread.start()
        return self

    def _run(self, soap: Any) -> None:
        for _ in range(self.max_calls):
            if self.stop.is_set():
                return
            started = time.perf_counter()
            try:
                soap.GetLearnerAchievements(invokingUser=DEMO1, uln=GRACE)
                self.durations.append(time.perf_counter() - started)
            except Exception as exc:  # every failure is counted and reported, none ignored
                self.failures.append(type(exc).__name__)

    def finish(self) -> tuple[float, int, list[str]]:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
        return statistics.median(self.durations), len(self.durations), self.failures


class SlowClients:
    """`count` TLS connections (with a valid client certificate) trickling one byte a second: half of them
    their request header, half their body (a Content-Length never reached). A connection nginx closes
    (its header timeout) is opened again, until `seconds` have passed."""

    def __init__(self, t: Topology, count: int, seconds: float) -> None:
        self.t = t
        self.count = count
        self.seconds = seconds
        self.context = ssl.create_default_context(cafile=str(t.server_ca))
        issued = t.pki["DEMO01"]
        self.context.load_cert_chain(str(issued.cert_path), str(issued.key_path))
        self.opened = 0
        self.reopened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.established = threading.Event()

    def _open(self, index: int) -> ssl.SSLSocket | None:
        try:
            raw = socket.create_connection(("127.0.0.1", self.t.nginx_port), timeout=10)
            conn = self.context.wrap_socket(raw, server_hostname="127.0.0.1")
            head = b"POST /ExternalService.svc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            if index % 2:
                head += b"Content-Type: text/xml\r\nContent-Length: 1000000\r\n\r\n<"
            conn.sendall(head)
            conn.settimeout(0.05)
            self.opened += 1
            return conn
        except OSError:
            return None

    def _tick(self, index: int, conn: ssl.SSLSocket) -> bool:
        """Send one more byte; False when nginx has closed the connection."""
        try:
            conn.sendall(b"x" if index % 2 else b"X")
            return True
        except (OSError, ssl.SSLError):
            return False

    def _run(self) -> None:
        conns: list[ssl.SSLSocket | None] = [self._open(i) for i in range(self.count)]
        self.established.set()
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            for i, conn in enumerate(conns):
                if conn is None or not self._tick(i, conn):
                    if conn is not None:
                        conn.close()
                    conns[i] = self._open(i)
                    self.reopened += 1
            time.sleep(1.0)
        for conn in conns:
            if conn is not None:
                conn.close()

    def start(self) -> SlowClients:
        self.thread.start()
        self.established.wait(timeout=120)
        return self

    def join(self) -> None:
        self.thread.join(timeout=self.seconds + 120)
