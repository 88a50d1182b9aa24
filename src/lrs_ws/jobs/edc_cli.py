"""`lrs-ws edc raise|close`: Event Data Challenges raised and closed by LRS Business Support.

The EDC commands act as a named LRS Business Support user without a password: the command line runs on the
server with direct database access, like every other administration command. Roles are still checked and
every change is audited under that user's name.
"""

from __future__ import annotations

import argparse
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
