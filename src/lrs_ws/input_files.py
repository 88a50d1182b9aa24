"""The files commands read: CSV files, opened as text only once all of it is known to decode."""

from __future__ import annotations

import codecs
from typing import TextIO

DEFAULT_ENCODING = "utf-8"
_BOM = codecs.BOM_UTF8
_ZIP_MAGIC = b"PK\x03\x04"
_BLOCK = 1 << 20


class CommandError(Exception):
    """A refusal of the command line itself (a file it cannot read): one line, exit 2."""


def _check_decodes(path: str, codec: str, skip: int) -> None:
    """Decode the whole file once, so a bad byte is refused before anything is stored, naming where it is."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    with open(path, "rb") as fh:
        fh.seek(skip)
        offset, line = skip, 1
        while True:
            block = fh.read(_BLOCK)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                line += exc.object[: exc.start].decode(codec, "replace").count("\n")
                raise CommandError(
                    f"{path}: line {line}, byte {offset - pending + exc.start}: not valid {codec} "
                    "(give the file's encoding with --encoding, e.g. --encoding cp1252)"
                ) from None
            if "\x00" in text:
                line += text[: text.index("\x00")].count("\n")
                raise CommandError(f"{path}: line {line} holds a NUL character: this is not a CSV file")
            line += text.count("\n")
            if not block:
                return
            offset += len(block)


def open_text(path: str, encoding: str = DEFAULT_ENCODING) -> TextIO:
    """A CSV file opened for reading as text, once all of it is known to decode.

    UTF-8 is read with or without a byte-order mark; any other Python codec may be named. A missing or
    unreadable file, an unknown codec, a zip archive (an .xlsx saved under another name) and a byte the
    codec cannot decode are each a CommandError of one line.
    """
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise CommandError(f"unknown encoding {encoding!r}: name a Python codec, e.g. cp1252") from None
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_ZIP_MAGIC))
        if head == _ZIP_MAGIC:
            raise CommandError(
                f"{path} is a zip archive (an Excel workbook?), not a CSV file: save it as CSV and try again"
            )
        skip = len(_BOM) if codec == "utf-8" and head.startswith(_BOM) else 0
        _check_decodes(path, codec, skip)
        return open(path, newline="", encoding="utf-8-sig" if codec == "utf-8" else codec)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
