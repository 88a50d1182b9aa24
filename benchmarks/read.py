"""Read-path benchmark: `python -m benchmarks.read` (also part of `make bench`).

For SQLite and PostgreSQL, on a fresh database holding the demo data, five gunicorn servers with the same
settings (LRS_WS gunicorn configuration, 2 sync workers): the service; `benchmarks/raw_read.py`, a plain
WSGI handler that parses the same request with lxml, does the same cached password check and the same SQL and
writes the same response bytes; `benchmarks/spyne_floor.py`, the service's spyne application answering
each distinct request once and then from memory (what spyne and gunicorn alone cost a call), alone ("floor")
and behind the service's front layers ("duties": the request log line, metrics and the hostile-input guard
added); and `benchmarks.raw_read:fixed`, which answers the raw handler's bytes without reading anything (what
gunicorn alone costs). It first checks that all five answer byte-identical XML, then measures:

- **CPU per request** of GetLearnerAchievements (demo learner 3415521949: three achievements) and
  GetAchievement: utime+stime of the server's worker processes, read from /proc, plus, on PostgreSQL, of the
  database backends serving them (told apart by application_name). Rounds of `--requests` sequential calls
  take the servers in turn (interleaved, the order rotated each round, so drift in the machine's load hits
  all); per request, the median over `--rounds` rounds, the ratio raw/service, raw/floor, and two ceilings:
  raw / (floor + raw - fixed), the raw/service of a service on spyne doing the raw handler's own work (raw -
  fixed) exactly as cheaply, which no service built on spyne can beat; and raw / (duties + raw - fixed), the
  same for a service on spyne that also logs, counts and guards each request as this one does.
- **Latency tail**: `--sequential` sequential GetLearnerAchievements against each server: the median, the
  p99, the slowest, and how many took over 5x the median, by wall clock and by the CPU the server spent on
  each call (/proc/PID/schedstat, in nanoseconds): on a shared machine a call may wait for a CPU longer than
  it runs, which only the first counts.

Loopback only; the PostgreSQL server is found as by `benchmarks.run` (LRS_WS_BENCH_PG_URL, LRS_WS_TEST_PG_URL,
or a throwaway local cluster).

    python -m benchmarks.read --backends sqlite --rounds 10 --requests 200
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from benchmarks.run import REPO, children, env_for, free_port, new_database, pg_admin_url

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"
ENVELOPE = (
    f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}" '
    f'xmlns:m="{MODEL}"><soap:Body><s:{{op}}><s:invokingUser><m:OrgPassword>DemoPassword0001</m:OrgPassword>'
    "<m:OrganisationRef>DEMO01</m:OrganisationRef><m:UserName>demo1.edc</m:UserName></s:invokingUser>"
    "{params}</s:{op}></soap:Body></soap:Envelope>"
)
CALLS = {
    "GetLearnerAchievements": ENVELOPE.format(
        op="GetLearnerAchievements", params="<s:uln>3415521949</s:uln>"
    ).encode(),
    "GetAchievement": ENVELOPE.format(
        op="GetAchievement", params="<s:achievementId>1</s:achievementId>"
    ).encode(),
}
HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
# The servers compared, in the order of the report's columns.
APPS = {
    "raw": "benchmarks.raw_read:application",
    "service": "lrs_ws.wsgi:application",
    "floor": "benchmarks.spyne_floor:application",
    "duties": "benchmarks.spyne_floor:duties",
    "fixed": "benchmarks.raw_read:fixed",
}


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Server:
    """One gunicorn server (the service or the raw handler) and the processes its CPU is counted over."""

    name: str
    app: str
    url: str
    logs: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    session: requests.Session = field(default_factory=requests.Session)
    admin: Any = None  # an engine on the database, to find the backends (PostgreSQL only)

    @property
    def soap_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ExternalService.svc"

    def start(self) -> Server:
        log = open(self.logs / f"{self.name}.log", "ab")  # noqa: SIM115 - kept open while it runs
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--worker-class",
                "sync",
                "--threads",
                "1",
                "--no-control-socket",
                "--config",
                "python:lrs_ws.gunicorn_conf",
                self.app,
            ],
            env=env_for(self.url, LRS_WS_PUBLIC_URL=self.soap_url, LRS_WS_LOG_JSON="true"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.post(CALLS["GetAchievement"])
                return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start; see {self.logs / f'{self.name}.log'}")

    def post(self, body: bytes) -> bytes:
        answer = self.session.post(self.soap_url, data=body, headers=HEADERS, timeout=30)
        answer.raise_for_status()
        return answer.content

    def pids(self) -> list[int]:
        assert self.process is not None
        workers = children(self.process.pid)
        if self.admin is None:
            return workers
        with self.admin.connect() as conn:
            backends = (
                conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"), {"n": self.name}
                )
                .scalars()
                .all()
            )
        return workers + list(backends)

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def with_application_name(url: str, name: str) -> str:
    if url.startswith("sqlite"):
        return url
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def cpu_per_request(server: Server, body: bytes, n: int) -> float:
    pids = server.pids()
    before = sum(cpu_seconds(p) for p in pids)
    for _ in range(n):
        server.post(body)
    # Both workers log and count after the response has gone; let them finish before reading.
    time.sleep(0.05)
    return (sum(cpu_seconds(p) for p in pids) - before) / n


def interleaved(servers: list[Server], body: bytes, rounds: int, n: int) -> dict[str, Any]:
    """CPU per request of each server, rounds of `n` calls taken in turn (the order rotated each round)."""
    per: dict[str, list[float]] = {s.name: [] for s in servers}
    ratios = []
    for i in range(rounds):
        order = servers[i % len(servers) :] + servers[: i % len(servers)]
        got = {s.name: cpu_per_request(s, body, n) for s in order}
        for name, seconds in got.items():
            per[name].append(seconds)
        ratios.append(got["raw"] / got["service"] if got["service"] else float("nan"))
    us = {name: statistics.median(values) * 1e6 for name, values in per.items()}
    return {
        "raw_us": us["raw"],
        "service_us": us["service"],
        "floor_us": us["floor"],
        "ratio": us["raw"] / us["service"],
        "floor_ratio": us["raw"] / us["floor"],
        "fixed_us": us["fixed"],
        # A service doing the raw handler's work exactly as cheaply, on top of spyne: the best raw/service.
        "ceiling": us["raw"] / (us["floor"] + us["raw"] - us["fixed"]),
        "duties_us": us["duties"],
        # The same with the request log line, metrics and the guard every call of the service owes.
        "duties_ceiling": us["raw"] / (us["duties"] + us["raw"] - us["fixed"]),
        "round_ratios": [round(r, 3) for r in ratios],
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def cpu_ns(pids: list[int]) -> int:
    """Nanoseconds the processes have run on a CPU (/proc/PID/schedstat: exact, unlike the ticks of stat)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except OSError:
            pass
    return total


