"""`lrs-ws worker`, `lrs-ws batch submit|status|cancel` and `lrs-ws purge`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from lrs_ws.config import Settings
from lrs_ws.input_files import DEFAULT_ENCODING, CommandError, open_text
from lrs_ws.jobs.job_lines import outcome_counts, print_fields
from lrs_ws.jobs.validate_cli import register_validate
from lrs_ws.spreadsheet import csv_writer


def _wiring(args: argparse.Namespace, settings: Settings) -> Any:
    """The database wiring (lrs_ws.app.Wiring): `lrs-ws` opens it and disposes of it when the command ends."""
    return args.open_wiring(settings)


# -- worker ----------------------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.jobs.worker import run_worker

    if args.chunk_size:
        settings = settings.with_(worker_chunk_size=args.chunk_size)
    wiring = _wiring(args, settings)
    stop = threading.Event()

    def graceful(signum: int, _frame: Any) -> None:
        # Finish the chunk in hand, give the job back, exit.
        stop.set()

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    stats = run_worker(wiring, stop, once=args.once, worker_id=args.id)
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
        *outcome_counts(c),
    ]
    if job.rejection_reason:
        lines.append(("RejectionReason", job.rejection_reason))
    print_fields(lines)


# Exit status of `batch submit` when no worker picked the job up (0 Successful, 1 Failed or --fail-on-errors,
# 2 refused before a job existed).
EXIT_NO_WORKER = 3
ERROR_ROWS_SHOWN = 5


def _wait(wiring: Any, job_id: int, args: argparse.Namespace) -> Any:
    """Follow the job to its end; None when no worker picked it up in time (without --keep-waiting)."""
    from lrs_ws.service import batch_queries

    job = batch_queries.job_status(wiring.uow_factory(), job_id=job_id)
    check_at: float | None = time.monotonic() + args.worker_wait
    with _tqdm(total=job.counts.records, desc=f"job {job_id}", unit="rec") as bar:
        while True:
            bar.set_postfix_str(job.status)
            bar.update(job.counts.done - bar.n)
            if job.finished:
                return job
            if check_at is not None and time.monotonic() >= check_at:
                check_at = None
                if batch_queries.no_worker_for(wiring.uow_factory(), job_id=job_id):
                    bar.clear()
                    queued = "" if args.keep_waiting else f" (job {job_id} stays queued)"
                    print(
                        f"lrs-ws: no worker has picked up job {job_id} in {args.worker_wait:g} s; "
                        f"start one with `lrs-ws worker`{queued}",
                        file=sys.stderr,
                        flush=True,
                    )
                    if not args.keep_waiting:
                        return None
            time.sleep(args.poll)
            job = batch_queries.job_status(wiring.uow_factory(), job_id=job_id)


def _error_rows(wiring: Any, job_id: int, limit: int | None, out: Any) -> int:
    """Write the job's error file (the CSV the SOAP answer carries) to `out`, at most `limit` rows."""
    from lrs_ws.service import batch_codec, batch_queries

    write = csv_writer(out)
    write(batch_codec.ERROR_FILE_HEADER)
    shown = 0

    def each(row: list[str | None]) -> None:
        nonlocal shown
        if limit is None or shown < limit:
            write(row)
            shown += 1

    return batch_queries.job_errors(wiring.uow_factory(), job_id=job_id, each=each)


