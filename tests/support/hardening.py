"""Measuring a live gunicorn server from outside: worker CPU and memory, raw HTTP, leak checks."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from support.server import LiveServer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"

# SQL as a database driver would quote it in an error: keywords in capitals, in the order SQL needs.
SQL = re.compile(
    r"\bSELECT\b[^\n]{0,300}?\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\b[^\n]{0,200}?\bSET\b|\bDELETE\s+FROM\b"
)
STACK_TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+")


def worker_pids(server: LiveServer) -> list[int]:
    """The gunicorn workers: children of the LiveServer's master process."""
    assert server.process is not None
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Cost:
    """What one request cost the server's workers: CPU seconds, and memory before/after per worker."""

    pids: list[int] = field(default_factory=list)
    cpu: float = 0.0
    rss_before_kib: dict[int, int] = field(default_factory=dict)
    rss_after_kib: dict[int, int] = field(default_factory=dict)

    @property
    def rss_growth_kib(self) -> int:
        return max(self.rss_after_kib[p] - self.rss_before_kib[p] for p in self.pids)

    def describe(self, label: str) -> str:
        before = "/".join(f"{self.rss_before_kib[p] / 1024:.1f}" for p in self.pids)
        after = "/".join(f"{self.rss_after_kib[p] / 1024:.1f}" for p in self.pids)
        return (
            f"{label}: worker CPU {self.cpu * 1000:.0f} ms, RSS MiB before {before} after {after} "
            f"(growth {self.rss_growth_kib / 1024:+.1f} MiB)"
        )


@contextmanager
def measured(server: LiveServer, settle: float = 0.3) -> Iterator[Cost]:
    """Measure the workers' CPU and memory around the block (both workers: either may take the request)."""
    cost = Cost(pids=worker_pids(server))
    cpu_before = sum(cpu_seconds(p) for p in cost.pids)
    cost.rss_before_kib = {p: rss_kib(p) for p in cost.pids}
    yield cost
    # The worker logs and counts after the response has gone out; let it finish before reading.
    time.sleep(settle)
    cost.cpu = sum(cpu_seconds(p) for p in cost.pids) - cpu_before
    cost.rss_after_kib = {p: rss_kib(p) for p in cost.pids}


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def _parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return RawResponse(status, headers, body)


def raw_post(
    server: LiveServer,
    headers: dict[str, str],
    body_parts: Iterator[bytes] | list[bytes],
    path: str = "/ExternalService.svc",
    timeout: float = 30.0,
) -> RawResponse:
    """POST over a plain socket, stopping the upload as soon as the server answers.

    A server that refuses a body without reading it (413) answers and closes while the client is still
    sending; a client that only reads after sending everything would see a reset instead of the answer.
    """
    request = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    request += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "Connection: close\r\n\r\n"
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request.encode("latin-1"))
        sock.setblocking(False)
        for part in body_parts:
            view = memoryview(part)
            while view:
                try:
                    chunk = sock.recv(65536)
                    if chunk:
                        received += chunk
                        break
                except BlockingIOError:
                    pass
                try:
                    sent = sock.send(view)
                    view = view[sent:]
                except BlockingIOError:
                    time.sleep(0.001)
                except (BrokenPipeError, ConnectionResetError):
                    view = view[:0]
                    break
            if received:
                break
        sock.setblocking(True)
        sock.settimeout(timeout)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    assert received, "the server answered nothing"
    return _parse_response(received)


def wait_until_accepted(server: LiveServer, client: socket.socket, timeout: float = 10.0) -> None:
    """Wait until a worker has accept()ed `client`'s connection (it is no longer in the listen backlog).

    In /proc/net/tcp a connection still waiting in the backlog has no socket inode yet.
    """
    client_port = client.getsockname()[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if (local_port, remote_port) == (server.port, client_port) and fields[9] != "0":
                    return
        time.sleep(0.02)
    raise AssertionError("no worker accepted the connection")


def chunked(parts: Iterator[bytes] | list[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer encoding of `parts`."""
    for part in parts:
        if part:
            yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


class LogCursor:
    """Reads what a server appended to its log since the cursor was made (or last read)."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.offset = server.log_path.stat().st_size if server.log_path.exists() else 0
        self.seen = ""  # everything read so far

    def new_text(self) -> str:
        with open(self.server.log_path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        text = data.decode("utf-8", "replace")
        self.seen += text
        return text

    def request_line(self, request_id: str, timeout: float = 10.0) -> dict[str, object]:
        """The request's log line (written just after its response went out, so wait for it)."""
        deadline = time.monotonic() + timeout
        while True:
            self.new_text()
            for entry in json_lines(self.seen):
                if entry.get("request_id") == request_id and entry.get("msg") == "request":
                    return entry
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line for request {request_id}")
            time.sleep(0.05)


def assert_no_leak(text: str, secrets: tuple[str, ...] = (), where: str = "text") -> None:
    """No stack trace, no SQL, none of `secrets` (passwords, file contents) in `text`."""
    trace = STACK_TRACE.search(text)
    assert trace is None, (
        f"stack trace in {where}: ...{text[max(trace.start() - 200, 0) : trace.end() + 200]}"
    )
    sql = SQL.search(text)
    assert sql is None, f"SQL in {where}: ...{text[max(sql.start() - 200, 0) : sql.end() + 200]}"
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:4]}...) appears in {where}"


def json_lines(text: str) -> list[dict[str, object]]:
    """Every non-empty line parsed as one JSON object (fails on any line that is not)."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"log line is not JSON: {line[:300]!r}") from None
        assert isinstance(entry, dict), line[:300]
        entries.append(entry)
    return entries