def tail_of(values: list[float]) -> dict[str, Any]:
    median = statistics.median(values)
    ordered = sorted(values)
    return {
        "median_ms": median * 1000,
        "p99_ms": ordered[int(len(values) * 0.99) - 1] * 1000,
        "max_ms": ordered[-1] * 1000,
        "over_5x_median": sum(v > 5 * median for v in values),
    }


def latency_tail(server: Server, body: bytes, n: int) -> dict[str, Any]:
    """Wall clock of each call, and the CPU the server spent on it: on a busy machine a call can wait for a
    CPU for longer than it runs, which the second does not count."""
    pids = server.pids()
    times, cpu = [], []
    for _ in range(n):
        ran = cpu_ns(pids)
        started = time.perf_counter()
        server.post(body)
        times.append(time.perf_counter() - started)
        cpu.append((cpu_ns(pids) - ran) / 1e9)
    return {"calls": n, "wall": tail_of(times), "cpu": tail_of(cpu)}


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.service import demo

    workdir = Path(tempfile.mkdtemp(prefix=f"lrs-bench-read-{backend}-"))
    print(f"\n== {backend} ({workdir})", file=sys.stderr)
    url, drop = new_database(backend, workdir, "read")
    wiring = wire(Settings(database_url=url))
    demo.load(wiring.uow_factory())
    wiring.engine.dispose()
    admin = None if backend == "sqlite" else create_engine(url)
    servers: list[Server] = []
    try:
        for name, app in APPS.items():
            servers.append(Server(name, app, with_application_name(url, name), workdir, admin=admin).start())
        raw, service, floor, duties, fixed = servers
        result: dict[str, Any] = {"backend": backend}
        for op, body in CALLS.items():
            expected = raw.post(body)
            for other in (service, floor, duties, fixed):
                got = other.post(body)
                assert got == expected, f"{op}: {other.name} and raw handler differ:\n{got!r}\n{expected!r}"
            for _ in range(50):  # warm all five (password cache, pools, statement caches)
                for s in servers:
                    s.post(body)
            print(f"  {op}: {args.rounds} interleaved rounds of {args.requests} calls", file=sys.stderr)
            result[op] = interleaved(servers, body, args.rounds, args.requests)
        if args.sequential > 0:
            print(f"  latency: {args.sequential} sequential GetLearnerAchievements", file=sys.stderr)
            result["tail"] = latency_tail(service, CALLS["GetLearnerAchievements"], args.sequential)
            result["tail_raw"] = latency_tail(raw, CALLS["GetLearnerAchievements"], args.sequential)
        return result
    finally:
        for s in servers:
            s.stop()
        if admin is not None:
            admin.dispose()
        drop()


