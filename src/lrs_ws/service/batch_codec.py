"""How a batch's records are stored and read back (payload chunks of JSON), and how its failed records are
written out (the error file, CSV). The batch use cases (batch, batch_validation), the worker's processing
(batch_processing), the submitter's e-mail (batch_mail) and learner verification batches all use it; it uses
none of them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from itertools import islice
from typing import Any

from lrs_ws.domain import batch as b
from lrs_ws.domain import errors as e
from lrs_ws.domain.batch import PayloadChunk
from lrs_ws.service.record_rules import offending_value
from lrs_ws.service.records import FIELD_NAMES, AchievementRecord
from lrs_ws.spreadsheet import csv_writer

DATE_FIELDS = frozenset({"AchievementAwardDate", "ActionDate", "DateofBirth"})
INT_FIELDS = frozenset({"Action", "Gender"})
# RuleId, Field and Value follow the columns the LRS error file has always had: its readers keep working.
ERROR_FILE_HEADER = (
    "Line",
    "MisIdentifier",
    "Uln",
    "UnitOrQualificationReferenceNumber",
    "ErrorCode",
    "ErrorMessage",
    "RuleId",
    "Field",
    "Value",
)


# -- payloads: records as stored, typed (SOAP) or as text (a file) -----------------------------------------
#
# A record is stored as a list of its 15 fields in FIELD_NAMES order (None for an absent one); a job's records
# are stored a chunk of PAYLOAD_CHUNK at a time, as one JSON array of [line, field, ...] items.

PAYLOAD_CHUNK = 1000
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_DATE_INDEXES = tuple(i for i, name in enumerate(FIELD_NAMES) if name in DATE_FIELDS)


def record_values(record: AchievementRecord) -> list[Any]:
    """A record received over SOAP, as JSON values (dates in ISO 8601)."""
    values: list[Any] = [getattr(record, name) for name in FIELD_NAMES]
    for i in _DATE_INDEXES:
        value = values[i]
        if value is not None:
            values[i] = value.isoformat()
    return values


def row_values(row: Mapping[str, str | None]) -> list[str | None]:
    """A file's row: the cells as written (stripped; an empty cell is absent), parsed by the worker."""
    return [(row.get(name) or "").strip() or None for name in FIELD_NAMES]


def encode_values(values: Sequence[Any]) -> str:
    """One record as JSON text (an object of its present fields): how the error file reads it back."""
    return _JSON.encode({name: v for name, v in zip(FIELD_NAMES, values, strict=True) if v is not None})


def payload_chunks(records: Iterable[tuple[int, Sequence[Any]]]) -> Iterator[PayloadChunk]:
    """(line, values) records as stored chunks of PAYLOAD_CHUNK."""
    it = iter(records)
    first = 0
    while chunk := [[line, *values] for line, values in islice(it, PAYLOAD_CHUNK)]:
        yield PayloadChunk(first, len(chunk), _JSON.encode(chunk))
        first += len(chunk)


def chunk_records(chunks: Iterable[PayloadChunk], start: int, stop: int) -> list[list[Any]]:
    """The [line, values...] items at positions start..stop-1 of the stored chunks that hold them."""
    out: list[list[Any]] = []
    for chunk in chunks:
        items = json.loads(chunk.records)
        out.extend(items[max(0, start - chunk.first_index) : max(0, stop - chunk.first_index)])
    return out


def _parse_date(field: str, value: Any) -> date | datetime:
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.strptime(text, "%d/%m/%Y")
    except ValueError:
        raise e.InvalidValue(
            field, f"{field} must be a date: yyyy-mm-dd (or dd/mm/yyyy in a file)."
        ) from None


def _parse_int(field: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise e.InvalidValue(field, f"{field} must be a whole number.") from None


_CONVERT = tuple(
    (i, name, _parse_date if name in DATE_FIELDS else _parse_int)
    for i, name in enumerate(FIELD_NAMES)
    if name in DATE_FIELDS or name in INT_FIELDS
)
_TEXTS = tuple(i for i, name in enumerate(FIELD_NAMES) if name not in DATE_FIELDS and name not in INT_FIELDS)


def decode_values(values: Sequence[Any]) -> AchievementRecord:
    """A stored record, typed again; a date or number that does not parse is a field error of the record."""
    if len(values) != len(FIELD_NAMES):
        raise e.InvalidValue("record", "The record could not be read.")
    fields = list(values)
    for i, name, parse in _CONVERT:
        value = fields[i]
        if value is not None:
            fields[i] = parse(name, value)
    for i in _TEXTS:
        value = fields[i]
        if value is not None and not isinstance(value, str):
            fields[i] = str(value)
    return AchievementRecord(*fields)


def decode_record(payload: str) -> AchievementRecord:
    """A record stored as JSON text (encode_record, encode_row), typed again."""
    try:
        data = json.loads(payload)
    except ValueError:
        raise e.InvalidValue("record", "The record could not be read.") from None
    return decode_values([data.get(name) for name in FIELD_NAMES])


# -- request-level rules ----------------------------------------------------------------------------------


# -- the error file ---------------------------------------------------------------------------------------


def error_rows(failed: Iterable[b.FailedRecord]) -> Iterator[list[str | None]]:
    """The error file's rows as data; `lrs_ws.spreadsheet` makes them safe cells when they are written."""
    for f in failed:
        try:
            data = json.loads(f.payload)
        except ValueError:
            data = {}
        yield [
            str(f.line_no),
            data.get("MisIdentifier"),
            data.get("Uln"),
            data.get("UnitOrQualificationReferenceNumber"),
            f.error_code,
            f.error_message,
            f.rule_id,
            f.field,
            offending_value(f.field, data),
        ]


def error_file(failed: Iterable[b.FailedRecord]) -> str | None:
    """AchievementBatchErrorFile: CSV, a header row then one row per failed record; None when none failed."""
    out = io.StringIO()
    write = csv_writer(out)
    write(ERROR_FILE_HEADER)
    empty = True
    for row in error_rows(failed):
        write(row)
        empty = False
    return None if empty else out.getvalue()