def cmd_batch_submit(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import batch

    wiring = _wiring(args, settings)
    bar: Any = None
    read = 0
    with open_text(args.file, args.encoding) as fh:

        def rows() -> Iterator[tuple[int, dict[str, str]]]:
            nonlocal bar, read
            for row in batch.csv_rows(fh):
                if bar is None:
                    # Shown from the first row on: a refusal before it (header, user) stays one line.
                    bar = _tqdm(total=_count_lines(args.file), desc="reading", unit="rec")
                bar.update(1)
                read += 1
                yield row

        try:
            job_id = batch.submit_file(
                wiring.uow_factory(),
                organisation_ref=args.org,
                username=args.user,
                email=args.email,
                submission_type=args.type,
                filename=os.path.basename(args.file),
                rows=rows(),
                max_queued_records=settings.max_queued_records_per_org,
            )
        finally:
            if bar is not None:
                bar.close()
    print(f"job {job_id} submitted: {read} records", file=sys.stderr)
    if args.no_wait:
        print(job_id)
        return 0
    job = _wait(wiring, job_id, args)
    if job is None:
        return EXIT_NO_WORKER
    _print_job(job)
    failed = job.counts.failed
    if failed:
        print()
        _error_rows(wiring, job_id, ERROR_ROWS_SHOWN, sys.stdout)
        sys.stdout.flush()
        print(
            f"{failed} record(s) failed"
            + (f"; the first {ERROR_ROWS_SHOWN} are shown" if failed > ERROR_ROWS_SHOWN else "")
            + f". The full error file: lrs-ws batch errors {job_id} --out FILE",
            file=sys.stderr,
        )
    if job.status != "Successful" or (args.fail_on_errors and failed):
        return 1
    return 0


def cmd_batch_status(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import batch_codec, batch_queries

    wiring = _wiring(args, settings)
    job = batch_queries.job_status(wiring.uow_factory(), job_id=args.job)
    _print_job(job)
    write = csv_writer(sys.stdout)
    shown = 0

    def each(row: list[str | None]) -> None:
        nonlocal shown
        if shown == 0:
            print()
            write(batch_codec.ERROR_FILE_HEADER)
        if args.limit is None or shown < args.limit:
            write(row)
        shown += 1

    count = batch_queries.job_errors(wiring.uow_factory(), job_id=args.job, each=each)
    if args.limit is not None and count > args.limit:
        print(f"... {count - args.limit} more error rows (--limit)", file=sys.stderr)
    return 0


def cmd_batch_errors(args: argparse.Namespace, settings: Settings) -> int:
    wiring = _wiring(args, settings)
    if args.out == "-":
        _error_rows(wiring, args.job, None, sys.stdout)
        return 0
    # Written through a temporary file, so a failure never leaves half an error file behind.
    partial = f"{args.out}.partial"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as out:
            count = _error_rows(wiring, args.job, None, out)
        os.replace(partial, args.out)
    except OSError as exc:
        raise CommandError(f"cannot write {args.out}: {exc.strerror or type(exc).__name__}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    print(f"{count} error row(s) of job {args.job} written to {args.out}", file=sys.stderr)
    return 0


def cmd_batch_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import batch_queries

    job = batch_queries.cancel_job(_wiring(args, settings).uow_factory(), job_id=args.job)
    print(f"job {job.id} {job.status}")
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import retention

    report = retention.purge(
        _wiring(args, settings).uow_factory,
        batch_days=settings.retain_batch_days,
        mail_days=settings.retain_mail_days,
        dry_run=args.dry_run,
    )
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"purge {verb}: {report} (kept: batch jobs {settings.retain_batch_days} days after they ended, "
        f"e-mails {settings.retain_mail_days} days)"
    )
    return 0


def register_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("worker", help="process achievement batch jobs (and deliver the e-mail outbox)")
    p.add_argument("--once", action="store_true", help="exit when no job is waiting")
    p.add_argument(
        "--chunk-size", type=int, default=None, help="records per transaction (LRS_WS_WORKER_CHUNK_SIZE)"
    )
    p.add_argument(
        "--id",
        default=None,
        help="this worker's name in the job table (default: host:pid:random; `lrs-ws serve` names its own)",
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
    p.add_argument(
        "--encoding",
        default=DEFAULT_ENCODING,
        help="the file's text encoding, any Python codec (default: UTF-8, with or without BOM)",
    )
    p.add_argument("--no-wait", action="store_true", help="print the job id and exit without waiting")
    p.add_argument(
        "--fail-on-errors",
        action="store_true",
        help="exit 1 when any record failed, even if the job is Successful",
    )
    p.add_argument(
        "--worker-wait",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="when no worker has picked the job up after this long, say so and exit 3 "
        "(default: 5; the job stays queued)",
    )
    p.add_argument(
        "--keep-waiting", action="store_true", help="with no worker running, say so but keep waiting for one"
    )
    p.add_argument("--poll", type=float, default=0.5, help="seconds between progress checks")
    p.set_defaults(handler=cmd_batch_submit)

    p = batch.add_parser("status", help="a job's counts and its error rows (CSV)")
    p.add_argument("job", type=int)
    p.add_argument("--limit", type=int, default=None, help="show at most this many error rows")
    p.set_defaults(handler=cmd_batch_status)

    p = batch.add_parser("errors", help="write a job's error file: the CSV GetAchievementBatchJob carries")
    p.add_argument("job", type=int)
    p.add_argument("--out", required=True, metavar="FILE", help="where to write it; - for stdout")
    p.set_defaults(handler=cmd_batch_errors)

    register_validate(batch)

    p = batch.add_parser("cancel", help="cancel a job that is still Waiting")
    p.add_argument("job", type=int)
    p.set_defaults(handler=cmd_batch_cancel)

    p = sub.add_parser(
        "purge",
        help="delete finished batch jobs' stored records and error files, and sent e-mails, older than the "
        "retention (LRS_WS_RETAIN_BATCH_DAYS, LRS_WS_RETAIN_MAIL_DAYS); job counts stay",
    )
    p.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    p.set_defaults(handler=cmd_purge)
