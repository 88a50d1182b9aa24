"""`lrs-ws edc raise|close`, `lrs-ws report edc-weekly` and `lrs-ws mail deliver|status|retry`.

The EDC commands act as a named LRS Business Support user without a password: the command line runs on the
server with direct database access, like every other administration command. Roles are still checked and
every change is audited under that user's name.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from lrs_ws.config import Settings


def _wiring(args: argparse.Namespace, settings: Settings) -> Any:
    """The database wiring (lrs_ws.app.Wiring): `lrs-ws` opens it and disposes of it when the command ends."""
    return args.open_wiring(settings)


def cmd_edc_raise(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import edc_lifecycle
    from lrs_ws.service.operator import operator_caller

    w = _wiring(args, settings)
    caller = operator_caller(w.uow_factory(), username=args.user)
    raised = edc_lifecycle.raise_edc(
        w.uow_factory(),
        caller=caller,
        achievement_id=args.achievement,
        problem_type=args.problem,
        description=args.description,
        recommended_action=args.action,
        supplied_value=args.value,
    )
    edc = raised.edc
    print(
        f"{edc.reference} raised against achievement {edc.achievement_id} (ULN {edc.uln}); "
        f"due {edc.due_date:%Y-%m-%d}; {raised.notified} e-mail(s) queued"
    )
    return 0


def cmd_edc_close(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import edc_lifecycle
    from lrs_ws.service.operator import operator_caller

    w = _wiring(args, settings)
    caller = operator_caller(w.uow_factory(), username=args.user)
    closed = edc_lifecycle.close_edc(w.uow_factory(), caller=caller, reference=args.reference)
    edc = closed.edc
    print(f"{edc.reference} closed ({edc.decision}); resolved {edc.resolved_at:%Y-%m-%d %H:%M} UTC")
    return 0


def cmd_report_edc_weekly(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.domain.clock import utcnow
    from lrs_ws.reports import weekly

    w = _wiring(args, settings)
    now = utcnow()
    reports = weekly.build(w.uow_factory(), org_ref=args.org, today=now.date())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for report in reports:
        for extension, content in (("csv", report.csv_bytes()), ("xlsx", report.xlsx_bytes())):
            (out / report.filename(extension)).write_bytes(content)
        print(
            f"{report.organisation_ref}: {len(report.rows)} outstanding, {report.overdue_count} overdue -> "
            f"{out / report.filename('csv')}, {out / report.filename('xlsx')}"
        )
    if not reports:
        print("no organisation has outstanding Event Data Challenges")
    if args.email:
        queued = weekly.queue_emails(w.uow_factory(), reports=reports, now=now)
        print(f"{queued} e-mail(s) queued in the outbox")
    return 0


def cmd_mail_deliver(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.jobs.mailer import deliver_due

    w = _wiring(args, settings)
    total = 0
    try:
        while True:
            sent = deliver_due(w.uow_factory, settings)
            total += sent
            if not args.loop:
                break
            if sent == 0:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    print(f"{total} message(s) delivered")
    return 0


def cmd_mail_status(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.domain.clock import utcnow

    w = _wiring(args, settings)
    with w.uow_factory() as uow:
        counts = uow.outbox.counts(utcnow())
        pending = uow.outbox.pending(args.limit)
    print(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in counts.items()))
    for m in pending:
        when = "given up" if m.given_up else f"next attempt {m.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
        print(
            f"message {m.id} to {m.recipient}: {m.attempts} failed attempt(s), {when}; "
            f"last error: {m.last_error or 'none (not tried yet)'}"
        )
    return 0


def cmd_mail_retry(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.domain.clock import utcnow
    from lrs_ws.jobs.mailer import deliver_due

    w = _wiring(args, settings)
    with w.uow_factory() as uow:
        count = uow.outbox.make_due(utcnow()) if args.now else uow.outbox.requeue_given_up(utcnow())
        uow.commit()
    if not args.now:
        print(f"{count} given-up message(s) queued again")
        return 0
    sent = 0
    # Each round sends up to a claim's worth; a round that sends nothing (the server is still down) ends it.
    while (delivered := deliver_due(w.uow_factory, settings)) > 0:
        sent += delivered
    with w.uow_factory() as uow:
        left = sum(n for name, n in uow.outbox.counts(utcnow()).items() if name != "sent")
    print(f"{sent} message(s) delivered, {left} not sent" + ("; see `lrs-ws mail status`" if left else ""))
    return 0 if left == 0 else 1


def register_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    edc = sub.add_parser("edc", help="Event Data Challenges (as an LRS Business Support user)")
    edc = edc.add_subparsers(dest="edc_command", required=True)
    p = edc.add_parser("raise", help="raise an EDC against an achievement and e-mail the AO's EDC users")
    p.add_argument("--achievement", type=int, required=True, help="achievement id")
    p.add_argument(
        "--problem",
        required=True,
        help="GradeIncorrect, AwardDateIncorrect, NotLearnersAchievement, Duplicate or NotCompleted",
    )
    p.add_argument("--description", required=True)
    p.add_argument(
        "--action", required=True, help="EditGrade, UpdateAwardDate, TransferToLearner, Delete or Withdraw"
    )
    p.add_argument("--value", default=None, help="the correct grade, award date (YYYY-MM-DD) or ULN")
    p.add_argument("--user", required=True, help="the LRS_SUPPORT user to act as (audited under this name)")
    p.set_defaults(handler=cmd_edc_raise)
    p = edc.add_parser("close", help="close a Rejected EDC, or an Accepted one whose action is verified")
    p.add_argument("reference", help="e.g. EDC0000012")
    p.add_argument("--user", required=True, help="the LRS_SUPPORT user to act as (audited under this name)")
    p.set_defaults(handler=cmd_edc_close)

    report = sub.add_parser("report", help="reports").add_subparsers(dest="report_command", required=True)
    p = report.add_parser("edc-weekly", help="outstanding EDCs per organisation as CSV and XLSX")
    p.add_argument("--org", default=None, help="only this organisation (e.g. DEMO01)")
    p.add_argument("--out", default=".", help="directory to write the files to (default: current directory)")
    p.add_argument("--email", action="store_true", help="also e-mail each report to its EDC users (outbox)")
    p.set_defaults(handler=cmd_report_edc_weekly)

    mail = sub.add_parser("mail", help="the e-mail outbox").add_subparsers(dest="mail_command", required=True)
    p = mail.add_parser("deliver", help="deliver due messages over SMTP (LRS_WS_SMTP_URL)")
    p.add_argument("--loop", action="store_true", help="keep delivering until interrupted")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between idle polls with --loop")
    p.set_defaults(handler=cmd_mail_deliver)
    p = mail.add_parser(
        "status", help="count sent, due, waiting and given-up messages; each unsent one with its last error"
    )
    p.add_argument("--limit", type=int, default=50, help="list at most this many unsent messages")
    p.set_defaults(handler=cmd_mail_status)
    p = mail.add_parser("retry", help="queue given-up messages again")
    p.add_argument(
        "--now",
        action="store_true",
        help="make every unsent message (waiting or given up) due and deliver them now; "
        "exits 1 when some could still not be sent",
    )
    p.set_defaults(handler=cmd_mail_retry)
