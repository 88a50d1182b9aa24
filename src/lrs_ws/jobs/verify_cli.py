"""`lrs-ws verify submit`: a file of learners verified as one verification batch job, followed with a progress
bar, its results written as a spreadsheet-safe CSV."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from lrs_ws.config import Settings
from lrs_ws.domain import errors as e
from lrs_ws.domain.verification import RESPONSE_CODES
from lrs_ws.input_files import DEFAULT_ENCODING, CommandError, open_text
from lrs_ws.jobs.cli import EXIT_NO_WORKER, _tqdm, _wait, _wiring
from lrs_ws.spreadsheet import csv_writer

REQUIRED = ("Uln", "GivenName", "FamilyName")
OPTIONAL = ("DateOfBirth", "Gender")


def verify_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a verification file: header Uln, GivenName, FamilyName and optionally
    DateOfBirth and Gender (any order, any case); blank rows are skipped."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise e.NoLearners("The file is empty: at least one learner is required.")
    canonical = {name.lower(): name for name in REQUIRED + OPTIONAL}
    names = [canonical.get(h.strip().lower(), "") for h in header]
    unknown = [h for h, n in zip(header, names, strict=True) if not n]
    missing = [n for n in REQUIRED if n not in names]
    if unknown or missing:
        raise e.InvalidValue(
            "header",
            f"The header row must name {', '.join(REQUIRED)} and may name {', '.join(OPTIONAL)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + ".",
        )
    for cells in reader:
        if any(c.strip() for c in cells):
            yield reader.line_num, dict(zip(names, cells, strict=False))


def _default_out(path: str) -> str:
    stem, _ext = os.path.splitext(path)
    return f"{stem}-verified.csv"


def _write_results(args: argparse.Namespace, results: Any, out_path: str) -> None:
    """The results CSV: each learner's line, ULN and names as in the file, then its answer or error."""
    from lrs_ws.service.verify_batch import RESULTS_HEADER

    by_line = {r.line_no: r for r in results}
    partial = f"{out_path}.partial"
    try:
        with (
            open_text(args.file, args.encoding) as fh,
            open(partial, "w", encoding="utf-8", newline="") as out,
        ):
            write = csv_writer(out)
            write(RESULTS_HEADER)
            for line, row in verify_rows(fh):
                r = by_line.get(line)
                if r is None:
                    continue
                write(
                    [
                        line,
                        row.get("Uln"),
                        row.get("GivenName"),
                        row.get("FamilyName"),
                        r.response_code,
                        " ".join(r.failure_flags),
                        r.master_uln,
                        r.error_code,
                        r.error_message,
                    ]
                )
        os.replace(partial, out_path)
    except OSError as exc:
        raise CommandError(f"cannot write {out_path}: {exc.strerror or type(exc).__name__}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def cmd_verify_submit(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.jobs.cli import _count_lines
    from lrs_ws.service import verify_batch

    wiring = _wiring(args, settings)
    bar: Any = None
    read = 0
    with open_text(args.file, args.encoding) as fh:

        def rows() -> Iterator[tuple[int, dict[str, str]]]:
            nonlocal bar, read
            for row in verify_rows(fh):
                if bar is None:
                    bar = _tqdm(total=_count_lines(args.file), desc="reading", unit="learner")
                bar.update(1)
                read += 1
                yield row

        try:
            job_id, username = verify_batch.submit_file(
                wiring.uow_factory(),
                organisation_ref=args.org,
                username=args.user,
                filename=os.path.basename(args.file),
                rows=rows(),
                max_queued_records=settings.max_queued_records_per_org,
            )
        finally:
            if bar is not None:
                bar.close()
    print(f"verification job {job_id} submitted as {username}: {read} learners", file=sys.stderr)
    job = _wait(wiring, job_id, args)
    if job is None:
        return EXIT_NO_WORKER
    report = verify_batch.results(wiring.uow_factory(), job_id=job_id)
    out_path = args.out or _default_out(args.file)
    _write_results(args, report.results, out_path)
    counts = Counter(r.response_code or r.error_code or "" for r in report.results)
    print(f"job {job_id} {job.status}: {len(report.results)} of {job.counts.records} learners")
    for code, n in sorted(counts.items()):
        print(f"  {code} {RESPONSE_CODES.get(code, 'not verified (invalid details)')}: {n}")
    if job.rejection_reason:
        print(f"  {job.rejection_reason}")
    print(f"results written to {out_path}", file=sys.stderr)
    return 0 if job.status == "Successful" else 1


def register_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    verify = sub.add_parser("verify", help="learner verification batches").add_subparsers(
        dest="verify_command", required=True
    )
    p = verify.add_parser(
        "submit",
        help="verify a CSV file of learners (header Uln,GivenName,FamilyName[,DateOfBirth][,Gender]) as one "
        "job, follow it and write the results CSV",
    )
    p.add_argument("file")
    p.add_argument("--org", required=True, help="OrganisationRef of the submitting organisation")
    p.add_argument(
        "--user",
        default=None,
        help="the AO user the job is submitted for (default: the organisation's active AO_USER added first)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="where to write the results (default: FILE without .csv, then -verified.csv)",
    )
    p.add_argument(
        "--encoding",
        default=DEFAULT_ENCODING,
        help="the file's text encoding, any Python codec (default: UTF-8, with or without BOM)",
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
    p.set_defaults(handler=cmd_verify_submit)
