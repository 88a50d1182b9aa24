"""`lrs-ws worker` and `lrs-ws batch submit|status`."""

from __future__ import annotations

import argparse
import csv
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from lrs_ws.cli import command
from lrs_ws.config import Settings
from lrs_ws.jobs.validate_cli import register_validate


def _wiring(settings: Settings) -> Any:
    from lrs_ws.app import wire

    return wire(settings)


# -- worker ----------------------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.jobs.worker import run_worker

    if args.chunk_size:
        settings = settings.with_(worker_chunk_size=args.chunk_size)
    wiring = _wiring(settings)
    stop = threading.Event()

    def graceful(signum: int, _frame: Any) -> None:
        # Finish the chunk in hand, give the job back, exit.
        stop.set()

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    stats = run_worker(wiring, stop, once=args.once)
    print(f"lrs-ws worker: {stats.jobs} jobs finished, {stats.records} records processed", file=sys.stderr)
    return 0


# -- batch files -------------------------------------------------------------------------------------------


def _count_lines(path: str) -> int:
    """Lines after the header, for the progress bar (a quoted cell may hold a line break: close enough)."""
    lines = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
    return max(0, lines - 1)


def _tqdm(**kwargs: Any) -> Any:
    from tqdm import tqdm

    return tqdm(file=sys.stderr, dynamic_ncols=True, **kwargs)


def _print_job(job: Any) -> None:
    c = job.counts
    lines = [
        ("Job", job.id),
        ("Status", job.status),
        ("Organisation", job.organisation_ref),
        ("User", job.username),
        ("Type", job.submission_type),
        ("Filename", job.filename or ""),
        ("Submitted", job.submitted_at),
        ("Started", job.started_at or ""),
        ("Ended", job.ended_at or ""),
        ("Duration", job.duration or ""),
        ("NumberOfRecords", c.records),
        ("Processed", c.done),
        ("AchievementsCreated", c.created),
        ("AchievementsUpdated", c.updated),
        ("AchievementsWithdrawn", c.withdrawn),
        ("AchievementsReinstated", c.reinstated),
        ("AchievementsPromotedToFinal", c.promoted),
        ("SuccessfulFinalAchievements", c.successful_final),
        ("SuccessfulProvisionalAchievements", c.successful_provisional),
        ("FieldDataErrors", c.field_errors),
        ("LearnerDataErrors", c.learner_errors),
        ("BusinessRuleErrors", c.business_errors),
        ("PercentageSuccessfulRecords", f"{c.percentage_successful:.2f}"),
    ]
    if job.rejection_reason:
        lines.append(("RejectionReason", job.rejection_reason))
    for name, value in lines:
        print(f"{name + ':':36}{value}")


def _wait(wiring: Any, job_id: int, poll: float) -> Any:
    from lrs_ws.service import batch

    job = batch.job_status(wiring.uow_factory(), job_id=job_id)
    with _tqdm(total=job.counts.records, desc=f"job {job_id}", unit="rec") as bar:
        while True:
            bar.set_postfix_str(job.status)
            bar.update(job.counts.done - bar.n)
            if job.finished:
                return job
            time.sleep(poll)
            job = batch.job_status(wiring.uow_factory(), job_id=job_id)


def cmd_batch_submit(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import batch

    wiring = _wiring(settings)
    total = _count_lines(args.file)
    with open(args.file, newline="", encoding="utf-8-sig") as fh, _tqdm(
        total=total, desc="reading", unit="rec"
    ) as bar:

        def rows() -> Iterator[tuple[int, dict[str, str]]]:
            for row in batch.csv_rows(fh):
                bar.update(1)
                yield row

        job_id = batch.submit_file(
            wiring.uow_factory(), organisation_ref=args.org, username=args.user, email=args.email,
            submission_type=args.type, filename=os.path.basename(args.file), rows=rows(),
        )
    print(f"job {job_id} submitted: {bar.n} records", file=sys.stderr)
    if args.no_wait:
        print(job_id)
        return 0
    job = _wait(wiring, job_id, args.poll)
    _print_job(job)
    return 0 if job.status == "Successful" else 1


def cmd_batch_status(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import batch

    wiring = _wiring(settings)
    job = batch.job_status(wiring.uow_factory(), job_id=args.job)
    _print_job(job)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    shown = 0

    def each(row: list[str]) -> None:
        nonlocal shown
        if shown == 0:
            print()
            writer.writerow(batch.ERROR_FILE_HEADER)
        if args.limit is None or shown < args.limit:
            writer.writerow(row)
        shown += 1

    count = batch.job_errors(wiring.uow_factory(), job_id=args.job, each=each)
    if args.limit is not None and count > args.limit:
        print(f"... {count - args.limit} more error rows (--limit)", file=sys.stderr)
    return 0


def cmd_batch_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import batch

    job = batch.cancel_job(_wiring(settings).uow_factory(), job_id=args.job)
    print(f"job {job.id} {job.status}")
    return 0


@command
def _batch_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("worker", help="process achievement batch jobs (and deliver the e-mail outbox)")
    p.add_argument("--once", action="store_true", help="exit when no job is waiting")
    p.add_argument(
        "--chunk-size", type=int, default=None, help="records per transaction (LRS_WS_WORKER_CHUNK_SIZE)"
    )
    p.set_defaults(handler=cmd_worker)

    batch = sub.add_parser("batch", help="achievement batch files and jobs").add_subparsers(
        dest="batch_command", required=True
    )
    p = batch.add_parser(
        "submit",
        help="submit a CSV batch file (header: the 15 Achievement fields) as one job and follow it",
    )
    p.add_argument("file")
    p.add_argument("--org", required=True, help="OrganisationRef of the submitting organisation")
    p.add_argument("--user", required=True, help="the user the job is submitted for")
    p.add_argument("--email", default=None, help="e-mail address of the job (default: the user's)")
    p.add_argument("--type", default="Final", help="Final (default) or Provisional")
    p.add_argument("--no-wait", action="store_true", help="print the job id and exit without waiting")
    p.add_argument("--poll", type=float, default=0.5, help="seconds between progress checks")
    p.set_defaults(handler=cmd_batch_submit)

    p = batch.add_parser("status", help="a job's counts and its error rows (CSV)")
    p.add_argument("job", type=int)
    p.add_argument("--limit", type=int, default=None, help="show at most this many error rows")
    p.set_defaults(handler=cmd_batch_status)

    register_validate(batch)

    p = batch.add_parser("cancel", help="cancel a job that is still Waiting")
    p.add_argument("job", type=int)
    p.set_defaults(handler=cmd_batch_cancel)
