"""`lrs-ws mail deliver|status|retry`: the e-mail outbox, delivered over SMTP by lrs_ws.jobs.mailer."""

from __future__ import annotations

import argparse
import time
from typing import Any

from lrs_ws.config import Settings


def _wiring(args: argparse.Namespace, settings: Settings) -> Any:
    """The database wiring (lrs_ws.app.Wiring): `lrs-ws` opens it and disposes of it when the command ends."""
    return args.open_wiring(settings)


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
