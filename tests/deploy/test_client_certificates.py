"""Client certificates bound to organisations, end to end: zeep over TLS through nginx, the real CLI."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import zeep
from lxml import etree
from sqlalchemy import text
from support.demo import GRACE
from support.soap import DEMO1, DEMO2, fault_code, fault_message
from zeep.exceptions import Fault

from deploy.topology import CERT_HEADER, Topology

pytestmark = pytest.mark.deploy


def _learner(soap: Any, user: dict[str, str]) -> Any:
    return soap.GetLearnerAchievements(invokingUser=user, uln=GRACE)


def _refused(call: Any) -> str:
    with pytest.raises(Fault) as caught:
        call()
    assert fault_code(caught.value) == "WSEC0003"
    return fault_message(caught.value)


def test_a_registered_certificate_with_its_organisations_password_is_served(
    certificates_registered: Topology,
) -> None:
    assert _learner(certificates_registered.soap("DEMO01"), DEMO1).Uln == GRACE


def test_another_organisations_certificate_with_a_valid_password_is_refused_like_any_login_failure(
    certificates_registered: Topology,
) -> None:
    t = certificates_registered
    crossed = _refused(lambda: _learner(t.soap("DEMO02"), DEMO1))
    wrong_password = _refused(lambda: _learner(t.soap("DEMO01"), {**DEMO1, "OrgPassword": "not it at all"}))
    assert crossed == wrong_password
    assert _learner(t.soap("DEMO02"), DEMO2).Uln == GRACE


def test_nginx_refuses_a_connection_without_a_certificate_or_with_one_from_another_ca(
    certificates_registered: Topology,
) -> None:
    t = certificates_registered
    for org in (None, "stranger"):
        answer = t.session(org).get(t.soap_url + "?wsdl", timeout=10)
        assert answer.status_code == 400, org
        assert b"certificate" in answer.content.lower()


def _soap_envelope(t: Topology, user: dict[str, str]) -> bytes:
    client = zeep.Client(f"{t.soap_url}?wsdl", transport=zeep.Transport(session=t.session("DEMO01")))
    message = client.create_message(client.service, "GetLearnerAchievements", invokingUser=user, uln=GRACE)
    return bytes(etree.tostring(message))


def _direct(t: Topology, source: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """A SOAP call straight to app server 1, from loopback address `source`, bypassing nginx."""
    conn = http.client.HTTPConnection("127.0.0.1", t.apps[0].port, timeout=30, source_address=(source, 0))
    try:
        conn.request(
            "POST",
            "/ExternalService.svc",
            body=_soap_envelope(t, DEMO1),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""', **headers},
        )
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def test_a_certificate_header_from_an_address_that_is_not_a_trusted_proxy_is_ignored(
    certificates_registered: Topology,
) -> None:
    t = certificates_registered
    forged = {CERT_HEADER: quote(t.pki["DEMO01"].pem, safe="")}
    status, body = _direct(t, "127.0.0.2", forged)
    assert status == 500 and b"WSEC0003" in body
    # The same header from the trusted proxy address is believed: the peer address alone decided.
    status, body = _direct(t, "127.0.0.1", forged)
    assert status == 200 and b"WSEC0003" not in body


def test_a_removed_certificate_is_refused_on_the_next_call_and_the_audit_names_the_certificate_used(
    certificates_registered: Topology,
    tmp_path: Path,
) -> None:
    t = certificates_registered
    soap = t.soap("DEMO01")
    made = soap.CreateAchievement(
        invokingUser=DEMO1,
        submissionType="Final",
        achievement={
            "AchievementAwardDate": "2015-01-01T00:00:00",
            "Action": 1,
            "ActionDate": "2015-01-02T00:00:00",
            "GivenName": "Grace",
            "FamilyName": "Okafor",
            "MisIdentifier": "CERT-AUDIT",
            "ProviderUkprn": "10000001",
            "Uln": GRACE,
            "UnitOrQualificationReferenceNumber": "K/501/5773",
        },
    )
    fingerprint = t.pki["DEMO01"].sha256
    assert t.engine is not None
    with t.engine.connect() as conn:
        stored = (
            conn.execute(
                text("SELECT client_certificate FROM audit_events WHERE achievement_id = :id"),
                {"id": made.AchievementId},
            )
            .scalars()
            .all()
        )
    assert stored and set(stored) == {fingerprint}
    logged = [
        json.loads(line)
        for app in t.apps
        for line in app.log_text().splitlines()
        if line.startswith("{") and '"CreateAchievement"' in line
    ]
    assert any(entry.get("certificate") == fingerprint for entry in logged)
    assert not any("BEGIN CERTIFICATE" in app.log_text() for app in t.apps)

    listed = t.cli("org", "cert", "list", "DEMO01")
    assert listed.returncode == 0 and fingerprint in listed.stdout
    try:
        assert _learner(soap, DEMO1).Uln == GRACE  # the password check is now cached
        removed = t.cli("org", "cert", "remove", "DEMO01", fingerprint.upper())
        assert removed.returncode == 0, removed.stderr
        _refused(lambda: _learner(soap, DEMO1))
        assert fingerprint not in t.cli("org", "cert", "list", "DEMO01").stdout
        with t.engine.connect() as conn:
            operations = (
                conn.execute(
                    text(
                        "SELECT operation FROM audit_events WHERE client_certificate = :fp"
                        " AND operation LIKE '%ClientCertificate' ORDER BY id"
                    ),
                    {"fp": fingerprint},
                )
                .scalars()
                .all()
            )
        assert operations == ["AddClientCertificate", "RemoveClientCertificate"]
    finally:
        again = t.cli("org", "cert", "add", "DEMO01", "--pem", str(t.pki["DEMO01"].cert_path))
        assert again.returncode == 0, again.stderr
    assert _learner(soap, DEMO1).Uln == GRACE


def test_a_body_larger_than_the_request_limit_is_refused_by_nginx(certificates_registered: Topology) -> None:
    t = certificates_registered
    answer = t.session("DEMO01").post(
        t.soap_url, data=b"x" * (10 * 1024 * 1024 + 1), headers={"Content-Type": "text/xml"}, timeout=30
    )
    assert answer.status_code == 413
