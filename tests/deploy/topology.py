"""The reference deployment on loopback, started from the files in deploy/.

    clients --TLS + client cert--> nginx (deploy/nginx/lrs-ws.conf)
                                     |-- app server 1 (gunicorn) --|
                                     |-- app server 2 (gunicorn) --|-- PgBouncer -- PostgreSQL
                                       worker 1, worker 2 ---------|

Each file is rendered by replacing its @@NAME@@ markers, exactly as deploy/README.md tells an operator to.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import zeep
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from support.batch import start_worker
from support.certs import Authority, Issued
from support.pg import create_database, private_cluster
from support.server import LiveServer, free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CERT_HEADER = "X-Client-Cert"
MAX_REQUEST_BYTES = 10 * 1024 * 1024
LRS_WS = Path(sys.executable).with_name("lrs-ws")


def render(template: Path, values: dict[str, str]) -> str:
    """The file with every @@NAME@@ replaced; a marker left without a value is an error."""
    text = template.read_text()
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", value)
    assert "@@" not in text, f"{template.name}: markers left unrendered"
    return text


def _as_postgres() -> list[str]:
    # PgBouncer, like PostgreSQL, refuses to run as root.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            raise RuntimeError(f"{what} exited early:\n{text}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, group: bool = False) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL) if group else proc.kill()
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


@dataclass
class Topology:
    root: Path
    pki: dict[str, Issued] = field(default_factory=dict)
    server_ca: Path | None = None
    database: str = ""
    admin_url: str = ""
    postgres: Any = None
    pgbouncer: subprocess.Popen[bytes] | None = None
    pgbouncer_port: int = 0
    pgbouncer_dir: Path | None = None
    nginx_dir: Path | None = None
    nginx: subprocess.Popen[bytes] | None = None
    nginx_port: int = 0
    apps: list[LiveServer] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    engine: Engine | None = None

    # -- addresses ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL every lrs_ws process uses: through PgBouncer."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.pgbouncer_port}/{self.database}"

    @property
    def soap_url(self) -> str:
        return f"https://127.0.0.1:{self.nginx_port}/ExternalService.svc"

    def service_env(self) -> dict[str, str]:
        return {
            "LRS_WS_DATABASE_PREPARED_STATEMENTS": "false",
            "LRS_WS_CLIENT_CERT_HEADER": CERT_HEADER,
            "LRS_WS_TRUSTED_PROXIES": "127.0.0.1",
            "LRS_WS_PUBLIC_URL": self.soap_url,
            "LRS_WS_LOGIN_FAILURE_LIMIT": "100000",
            "LRS_WS_WORKER_CHUNK_SIZE": "250",
            "LRS_WS_WORKER_POLL_SECONDS": "0.2",
            "LRS_WS_STALE_JOB_SECONDS": "6",
        }

    # -- start -------------------------------------------------------------------------------------------

    def start(self) -> Topology:
        missing = [name for name in ("nginx", "pgbouncer") if not Path(f"/usr/sbin/{name}").exists()]
        if missing:
            import pytest

            # CI installs both (.ci/run); there their absence is a failure, not a skip.
            if os.environ.get("CI", "").lower() == "true":
                raise RuntimeError(f"{' and '.join(missing)} not installed")
            pytest.skip(f"{' and '.join(missing)} not installed (apt-get install nginx pgbouncer)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self._pki()
        self._postgres()
        self._pgbouncer()
        self._schema()
        self.apps = [self._app(i) for i in (1, 2)]
        self._nginx()
        self.workers = [self.start_worker(i) for i in (1, 2)]
        return self

    def _pki(self) -> None:
        pki = self.root / "pki"
        pki.mkdir()
        server_ca = Authority(pki, "server CA")
        client_ca = Authority(pki, "AO client CA")
        self.server_ca = server_ca.issued.cert_path
        self.pki["server"] = server_ca.issue("server", "127.0.0.1", server=True)
        self.pki["client_ca"] = client_ca.issued
        self.pki["DEMO01"] = client_ca.issue("demo01", "demo01 system", server=False, organisation="DEMO01")
        self.pki["DEMO02"] = client_ca.issue("demo02", "demo02 system", server=False, organisation="DEMO02")
        # Signed by the server CA, not the client CA: nginx must refuse it.
        self.pki["stranger"] = server_ca.issue("stranger", "not an AO", server=False)
        for path in pki.iterdir():
            path.chmod(0o644)

    def _postgres(self) -> None:
        # A cluster of the deployment's own, so that a test may stop it and start it again.
        self.postgres = private_cluster()
        if self.postgres is None:
            import pytest

            pytest.skip("no local PostgreSQL binaries")
        self.admin_url = self.postgres.url
        url = create_database(self.admin_url, "lrs_deploy")
        self.database = str(make_url(url).database)

    def stop_postgres(self) -> None:
        """`pg_ctl stop -m fast`: every session is cut; PgBouncer stays up and cannot reach it."""
        assert self.postgres is not None
        self.postgres.stop_fast()

    def start_postgres(self) -> None:
        """PostgreSQL again on the same port and data directory."""
        assert self.postgres is not None
        self.postgres.start_again()

    def _pgbouncer(self) -> None:
        # Outside pytest's own temporary directory, which the postgres user may not enter.
        run = Path(tempfile.mkdtemp(prefix="lrs_ws_pgbouncer_"))
        run.chmod(0o755)
        self.pgbouncer_dir = run
        admin = make_url(self.admin_url)
        auth_file = run / "userlist.txt"
        auth_file.write_text('"postgres" ""\n')
        self.pgbouncer_port = free_port()
        ini = run / "pgbouncer.ini"
        ini.write_text(
            render(
                DEPLOY / "pgbouncer" / "pgbouncer.ini",
                {
                    "DB_ALIAS": self.database,
                    "PG_HOST": str(admin.host),
                    "PG_PORT": str(admin.port),
                    "PG_DBNAME": self.database,
                    "LISTEN_ADDR": "127.0.0.1",
                    "LISTEN_PORT": str(self.pgbouncer_port),
                    "RUN_DIR": str(run),
                    "LOG_FILE": str(run / "pgbouncer.log"),
                    "AUTH_TYPE": "trust",
                    "AUTH_FILE": str(auth_file),
                    "ADMIN_USER": "postgres",
                },
            )
        )
        if os.geteuid() == 0:
            shutil.chown(run, "postgres", "postgres")
            for path in run.iterdir():
                shutil.chown(path, "postgres", "postgres")
        self.start_pgbouncer()

    def start_pgbouncer(self) -> None:
        """PgBouncer from this deployment's pgbouncer.ini, on its port (again, after `stop_pgbouncer`)."""
        assert self.pgbouncer_dir is not None
        with open(self.root / "pgbouncer.stderr", "ab") as stderr:  # the child keeps its own copy
            self.pgbouncer = subprocess.Popen(
                [*_as_postgres(), "/usr/sbin/pgbouncer", str(self.pgbouncer_dir / "pgbouncer.ini")],
                cwd=self.pgbouncer_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        _wait_port(self.pgbouncer_port, self.pgbouncer, "pgbouncer", self.root / "pgbouncer.stderr")
        if self.engine is not None:
            self.engine.dispose()  # its pooled connections were cut with the old PgBouncer

    def stop_pgbouncer(self) -> None:
        """SIGINT, PgBouncer's fast shutdown: every client and server connection is cut at once."""
        _stop(self.pgbouncer, signal.SIGINT, group=True)

    def direct_engine(self) -> Engine:
        """The deployment's database straight on PostgreSQL, one new connection per use (for counting while
        PgBouncer is down)."""
        url = make_url(self.admin_url).set(database=self.database)
        return create_engine(url, poolclass=NullPool, connect_args={"prepare_threshold": None})

    def _schema(self) -> None:
        env = {**os.environ, "LRS_WS_DATABASE_URL": self.url, "LRS_WS_DATABASE_PREPARED_STATEMENTS": "false"}
        for argv in (["db", "upgrade"], ["demo-data"]):
            done = subprocess.run([str(LRS_WS), *argv], env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
        self.engine = create_engine(self.url, connect_args={"prepare_threshold": None})

    def _app(self, number: int, port: int | None = None) -> LiveServer:
        server = LiveServer(self.url, self.root / f"app-{number}.log", extra_env=self.service_env())
        if port is not None:
            server.port = port
        return server.start()

    def signal_app(self, index: int, sig: int) -> None:
        """SIGKILL: the whole app host dies (master and workers); SIGTERM: gunicorn's graceful stop."""
        process = self.apps[index].process
        assert process is not None
        if sig == signal.SIGKILL:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    def restart_app(self, index: int) -> None:
        """Start app server `index` again on its port (nginx's upstream names the port)."""
        old = self.apps[index]
        if old.process is not None:
            try:
                old.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(old.process.pid, signal.SIGKILL)
                old.process.wait(timeout=10)
        self.apps[index] = self._app(index + 1, port=old.port)

    def restart_worker(self, index: int, **settings: str) -> None:
        """Worker `index` killed and started again, with `settings` (LRS_WS_...) over the usual ones."""
        old = self.workers[index]
        if old.poll() is None:
            os.killpg(old.pid, signal.SIGKILL)
        old.wait(timeout=30)
        self.workers[index] = self.start_worker(index + 1, **settings)

    def start_worker(self, number: int, **settings: str) -> subprocess.Popen[bytes]:
        return start_worker(  # type: ignore[no-any-return]
            self.url, self.root / f"worker-{number}.log", **{**self.service_env(), **settings}
        )

    def _render_site(self, drained: int | None = None) -> Path:
        """deploy/nginx/lrs-ws.conf for this deployment; app server `drained` marked `down`."""
        assert self.nginx_dir is not None
        servers = {
            f"APP_SERVER_{i + 1}": f"127.0.0.1:{app.port}" + (" down" if i == drained else "")
            for i, app in enumerate(self.apps)
        }
        site = self.nginx_dir / "lrs-ws.conf"
        site.write_text(
            render(
                DEPLOY / "nginx" / "lrs-ws.conf",
                {
                    **servers,
                    "LISTEN": f"127.0.0.1:{self.nginx_port}",
                    "SERVER_NAME": "127.0.0.1",
                    "TLS_CERT": str(self.pki["server"].cert_path),
                    "TLS_KEY": str(self.pki["server"].key_path),
                    "CLIENT_CA": str(self.pki["client_ca"].cert_path),
                    "MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
                },
            )
        )
        return site

    def drain(self, index: int | None) -> None:
        """Mark app server `index` down in nginx (None: none) and reload nginx, as deploy/README.md's
        rolling restart does; returns once that server has had no new request for a second."""
        assert self.nginx is not None
        self._render_site(drained=index)
        self.nginx.send_signal(signal.SIGHUP)
        if index is None:
            return
        log = self.apps[index].log_path
        deadline = time.monotonic() + 30
        size, quiet_since = log.stat().st_size, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 1.0:
            time.sleep(0.1)
            if log.stat().st_size != size:
                size, quiet_since = log.stat().st_size, time.monotonic()

    def _nginx(self) -> None:
        # nginx's workers run as nobody: their temporary files go where nobody may write.
        run = Path(tempfile.mkdtemp(prefix="lrs_ws_nginx_"))
        run.chmod(0o777)
        self.nginx_dir = run
        self.nginx_port = free_port()
        site = self._render_site()
        # The main context Debian's /etc/nginx/nginx.conf provides, with paths of this test's own.
        temp = "\n".join(
            f"    {kind}_temp_path {run / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        main = run / "nginx.conf"
        main.write_text(
            f"""daemon off;
worker_processes 1;
pid {run / "nginx.pid"};
error_log {run / "error.log"} warn;
events {{ worker_connections 2048; }}
http {{
    access_log {run / "access.log"};
{temp}
    include {site};
}}
"""
        )
        nginx = "/usr/sbin/nginx"
        check = subprocess.run(
            [nginx, "-t", "-p", str(run), "-e", str(run / "error.log"), "-c", str(main)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stderr
        self.nginx = subprocess.Popen(
            [nginx, "-p", str(run), "-e", str(run / "error.log"), "-c", str(main)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_port(self.nginx_port, self.nginx, "nginx", run / "error.log")

    # -- use ---------------------------------------------------------------------------------------------

    def session(self, org: str | None) -> requests.Session:
        """An HTTPS session trusting the test server CA, presenting `org`'s client certificate (if any)."""
        session = requests.Session()
        # Only this deployment's CA: no CA bundle or proxy from the environment.
        session.trust_env = False
        session.verify = str(self.server_ca)
        if org is not None:
            issued = self.pki[org]
            session.cert = (str(issued.cert_path), str(issued.key_path))
        return session

    def soap(self, org: str | None = "DEMO01", timeout: float = 30) -> Any:
        """A zeep service proxy over TLS through nginx."""
        transport = zeep.Transport(session=self.session(org), timeout=timeout, operation_timeout=timeout)
        client = zeep.Client(f"{self.soap_url}?wsdl", transport=transport)
        binding = next(iter(client.wsdl.bindings))
        return client.create_service(binding, self.soap_url)

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LRS_WS_DATABASE_URL": self.url, "LRS_WS_DATABASE_PREPARED_STATEMENTS": "false"}
        return subprocess.run([str(LRS_WS), *argv], env=env, capture_output=True, text=True, timeout=60)

    # -- stop --------------------------------------------------------------------------------------------

    def stop(self) -> None:
        for worker in self.workers:
            _stop(worker, group=True)
        _stop(self.nginx, signal.SIGQUIT, group=True)
        if self.nginx_dir is not None:
            # Keep the logs and the rendered configuration with the test's other files.
            for name in ("nginx.conf", "lrs-ws.conf", "error.log", "access.log"):
                if (self.nginx_dir / name).exists():
                    shutil.copy(self.nginx_dir / name, self.root / f"nginx-{name}")
            shutil.rmtree(self.nginx_dir, ignore_errors=True)
        for app in self.apps:
            app.stop()
        if self.engine is not None:
            self.engine.dispose()
        _stop(self.pgbouncer, signal.SIGINT, group=True)
        if self.pgbouncer_dir is not None:
            if (self.pgbouncer_dir / "pgbouncer.log").exists():
                shutil.copy(self.pgbouncer_dir / "pgbouncer.log", self.root / "pgbouncer.log")
            shutil.rmtree(self.pgbouncer_dir, ignore_errors=True)
        if self.postgres is not None:
            self.postgres.close()
