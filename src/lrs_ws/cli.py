"""The `lrs-ws` command."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys
from collections.abc import Callable, Sequence

from lrs_ws.config import SettingError, Settings
from lrs_ws.domain.errors import DomainError

Handler = Callable[[argparse.Namespace, Settings], int]
_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []  # type: ignore[type-arg]


def command(register: Callable[[argparse._SubParsersAction], None]) -> Callable[..., None]:  # type: ignore[type-arg]
    """Register a function that adds sub-commands; other modules (jobs, reports) add theirs too."""
    _COMMANDS.append(register)
    return register


def _wiring(settings: Settings):  # type: ignore[no-untyped-def]
    from lrs_ws.app import wire

    return wire(settings)


# -- serve / db / wsdl -------------------------------------------------------------------------------------


def _public_url(host: str, port: int) -> str:
    """The address the WSDL publishes when LRS_WS_PUBLIC_URL is unset: the bound one, or for a wildcard
    address (which no client can call) this machine's name, with a warning."""
    if host in ("0.0.0.0", "::", ""):
        name = socket.gethostname()
        published = f"http://{name}:{port}/ExternalService.svc"
        wildcard = f"[{host}]" if ":" in host else host or "0.0.0.0"
        print(f"lrs-ws: warning: LRS_WS_PUBLIC_URL is not set and {wildcard} is not an address a client can "
              f"call: the WSDL would publish http://{wildcard}:{port}/ExternalService.svc; it publishes "
              f"{published} instead (set LRS_WS_PUBLIC_URL to choose)", file=sys.stderr, flush=True)
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
    if args.no_worker:
        env["LRS_WS_RUN_WORKER"] = "false"
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{args.host}:{args.port}",
        *(["--workers", str(args.workers)] if "workers" in args else []),
        "--config", "python:lrs_ws.gunicorn_conf",
        "lrs_ws.wsgi:application",
    ]
    print(f"lrs-ws: serving {env['LRS_WS_PUBLIC_URL']}?wsdl", file=sys.stderr, flush=True)
    os.execve(sys.executable, argv, env)
    return 0  # pragma: no cover


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


# -- administration ----------------------------------------------------------------------------------------


def cmd_org_add(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import admin

    org = admin.add_organisation(
        _wiring(settings).uow_factory(), ref=args.ref, name=args.name, ukprn=args.ukprn,
        batch_enabled=args.batch_enabled,
    )
    print(f"organisation {org.ref} added")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise SystemExit("passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import admin

    password = _read_password(args)
    user = admin.add_user(
        _wiring(settings).uow_factory(), organisation_ref=args.org, username=args.username, password=password,
        email=args.email, roles=args.roles.split(","),
    )
    print(f"user {user.username} added with roles {user.roles}")
    return 0


def cmd_learner_import(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import admin

    with open(args.file, newline="", encoding="utf-8-sig") as fh:
        result = admin.import_learners(_wiring(settings).uow_factory(), stream=fh)
    print(f"{result.added} learners added, {result.updated} updated, {len(result.errors)} rows refused")
    for err in result.errors:
        print(err, file=sys.stderr)
    return 0 if not result.errors else 1


@command
def _core_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="migrate the database and serve SOAP with gunicorn",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--workers", type=int, default=argparse.SUPPRESS,
                   help="gunicorn worker processes (default: LRS_WS_GUNICORN_WORKERS, itself 2 when unset)")
    p.add_argument("--no-worker", action="store_true",
                   help="do not run a batch worker thread inside the server")
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

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="org_command", required=True)
    p = org.add_parser("add", help="add an organisation")
    p.add_argument("ref")
    p.add_argument("--name", required=True)
    p.add_argument("--ukprn", required=True)
    p.add_argument("--batch-enabled", action="store_true")
    p.set_defaults(handler=cmd_org_add)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="add a user; the password is read from stdin or prompted for")
    p.add_argument("username")
    p.add_argument("--org", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--roles", required=True, help="comma-separated: AO_USER, EDC_USER, LRS_SUPPORT")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(handler=cmd_user_add)

    learner = sub.add_parser("learner", help="the learner register").add_subparsers(
        dest="learner_command", required=True
    )
    p = learner.add_parser("import", help="add or update learners from CSV")
    p.add_argument("file")
    p.set_defaults(handler=cmd_learner_import)


def _load_plugins() -> None:
    """Modules that add sub-commands of their own."""
    import importlib

    for name in ("lrs_ws.jobs.cli", "lrs_ws.reports.cli"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise


def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = argparse.ArgumentParser(prog="lrs-ws", description="LRS awarding-organisation web service")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _COMMANDS:
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
    from sqlalchemy.exc import InterfaceError, OperationalError

    from lrs_ws.db.migrate import safe_url
    from lrs_ws.db.uow import database_cause
    from lrs_ws.logs import configure_logging

    configure_logging(settings)
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


if __name__ == "__main__":
    raise SystemExit(main())
