"""`lrs-ws batch validate` (a dry run of `batch submit`) and `lrs-ws rules` (the record rule catalogue)."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from lrs_ws.config import Settings
from lrs_ws.input_files import DEFAULT_ENCODING, open_text
from lrs_ws.jobs.job_lines import outcome_counts, print_fields

VALID, SOME_FAIL = 0, 1  # a refused file or request is 2, as for every lrs-ws command


def _error_file_path(args: argparse.Namespace) -> Path:
    if args.out:
        return Path(args.out)
    source = Path(args.file)
    return source.with_name(f"{source.stem}.errors.{args.format}")


def _write_error_file(path: Path, validation: Any, fmt: str) -> None:
    from lrs_ws.service.batch_codec import ERROR_FILE_HEADER

    with open(path, "w", newline="", encoding="utf-8") as fh:
        if fmt == "json":
            # The error file's columns as keys, with the values as submitted (JSON needs no cell escaping).
            rows = [
                dict(zip(ERROR_FILE_HEADER, dataclasses.astuple(r), strict=True))
                for r in validation.records()
            ]
            json.dump(rows, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        else:
            fh.write(validation.error_file or "")


def cmd_batch_validate(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import batch, batch_validation

    with open_text(args.file, args.encoding) as fh:
        validation = batch_validation.validate_file(
            args.open_wiring(settings).uow_factory(),
            organisation_ref=args.org,
            username=args.user,
            submission_type=args.type,
            rows=batch.csv_rows(fh),
            max_queued_records=settings.max_queued_records_per_org,
            chunk_size=settings.worker_chunk_size,
        )
    c = validation.counts
    print_fields([("Type", validation.submission_type), ("NumberOfRecords", c.records), *outcome_counts(c)])
    if not validation.failures:
        print(f"all {c.records} records are valid; nothing was stored", file=sys.stderr)
        return VALID
    path = _error_file_path(args)
    _write_error_file(path, validation, args.format)
    print(
        f"{c.failed} of {c.records} records would fail; error file: {path}; nothing was stored",
        file=sys.stderr,
    )
    return SOME_FAIL


def cmd_rules(args: argparse.Namespace, settings: Settings) -> int:
    from lrs_ws.service import record_rules

    if args.markdown:
        sys.stdout.write(record_rules.catalogue_markdown())
        return 0
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(record_rules.CATALOGUE_HEADER)
    writer.writerows(record_rules.catalogue())
    return 0


def register_validate(batch: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`batch validate`, among the `batch` sub-commands."""
    p = batch.add_parser(
        "validate",
        help="check a CSV batch file as `batch submit` would, storing nothing (exit 0 all valid, 1 some "
        "records fail, 2 the file is refused)",
    )
    p.add_argument("file")
    p.add_argument("--org", required=True, help="OrganisationRef of the submitting organisation")
    p.add_argument("--user", default=None, help="check as this user of the organisation (its roles too)")
    p.add_argument("--type", default="Final", help="Final (default) or Provisional")
    p.add_argument(
        "--encoding",
        default=DEFAULT_ENCODING,
        help="the file's text encoding, any Python codec (default: UTF-8, with or without BOM)",
    )
    p.add_argument("--out", default=None, help="error file to write (default: FILE.errors.csv or .json)")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="error file format (default csv)")
    p.set_defaults(handler=cmd_batch_validate)


def register_rules(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rules", help="the record rule catalogue (CSV, or --markdown: docs/rules.md)")
    p.add_argument("--markdown", action="store_true")
    p.set_defaults(handler=cmd_rules, needs_migrated_database=False)
