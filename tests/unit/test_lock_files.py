"""The lock files pin every dependency exactly, with hashes, within pyproject's ranges; `make run` installs
the runtime lock only, `make test` the test lock."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "requirements" / "runtime.txt"
TEST = REPO / "requirements" / "test.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)")


def pins(path: Path) -> dict[str, str]:
    """name -> version for every requirement, each of which must carry at least one sha256 hash."""
    found: dict[str, str] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text())
    for entry in entries:
        if entry.startswith("#") or not entry.strip():
            continue
        match = PIN.match(entry)
        assert match, f"{path.name}: not an exact pin: {entry.splitlines()[0]!r}"
        assert "--hash=sha256:" in entry, f"{path.name}: {match.group(1)} has no hash"
        found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def project() -> dict[str, list[Requirement]]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {
        "runtime": [Requirement(r) for r in data["dependencies"]],
        "test": [Requirement(r) for r in data["optional-dependencies"]["test"]],
    }


def test_the_runtime_lock_pins_every_dependency_within_pyprojects_range_and_no_test_tool() -> None:
    locked = pins(RUNTIME)
    for req in project()["runtime"]:
        version = locked[canonicalize_name(req.name)]
        assert req.specifier.contains(version, prereleases=True), (req, version)
    for tool in project()["test"]:
        assert canonicalize_name(tool.name) not in locked, tool.name


def test_the_test_lock_adds_the_test_tools_to_the_same_runtime_versions() -> None:
    runtime, test = pins(RUNTIME), pins(TEST)
    assert {name: test.get(name) for name in runtime} == runtime
    for req in project()["test"]:
        assert req.specifier.contains(test[canonicalize_name(req.name)], prereleases=True), req


@pytest.mark.parametrize(("target", "lock", "not_lock"), [("run", RUNTIME, TEST), ("test", TEST, RUNTIME)])
def test_make_installs_from_one_lock_with_hashes_then_the_project_without_dependencies(
    target: str, lock: Path, not_lock: Path, tmp_path: Path
) -> None:
    plan = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}", "PYTHON=python3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lock_name, other = lock.relative_to(REPO), not_lock.relative_to(REPO)
    assert f"pip install --require-hashes -r {lock_name}" in plan
    assert str(other) not in plan
    assert plan.index(str(lock_name)) < plan.index("pip install --no-deps -e .")
