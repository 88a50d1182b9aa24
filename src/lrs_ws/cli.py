"""The `lrs-ws` command: its entry point, `serve`, `db`, `wsdl` and `demo-data`, and the registration of the
command groups of lrs_ws.operator_cli, the jobs and the reports."""

from __future__ import annotations

import argparse
import csv
import functools
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from lrs_ws import operator_cli
from lrs_ws.config import SettingError, Settings
from lrs_ws.domain.errors import DomainError
from lrs_ws.input_files import CommandError
from lrs_ws.jobs import cli as jobs_cli
from lrs_ws.jobs import edc_cli, mail_cli, validate_cli, verify_cli
from lrs_ws.reports import cli as reports_cli

Handler = Callable[[argparse.Namespace, Settings], int]


# The engines a command opened: main() disposes them when the command ends, so that a command run inside
# another process (the tests run most of them so) leaves no database connection open behind it.
_OPEN_ENGINES: list[Any] = []


def _wiring(settings: Settings) -> Any:
    """The database wiring (lrs_ws.app.Wiring) of a command; every command is handed this as
    `args.open_wiring`, so the command modules (the operator's, the jobs', the reports') need not know the
    composition root."""
    from lrs_ws.app import wire

    wiring = wire(settings)
    _OPEN_ENGINES.append(wiring.engine)
    return wiring


# -- serve / db / wsdl / demo-data -------------------------------------------------------------------------


def _public_url(host: str, port: int) -> str:
    """The address the WSDL publishes when LRS_WS_PUBLIC_URL is unset: the bound one, or for a wildcard
    address (which no client can call) this machine's name, with a warning."""
    if host in ("0.0.0.0", "::", ""):
        name = socket.gethostname()
        published = f"http://{name}:{port}/ExternalService.svc"
        wildcard = f"[{host}]" if ":" in host else host or "0.0.0.0"
        print(
            f"lrs-ws: warning: LRS_WS_PUBLIC_URL is not set and {wildcard} is not an address a client can "
            f"call: the WSDL would publish http://{wildcard}:{port}/ExternalService.svc; it publishes "
            f"{published} instead (set LRS_WS_PUBLIC_URL to choose)",
            file=sys.stderr,
            flush=True,
        )
        return published
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/ExternalService.svc"