def report(results: list[dict[str, Any]], out: Callable[[str], None] = print) -> None:
    out("")
    out(
        f"{'backend':<11}{'operation':<24}{'service µs':>11}{'raw µs':>8}{'raw/service':>12}"
        f"{'  (rounds: min-max)':<20}{'floor µs':>9}{'raw/floor':>10}{'fixed µs':>9}{'ceiling':>8}"
        f"{'duties µs':>10}{'ceiling':>8}"
    )
    for r in results:
        for op in CALLS:
            m = r[op]
            out(
                f"{r['backend']:<11}{op:<24}{m['service_us']:>11.0f}{m['raw_us']:>8.0f}{m['ratio']:>12.2f}"
                f"  ({m['ratio_min']:.2f}-{m['ratio_max']:.2f}){'':<7}"
                f"{m['floor_us']:>9.0f}{m['floor_ratio']:>10.2f}{m['fixed_us']:>9.0f}{m['ceiling']:>8.2f}"
                f"{m['duties_us']:>10.0f}{m['duties_ceiling']:>8.2f}"
            )
    for r in results:
        for key, who in (("tail", "service"), ("tail_raw", "raw")):
            if key not in r:
                continue  # --sequential 0: no latency-tail run
            t = r[key]
            out(f"{r['backend']:<11}{who:<8} {t['calls']} sequential GetLearnerAchievements:")
            for what, label in (("wall", "wall clock"), ("cpu", "server CPU")):
                m = t[what]
                out(
                    f"{'':<20}{label:<11} median {m['median_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms, max "
                    f"{m['max_ms']:.1f} ms, {m['over_5x_median']} over 5x the median"
                )
    load = os.getloadavg()
    out(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    folder = REPO / "bench-results"
    folder.mkdir(exist_ok=True)
    (folder / f"read-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.read", description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved raw/service rounds per operation")
    parser.add_argument("--requests", type=int, default=200, help="sequential calls per round")
    parser.add_argument(
        "--sequential", type=int, default=1000, help="calls of the latency-tail run, 0 for none"
    )
    args = parser.parse_args(argv)
    results = []
    for backend in args.backends.split(","):
        if backend == "postgresql" and pg_admin_url() is None:
            print("== postgresql: skipped (no server)", file=sys.stderr)
            continue
        results.append(run_backend(backend, args))
        report(results[-1:], lambda line: print(line, file=sys.stderr))  # kept should a later backend fail
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
