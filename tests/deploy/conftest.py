"""One reference deployment (tests/deploy/topology.py) shared by the tests of this directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.topology import Topology

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="session")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    deployment = Topology(tmp_path_factory.mktemp("deploy")).start()
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="session")
def certificates_registered(topology: Topology) -> Topology:
    """DEMO01's and DEMO02's client certificates registered to their organisations with the CLI."""
    for org in ("DEMO01", "DEMO02"):
        done = topology.cli("org", "cert", "add", org, "--pem", str(topology.pki[org].cert_path))
        assert done.returncode == 0, done.stderr
    return topology