def _port_taken(host: str, port: int) -> OSError | None:
    """Try the bind gunicorn will do, so a taken port fails at once instead of gunicorn retrying it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.db.migrate import upgrade
    from lrs_ws.jobs.supervisor import Supervisor

    taken = _port_taken(args.host, args.port)
    if taken is not None:
        print(f"lrs-ws: cannot listen on {args.host}:{args.port}: {taken.strerror or taken}", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    env = dict(os.environ)
    env["LRS_WS_DATABASE_URL"] = settings.database_url
    # Unless an operator set the public address (behind a proxy), the WSDL names the address we bind.
    if not env.get("LRS_WS_PUBLIC_URL"):
        env["LRS_WS_PUBLIC_URL"] = _public_url(args.host, args.port)
    server = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{args.host}:{args.port}",
        *(["--workers", str(args.workers)] if "workers" in args else []),
        "--config",
        "python:lrs_ws.gunicorn_conf",
        "lrs_ws.wsgi:application",
    ]
    run_worker = settings.run_worker_in_server and not args.no_worker
    worker = [sys.executable, "-c", "from lrs_ws.cli import main; raise SystemExit(main())", "worker"]

    wiring = functools.cache(lambda: _wiring(settings))  # connected only if a worker ever needs it

    def give_back(worker_id: str, counted: bool) -> None:
        from lrs_ws.service import batch_processing

        released = batch_processing.give_back(
            wiring().uow_factory(), worker_id=worker_id, count_takeover=counted
        )
        if released:
            print(f"lrs-ws: batch job {released} given back", file=sys.stderr, flush=True)

    print(
        f"lrs-ws: serving {env['LRS_WS_PUBLIC_URL']}?wsdl" + ("" if run_worker else " (no batch worker)"),
        file=sys.stderr,
        flush=True,
    )
    return Supervisor(server, worker if run_worker else None, env, give_back).run()


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from alembic.util import CommandError

    from lrs_ws.db.engine import make_engine
    from lrs_ws.db.migrate import current_revision, safe_url, upgrade

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            before = current_revision(conn)
        upgrade(settings.database_url)
        with engine.connect() as conn:
            after = current_revision(conn)
    except CommandError as exc:
        where = safe_url(settings.database_url)
        print(f"lrs-ws: cannot upgrade the database at {where}: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if before == after:
        print(f"database already at the latest revision ({after}); nothing to do")
    else:
        print(f"database upgraded from {before or 'none (empty database)'} to {after} (the latest revision)")
    return 0


def cmd_wsdl(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.app import wsdl_text

    sys.stdout.write(wsdl_text(settings))
    return 0


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import demo

    created = demo.load(_wiring(settings).uow_factory())
    print("demo data loaded" if created else "demo data already present; nothing changed")
    return 0


def _core_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="migrate the database, serve SOAP with gunicorn and run a batch worker process too",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument(
        "--workers",
        type=int,
        default=argparse.SUPPRESS,
        help="gunicorn worker processes (default: LRS_WS_GUNICORN_WORKERS, itself 2 when unset)",
    )
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="do not run the batch worker process (run `lrs-ws worker` elsewhere)",
    )
    p.set_defaults(handler=cmd_serve, needs_migrated_database=False)

    db = sub.add_parser("db", help="database administration").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply Alembic migrations up to head").set_defaults(
        handler=cmd_db_upgrade, needs_migrated_database=False
    )

    sub.add_parser("wsdl", help="print the WSDL (no database needed)").set_defaults(
        handler=cmd_wsdl, needs_migrated_database=False
    )
    sub.add_parser("demo-data", help="load the demo organisations, users, learners and EDCs").set_defaults(
        handler=cmd_demo_data
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrs-ws", description="LRS awarding-organisation web service")
    parser.set_defaults(open_wiring=_wiring)
    sub = parser.add_subparsers(dest="command", required=True)
    for register in (
        _core_commands,
        operator_cli.register_commands,
        validate_cli.register_rules,
        jobs_cli.register_commands,
        verify_cli.register_commands,
        edc_cli.register_commands,
        reports_cli.register_commands,
        mail_cli.register_commands,
    ):
        register(sub)
    return parser


def _not_ready(settings: Settings) -> str | None:
    """Why the database cannot be used by a command, in one line; None when it is migrated and answers."""
    from lrs_ws.db.engine import make_engine
    from lrs_ws.db.migrate import readiness, safe_url

    engine = make_engine(settings.database_url)
    try:
        problem = readiness(engine)
    finally:
        engine.dispose()
    if problem is None:
        return None
    where = safe_url(settings.database_url)
    if problem.unreachable:
        return f"cannot reach the database at {where}: {problem.detail}"
    if not problem.upgrade_helps:
        return f"the database at {where} is not usable by this version: {problem.detail}"
    return f"the database at {where} is not migrated ({problem.detail}): run `lrs-ws db upgrade`"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingError as exc:
        print(f"lrs-ws: {exc}", file=sys.stderr)
        return 2
    from lrs_ws.observability.logs import configure_logging

    configure_logging(settings)
    try:
        return _run(args, settings)
    finally:
        while _OPEN_ENGINES:
            _OPEN_ENGINES.pop().dispose()


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import InterfaceError, OperationalError

    from lrs_ws.db.migrate import safe_url
    from lrs_ws.observability.logs import database_cause

    try:
        if getattr(args, "needs_migrated_database", True):
            problem = _not_ready(settings)
            if problem is not None:
                print(f"lrs-ws: {problem}", file=sys.stderr)
                return 2
        return int(args.handler(args, settings))
    except DomainError as exc:
        print(f"lrs-ws: {exc.message}", file=sys.stderr)
        return 2
    except (OperationalError, InterfaceError) as exc:
        where = safe_url(settings.database_url)
        print(f"lrs-ws: cannot reach the database at {where}: {database_cause(exc)}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"lrs-ws: {exc}", file=sys.stderr)
        return 2
    except csv.Error as exc:
        print(f"lrs-ws: the file cannot be read as CSV: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
