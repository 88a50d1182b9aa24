"""Files an operator feeds to `lrs-ws batch submit` and `lrs-ws learner import` as they come from real desks:
Excel's Windows-1252, a binary, a workbook renamed .csv, a missing file, an impossible date of birth. Each is
refused with one line naming the problem (and where it is), exit 2, and nothing is stored. The real
executable, both backends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from support.batch import count, worker_env
from support.databases import DEMO, build_database, remove_database
from support.demo import DEMO1_USER, JAMES, ORG1

from lrs_ws.service.records import FIELD_NAMES

LRS_WS = Path(sys.executable).with_name("lrs-ws")
HEADER = ",".join(FIELD_NAMES)
# A good row in FIELD_NAMES order, with the family name left to fill in.
ROW = f"2023-07-01,1,2024-01-05,,,{{family}},,James,Pass,English,,M1,10000001,{JAMES},K/501/5773"
STORED = ("batch_jobs", "batch_payloads", "learners")
ACCENTED = "Pickl\u00e9s"


@pytest.fixture(scope="module")
def database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = build_database(backend, tmp_path_factory.mktemp(f"files-{backend}"), DEMO)
    yield url
    remove_database(backend, url)


def lrs_ws(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LRS_WS), *args], env=worker_env(url), capture_output=True, text=True, timeout=120
    )


def stored(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        return {t: count(engine, f"SELECT count(*) FROM {t}") for t in STORED}
    finally:
        engine.dispose()


def refused(url: str, *args: str) -> str:
    """Run a command that must be refused: exit 2, one line on stderr, nothing stored. Returns the line."""
    before = stored(url)
    done = lrs_ws(url, *args)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert stored(url) == before
    return lines[0]


def submit(url: str, path: Path, *flags: str) -> str:
    return refused(url, "batch", "submit", str(path), "--org", ORG1, "--user", DEMO1_USER, *flags)


def cp1252_file(path: Path) -> Path:
    rows = [HEADER, ROW.format(family="Pickles"), ROW.format(family=ACCENTED)]
    path.write_bytes("".join(f"{r}\n" for r in rows).encode("cp1252"))
    return path


def test_a_windows_1252_batch_file_names_the_line_and_byte_and_is_stored_with_encoding_cp1252_or_as_utf8(
    database: str, tmp_path: Path
) -> None:
    path = cp1252_file(tmp_path / "excel.csv")
    offset = path.read_bytes().index(b"\xe9")
    line = submit(database, path)
    assert line == (
        f"lrs-ws: {path}: line 3, byte {offset}: not valid utf-8 "
        "(give the file's encoding with --encoding, e.g. --encoding cp1252)"
    )
    before = stored(database)["batch_jobs"]
    done = lrs_ws(
        database,
        "batch",
        "submit",
        str(path),
        "--org",
        "DEMO01",
        "--user",
        "demo1.edc",
        "--encoding",
        "cp1252",
        "--no-wait",
    )
    assert done.returncode == 0, done.stderr
    assert stored(database)["batch_jobs"] == before + 1
    engine = create_engine(database)
    try:
        job_id = int(done.stdout.strip())
        with engine.connect() as conn:
            payload = conn.exec_driver_sql(
                f"SELECT records FROM batch_payloads WHERE job_id = {job_id}"
            ).scalar()
    finally:
        engine.dispose()
    assert ACCENTED in str(payload)

    # The same file saved as UTF-8 with a byte-order mark needs no --encoding.
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().decode("cp1252").encode("utf-8"))
    done = lrs_ws(
        database, "batch", "submit", str(bom), "--org", "DEMO01", "--user", "demo1.edc", "--no-wait"
    )
    assert done.returncode == 0, done.stderr


def test_binary_zip_missing_and_unknown_codec_files_are_one_line_each(database: str, tmp_path: Path) -> None:
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert submit(database, binary) == (
        f"lrs-ws: {binary}: line 1, byte 0: not valid utf-8 "
        "(give the file's encoding with --encoding, e.g. --encoding cp1252)"
    )
    nul = tmp_path / "nul.csv"
    nul.write_bytes(f"{HEADER}\n".encode() + b"abc\x00def\n")
    assert submit(database, nul, "--encoding", "cp1252") == (
        f"lrs-ws: {nul}: line 2 holds a NUL character: this is not a CSV file"
    )
    workbook = tmp_path / "achievements.xlsx"
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64)
    assert submit(database, workbook) == (
        f"lrs-ws: {workbook} is a zip archive (an Excel workbook?), not a CSV file: "
        "save it as CSV and try again"
    )
    missing = tmp_path / "missing.csv"
    assert submit(database, missing) == f"lrs-ws: cannot read {missing}: No such file or directory"
    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\n{ROW.format(family='Pickles')}\n", encoding="utf-8")
    assert submit(database, good, "--encoding", "klingon") == (
        "lrs-ws: unknown encoding 'klingon': name a Python codec, e.g. cp1252"
    )


def test_learner_import_refuses_a_missing_or_undecodable_file(database: str, tmp_path: Path) -> None:
    missing = tmp_path / "none.csv"
    assert refused(database, "learner", "import", str(missing)) == (
        f"lrs-ws: cannot read {missing}: No such file or directory"
    )
    latin = tmp_path / "learners.csv"
    latin.write_bytes("Uln,GivenName,FamilyName\n1000000019,Zo\u00eb,Zero\n".encode("cp1252"))
    offset = latin.read_bytes().index(b"\xeb")
    assert refused(database, "learner", "import", str(latin)) == (
        f"lrs-ws: {latin}: line 2, byte {offset}: not valid utf-8 "
        "(give the file's encoding with --encoding, e.g. --encoding cp1252)"
    )
    done = lrs_ws(database, "learner", "import", str(latin), "--encoding", "cp1252")
    assert done.returncode == 0, done.stderr
    assert "1 learners added" in done.stdout


@pytest.mark.parametrize(
    ("born", "line"),
    [
        ("2099-01-01", "lrs-ws: line 3: DateOfBirth 2099-01-01 is in the future; nothing was imported."),
        (
            "14/03/1999",
            "lrs-ws: line 3: DateOfBirth '14/03/1999' is not a date (yyyy-mm-dd); nothing was imported.",
        ),
    ],
)
def test_learner_import_refuses_a_future_or_unreadable_date_of_birth_and_imports_nothing(
    database: str, tmp_path: Path, born: str, line: str
) -> None:
    path = tmp_path / "learners.csv"
    path.write_text(
        "Uln,GivenName,FamilyName,DateOfBirth\n"
        "1000000027,Ann,Early,1990-01-01\n"
        f"1000000035,Ben,Late,{born}\n",
        encoding="utf-8",
    )
    assert refused(database, "learner", "import", str(path)) == line
