"""The operator's commands on the service's data: `lrs-ws org`, `user`, `maintenance`, `learner` and
`changes`.

`lrs-ws` (lrs_ws.cli) registers them and hands each command the database wiring as `args.open_wiring`, as it
does for the commands of the jobs and reports.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lrs_ws.config import Settings
from lrs_ws.input_files import DEFAULT_ENCODING, open_text

if TYPE_CHECKING:
    from lrs_ws.service import accounts


def _wiring(args: argparse.Namespace, settings: Settings) -> Any:
    """The database wiring (lrs_ws.app.Wiring): `lrs-ws` opens it and disposes of it when the command ends."""
    return args.open_wiring(settings)


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
        _wiring(args, settings).uow_factory(),
        until=args.until,
        message=args.message,
        operator=getpass.getuser(),
    )
    _print_window(window)
    return 0


def cmd_maintenance_off(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import maintenance

    closed = maintenance.switch_off(_wiring(args, settings).uow_factory(), operator=getpass.getuser())
    print("maintenance off" if closed else "maintenance was not on; nothing changed")
    return 0


def cmd_maintenance_status(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import maintenance

    window = maintenance.maintenance_status(_wiring(args, settings).uow_factory())
    if window is None:
        print("maintenance off")
    else:
        _print_window(window)
    return 0


# -- administration ----------------------------------------------------------------------------------------


def cmd_org_add(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import admin

    org = admin.add_organisation(
        _wiring(args, settings).uow_factory(),
        ref=args.ref,
        name=args.name,
        ukprn=args.ukprn,
        batch_enabled=args.batch_enabled,
    )
    print(f"organisation {org.ref} added")
    return 0


def _actor() -> str:
    """Who ran an administration command, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def cmd_org_cert_add(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import client_certs

    with open(args.pem, encoding="ascii", errors="replace") as fh:
        pem = fh.read()
    fingerprint = client_certs.add_certificate(
        _wiring(args, settings).uow_factory(), organisation_ref=args.ref, pem=pem, actor=_actor()
    )
    print(f"certificate {fingerprint} registered to {args.ref.strip().upper()}")
    return 0


def cmd_org_cert_list(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import client_certs

    for cert in client_certs.list_certificates(
        _wiring(args, settings).uow_factory(), organisation_ref=args.ref
    ):
        print(f"{cert.fingerprint}  added {cert.added_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def cmd_org_cert_remove(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import client_certs

    fingerprint = client_certs.remove_certificate(
        _wiring(args, settings).uow_factory(),
        organisation_ref=args.ref,
        fingerprint=args.fingerprint,
        actor=_actor(),
    )
    print(f"certificate {fingerprint} removed from {args.ref.strip().upper()}")
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
        _wiring(args, settings).uow_factory(),
        organisation_ref=args.org,
        username=args.username,
        password=password,
        email=args.email,
        roles=args.roles.split(","),
    )
    print(f"user {user.username} added with roles {user.roles}")
    return 0


def _operator() -> str:
    """Who runs a command, for the audit trail: the login name of the process."""
    try:
        return f"operator:{getpass.getuser()}"
    except (OSError, KeyError):
        return f"operator:uid-{os.getuid()}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(header), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _print_active(what: str, done: accounts.Change, active: bool) -> None:
    state = "active" if active else "inactive"
    print(
        f"{what} {done.subject} is now {state}"
        if done.changed
        else f"{what} {done.subject} is already {state}; nothing changed"
    )


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import accounts
    from lrs_ws.service.auth import LoginPolicy

    users = accounts.list_users(
        _wiring(args, settings).uow_factory(),
        organisation_ref=args.org,
        policy=LoginPolicy.from_settings(settings),
    )
    _table(
        ("USER", "ORGANISATION", "ROLES", "ACTIVE", "LOCKED OUT"),
        [(u.username, u.organisation_ref, u.roles, _yes_no(u.active), _yes_no(u.locked_out)) for u in users],
    )
    return 0


def cmd_user_unlock(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import accounts

    done = accounts.unlock_user(
        _wiring(args, settings).uow_factory(), operator=_operator(), username=args.username
    )
    print(f"user {done.subject} unlocked" if done.changed else f"user {done.subject} was not locked out")
    return 0


def cmd_user_reset_password(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import accounts

    password = _read_password(args)
    done = accounts.reset_password(
        _wiring(args, settings).uow_factory(), operator=_operator(), username=args.username, password=password
    )
    print(f"password of user {done.subject} changed")
    return 0


def cmd_user_set_active(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import accounts

    done = accounts.set_user_active(
        _wiring(args, settings).uow_factory(),
        operator=_operator(),
        username=args.username,
        active=args.active,
    )
    _print_active("user", done, args.active)
    return 0


def cmd_user_roles(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import accounts

    done = accounts.set_user_roles(
        _wiring(args, settings).uow_factory(),
        operator=_operator(),
        username=args.username,
        roles=args.set.split(","),
    )
    print(
        f"user {done.subject} roles set"
        if done.changed
        else f"user {done.subject} already has these roles; nothing changed"
    )
    return 0


def cmd_org_list(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import accounts

    _table(
        ("ORGANISATION", "NAME", "UKPRN", "BATCH", "ACTIVE", "USERS"),
        [
            (o.ref, o.name, o.ukprn, _yes_no(o.batch_enabled), _yes_no(o.active), o.users)
            for o in accounts.list_organisations(_wiring(args, settings).uow_factory())
        ],
    )
    return 0


def cmd_org_set_active(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import accounts

    done = accounts.set_organisation_active(
        _wiring(args, settings).uow_factory(), operator=_operator(), ref=args.ref, active=args.active
    )
    _print_active("organisation", done, args.active)
    return 0


def cmd_learner_import(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import admin

    with open_text(args.file, args.encoding) as fh:
        result = admin.import_learners(_wiring(args, settings).uow_factory(), stream=fh, operator=_operator())
    print(
        f"{result.added} learners added, {result.updated} updated, {len(result.errors)} rows refused"
        + (f", {result.linked} linked" if result.linked else "")
    )
    for err in result.errors:
        print(err, file=sys.stderr)
    return 0 if not result.errors else 1


def cmd_learner_link(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import admin

    changed = admin.link_learner(
        _wiring(args, settings).uow_factory(), operator=_operator(), uln=args.uln, master_uln=args.into
    )
    print(
        f"ULN {args.uln.strip()} is now linked into {args.into.strip()}"
        if changed
        else f"ULN {args.uln.strip()} is already linked into {args.into.strip()}; nothing changed"
    )
    return 0


# -- the change feed ---------------------------------------------------------------------------------------


def _change_json(c: Any) -> str:
    a = c.achievement
    return json.dumps(
        {
            "Sequence": c.seq,
            "ChangedAt": c.at.isoformat(),
            "Kind": c.kind,
            "Deleted": c.deleted,
            "FromUln": c.from_uln,
            "EdcReference": c.edc_reference,
            "EdcStatus": c.edc_status,
            "EdcDecision": c.edc_decision,
            "EdcActionVerified": c.edc_action_verified,
            "Achievement": {
                "AchievementId": a.id,
                "Uln": a.uln,
                "Subject": a.title,
                "ReferenceNumber": a.reference,
                "Type": a.aim_type,
                "Level": a.level,
                "Grade": a.grade,
                "AwardDate": a.award_date.isoformat(),
                "LanguageForAssessment": a.language,
                "ProviderUkprn": a.provider_ukprn,
                "MisIdentifier": a.mis_identifier,
                "Status": a.status,
                "Withdrawn": a.withdrawn,
                "UnderDataChallenge": "Y" if a.under_challenge else "N",
                "Version": a.version,
            },
        }
    )


def cmd_changes(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import feed

    uow_factory = _wiring(args, settings).uow_factory
    organisation_id = feed.organisation_id_of(uow_factory(), args.org)
    cursor = args.since
    while True:  # ends: each page moves the cursor on, and the feed holds finitely many changes
        page = feed.changes_of(
            uow_factory(), organisation_id=organisation_id, cursor=cursor, page_size=settings.max_page_size
        )
        for change in page.changes:
            print(_change_json(change))
        cursor = page.next_cursor
        if not page.has_more:
            break
    print(json.dumps({"NextCursor": cursor}))
    return 0


# -- the commands ------------------------------------------------------------------------------------------


def register_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    org = sub.add_parser("org", help="organisations").add_subparsers(dest="org_command", required=True)
    p = org.add_parser("add", help="add an organisation")
    p.add_argument("ref")
    p.add_argument("--name", required=True)
    p.add_argument("--ukprn", required=True)
    p.add_argument("--batch-enabled", action="store_true")
    p.set_defaults(handler=cmd_org_add)
    org.add_parser("list", help="every organisation, active or not, with its number of users").set_defaults(
        handler=cmd_org_list
    )
    for verb, active, what in (
        ("deactivate", False, "none of its users can log in"),
        ("activate", True, "its active users can log in again"),
    ):
        p = org.add_parser(verb, help=f"{verb} an organisation: {what} (audited)")
        p.add_argument("ref", help="OrganisationRef, e.g. DEMO01")
        p.set_defaults(handler=cmd_org_set_active, active=active)
    cert = org.add_parser("cert", help="client certificates of an organisation").add_subparsers(
        dest="cert_command", required=True
    )
    p = cert.add_parser("add", help="register a client certificate (PEM file) to the organisation")
    p.add_argument("ref")
    p.add_argument("--pem", required=True, help="the certificate, PEM (never the private key)")
    p.set_defaults(handler=cmd_org_cert_add)
    p = cert.add_parser("list", help="the organisation's certificates by SHA-256 fingerprint")
    p.add_argument("ref")
    p.set_defaults(handler=cmd_org_cert_list)
    p = cert.add_parser("remove", help="unregister a certificate; calls with it are refused at once")
    p.add_argument("ref")
    p.add_argument("fingerprint", help="SHA-256 fingerprint, 64 hex digits (colons allowed)")
    p.set_defaults(handler=cmd_org_cert_remove)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="add a user; the password is read from stdin or prompted for")
    p.add_argument("username")
    p.add_argument("--org", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--roles", required=True, help="comma-separated: AO_USER, EDC_USER, LRS_SUPPORT")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(handler=cmd_user_add)
    p = user.add_parser("list", help="users with organisation, roles, whether active and locked out")
    p.add_argument("--org", default=None, help="only this organisation's users (OrganisationRef)")
    p.set_defaults(handler=cmd_user_list)
    p = user.add_parser("unlock", help="end a login lock-out now: forget the user's failed logins (audited)")
    p.add_argument("username")
    p.set_defaults(handler=cmd_user_unlock)
    p = user.add_parser(
        "reset-password", help="set a new password, read from stdin or prompted for (audited)"
    )
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(handler=cmd_user_reset_password)
    for verb, active, what in (
        ("deactivate", False, "refused at login from now on"),
        ("activate", True, "may log in again"),
    ):
        p = user.add_parser(verb, help=f"{verb} a user: {what} (audited)")
        p.add_argument("username")
        p.set_defaults(handler=cmd_user_set_active, active=active)
    p = user.add_parser("roles", help="replace a user's roles (audited)")
    p.add_argument("username")
    p.add_argument(
        "--set", required=True, metavar="ROLES", help="comma-separated: AO_USER, EDC_USER, LRS_SUPPORT"
    )
    p.set_defaults(handler=cmd_user_roles)

    maint = sub.add_parser(
        "maintenance", help="planned maintenance: every operation answers WSEC0004, workers wait"
    ).add_subparsers(dest="maintenance_command", required=True)
    p = maint.add_parser("on", help="start planned maintenance (seen by every server within a second or two)")
    p.add_argument(
        "--until",
        type=_utc_time,
        default=None,
        help="expected end, ISO 8601 (UTC unless an offset is given); shown to clients",
    )
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
    p.add_argument(
        "--encoding",
        default=DEFAULT_ENCODING,
        help="the file's text encoding, any Python codec (default: UTF-8, with or without BOM)",
    )
    p.set_defaults(handler=cmd_learner_import)
    p = learner.add_parser(
        "link",
        help="record that a ULN was merged into a master ULN (its achievements are found under the "
        "master; verification answers WSVRC002/004; audited)",
    )
    p.add_argument("uln", help="the ULN merged away (OLD)")
    p.add_argument("--into", required=True, metavar="MASTER", help="the master ULN it was merged into")
    p.set_defaults(handler=cmd_learner_link)

    p = sub.add_parser(
        "changes",
        help="an organisation's achievement and EDC changes as JSON lines (as ListAchievementChanges); the "
        'last line is {"NextCursor": ...}, to pass as --since next time',
    )
    p.add_argument("--org", required=True, help="the organisation's reference, e.g. DEMO01")
    p.add_argument("--since", default=None, help="a NextCursor printed before: only the changes after it")
    p.set_defaults(handler=cmd_changes)
