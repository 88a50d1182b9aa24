"""`lrs-ws rules` prints the record rule catalogue; `--markdown` prints docs/rules.md as committed."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

LRS_WS = Path(sys.executable).with_name("lrs-ws")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    return subprocess.run(
        [str(LRS_WS), "rules", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_lrs_ws_rules_markdown_prints_the_committed_catalogue_without_a_database(tmp_path):
    done = run("--markdown", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == DOCS.read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == []  # no database was created


def test_lrs_ws_rules_prints_the_catalogue_as_csv(tmp_path):
    done = run(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows[0].keys() == {"RuleId", "Category", "ErrorCode", "Field", "Meaning", "Example"}
    grade = next(r for r in rows if r["RuleId"] == "GRADE_TOO_LONG")
    assert (grade["Category"], grade["ErrorCode"], grade["Field"]) == ("FieldDataError", "WSEC0101", "Grade")
