"""`lrs-ws report edc-weekly`: the weekly report of outstanding Event Data Challenges."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lrs_ws.config import Settings


def _wiring(args: argparse.Namespace, settings: Settings) -> Any:
    """The database wiring (lrs_ws.app.Wiring): `lrs-ws` opens it and disposes of it when the command ends."""
    return args.open_wiring(settings)


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


def register_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = sub.add_parser("report", help="reports").add_subparsers(dest="report_command", required=True)
    p = report.add_parser("edc-weekly", help="outstanding EDCs per organisation as CSV and XLSX")
    p.add_argument("--org", default=None, help="only this organisation (e.g. DEMO01)")
    p.add_argument("--out", default=".", help="directory to write the files to (default: current directory)")
    p.add_argument("--email", action="store_true", help="also e-mail each report to its EDC users (outbox)")
    p.set_defaults(handler=cmd_report_edc_weekly)
