"""The layering of STYLE.md holds: domain imports no framework, use cases no database, SOAP no SQLAlchemy,
the database layer no use case (the ports it implements are the domain's), jobs and reports neither SOAP nor
the command."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = (
    "lrs_ws.domain",
    "lrs_ws.service",
    "lrs_ws.soap",
    "lrs_ws.db",
    "lrs_ws.jobs",
    "lrs_ws.reports",
    "lrs_ws.observability",
)


def test_the_import_contracts_in_pyproject_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_layer_is_kept_apart_from_the_others_by_a_contract_on_indirect_imports_too():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    guarded = {
        source
        for contract in contracts
        if contract["type"] == "forbidden" and not contract.get("allow_indirect_imports", False)
        for source in contract["source_modules"]
    }
    assert sorted(set(LAYERS) - guarded) == []
