"""The WSDL is built once from LRS_WS_PUBLIC_URL: `lrs-ws wsdl` prints the committed copy byte for byte,
and the live server never takes its address from a request's Host header."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from lxml import etree
from support.databases import MIGRATED, build_database
from support.server import LiveServer

from lrs_ws.config import DEFAULT_PUBLIC_URL

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "wsdl" / "ExternalService.wsdl"
LRS_WS = Path(sys.executable).with_name("lrs-ws")
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"

CORE_OPERATIONS = {
    "ListEventDataChallenges",
    "ProcessEventDataChallenge",
    "RecordEventDataChallengeDecision",
    "GetLearnerAchievements",
    "GetAchievement",
    "EditAchievementGrade",
    "DeleteAchievement",
    "FindLearnerByUln",
    "TransferAchievement",
    "CreateAchievement",
    "WithdrawAchievement",
    "ReinstateAchievement",
    "GetAchievementHistory",
}


def lrs_ws_wsdl(**env_changes: str) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_WS_")}
    env.update(env_changes)
    done = subprocess.run([str(LRS_WS), "wsdl"], env=env, capture_output=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout


def addresses(wsdl: bytes) -> set[str]:
    """Every soap:address location (each wsdl:service has its own port)."""
    return {a.get("location") or "" for a in etree.fromstring(wsdl).iter(f"{{{SOAP_NS}}}address")}


def test_lrs_ws_wsdl_prints_the_committed_wsdl_byte_for_byte() -> None:
    printed = lrs_ws_wsdl()
    assert printed == COMMITTED.read_bytes(), "wsdl/ExternalService.wsdl is out of date: run `make wsdl`"


def test_the_printed_wsdl_is_the_same_whatever_the_interpreters_hash_seed() -> None:
    assert lrs_ws_wsdl(PYTHONHASHSEED="1") == lrs_ws_wsdl(PYTHONHASHSEED="2")


def test_the_committed_wsdl_names_the_default_public_url() -> None:
    assert addresses(COMMITTED.read_bytes()) == {DEFAULT_PUBLIC_URL}


def test_lrs_ws_wsdl_names_the_configured_public_url() -> None:
    url = "https://lrs.example.test/ExternalService.svc"
    assert addresses(lrs_ws_wsdl(LRS_WS_PUBLIC_URL=url)) == {url}


def test_the_committed_wsdl_offers_every_core_operation() -> None:
    doc = etree.fromstring(COMMITTED.read_bytes())
    operations = {op.get("name") for op in doc.iter(f"{{{WSDL_NS}}}operation")}
    assert CORE_OPERATIONS <= operations


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory):
    """A server whose public URL (behind a proxy) differs from the address it binds."""
    directory = tmp_path_factory.mktemp("wsdl-server")
    url = build_database("sqlite", directory, MIGRATED)
    server = LiveServer(
        url,
        directory / "gunicorn.log",
        extra_env={"LRS_WS_PUBLIC_URL": "https://lrs.example.test/ExternalService.svc"},
    ).start()
    yield server
    server.stop()


def test_the_served_wsdl_names_the_public_url_not_the_host_header(proxied_server: LiveServer) -> None:
    # Several requests, so that each gunicorn worker answers at least once with a hostile Host first.
    for n in range(6):
        hostile = {"Host": f"evil{n}.example:666"}
        got = requests.get(f"{proxied_server.soap_url}?wsdl", headers=hostile, timeout=10)
        assert got.status_code == 200
        assert addresses(got.content) == {"https://lrs.example.test/ExternalService.svc"}
        assert b"evil" not in got.content


def test_the_served_wsdl_is_what_lrs_ws_wsdl_prints_for_that_url(proxied_server: LiveServer) -> None:
    served = requests.get(f"{proxied_server.soap_url}?wsdl", timeout=10).content
    assert served == lrs_ws_wsdl(LRS_WS_PUBLIC_URL="https://lrs.example.test/ExternalService.svc")


def test_the_live_servers_wsdl_ignores_a_different_host_header(live_server: LiveServer) -> None:
    got = requests.get(f"{live_server.soap_url}?wsdl", headers={"Host": "attacker.example"}, timeout=10)
    assert got.status_code == 200
    assert addresses(got.content) == {live_server.soap_url}
