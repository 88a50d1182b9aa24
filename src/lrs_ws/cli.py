"""The `lrs-ws` command."""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from lrs_ws.config import Settings
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.db.migrate import upgrade
    from lrs_ws.jobs.supervisor import Supervisor

    upgrade(settings.database_url)
    env = dict(os.environ)
    env["LRS_WS_DATABASE_URL"] = settings.database_url
    # Unless an operator set the public address (behind a proxy), the WSDL names the address we bind.
    env.setdefault("LRS_WS_PUBLIC_URL", f"http://{args.host}:{args.port}/ExternalService.svc")
    server = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{args.host}:{args.port}",
        "--workers", str(args.workers),
        "--config", "python:lrs_ws.gunicorn_conf",
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

    print(f"lrs-ws: serving http://{args.host}:{args.port}/ExternalService.svc?wsdl"
          + ("" if run_worker else " (no batch worker)"), file=sys.stderr, flush=True)
    return Supervisor(server, worker if run_worker else None, env, give_back).run()


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.db.migrate import upgrade

    upgrade(settings.database_url)
    print("database is at the latest revision")
    return 0


def cmd_wsdl(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.app import wsdl_text

    sys.stdout.write(wsdl_text(settings))
    return 0


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.db.migrate import upgrade
    from lrs_ws.service import demo

    upgrade(settings.database_url)
    created = demo.load(_wiring(settings).uow_factory())
    print("demo data loaded" if created else "demo data already present; nothing changed")
    return 0


# -- planned maintenance -----------------------------------------------------------------------------------


def _utc_time(text: str) -> datetime:
    """An ISO 8601 time for --until (`2026-12-01T17:00Z`, `2026-12-01 18:00+01:00`; no offset: UTC)."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-12-01T17:00Z)") from None
    return at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)


def _print_window(window: Any) -> None:
    shown = window.as_json()
    print(f"maintenance on since {shown['since']}, until {shown['until'] or '(not announced)'}")
    if window.message:
        print(f"message: {window.message}")


def cmd_maintenance_on(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import maintenance

    window = maintenance.switch_on(
        _wiring(settings).uow_factory(), until=args.until, message=args.message, operator=getpass.getuser()
    )
    _print_window(window)
    return 0


def cmd_maintenance_off(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import maintenance

    closed = maintenance.switch_off(_wiring(settings).uow_factory(), operator=getpass.getuser())
    print("maintenance off" if closed else "maintenance was not on; nothing changed")
    return 0


def cmd_maintenance_status(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import maintenance

    window = maintenance.maintenance_status(_wiring(settings).uow_factory())
    if window is None:
        print("maintenance off")
    else:
        _print_window(window)
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
    p = sub.add_parser(
        "serve", help="migrate the database, serve SOAP with gunicorn and run a batch worker process too"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-worker", action="store_true",
                   help="do not run the batch worker process (run `lrs-ws worker` elsewhere)")
    p.set_defaults(handler=cmd_serve)

    db = sub.add_parser("db", help="database administration").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply Alembic migrations up to head").set_defaults(handler=cmd_db_upgrade)

    sub.add_parser("wsdl", help="print the WSDL").set_defaults(handler=cmd_wsdl)
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

    maint = sub.add_parser(
        "maintenance", help="planned maintenance: every operation answers WSEC0004, workers wait"
    ).add_subparsers(dest="maintenance_command", required=True)
    p = maint.add_parser("on", help="start planned maintenance (seen by every server within a second or two)")
    p.add_argument("--until", type=_utc_time, default=None,
                   help="expected end, ISO 8601 (UTC unless an offset is given); shown to clients")
    p.add_argument("--message", default="", help="shown to clients after the end time")
    p.set_defaults(handler=cmd_maintenance_on)
    maint.add_parser("off", help="end planned maintenance").set_defaults(handler=cmd_maintenance_off)
    p = maint.add_parser("status", help="show whether maintenance is on")
    p.set_defaults(handler=cmd_maintenance_status)

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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    from lrs_ws.logs import configure_logging

    configure_logging(settings)
    try:
        return int(args.handler(args, settings))
    except DomainError as exc:
        print(f"lrs-ws: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
