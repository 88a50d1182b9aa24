"""Reading the proxy's certificate header: fingerprints, formats and which peers are believed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from support.certs import Authority

from lrs_ws.config import Settings
from lrs_ws.service.client_certs import (
    certificate_from_request,
    fingerprint_of_pem,
    forwarded_fingerprint,
    is_trusted_peer,
    normalise_fingerprint,
)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory):
    ca = Authority(tmp_path_factory.mktemp("pki"), "AO client CA")
    return ca.issue("ao", "ao system", server=False)


def test_the_fingerprint_of_a_pem_certificate_is_the_sha256_of_its_der_encoding(issued) -> None:
    assert fingerprint_of_pem(issued.pem) == issued.sha256


def test_nginx_s_url_escaped_pem_and_a_colon_separated_sha256_give_the_same_fingerprint(issued) -> None:
    colons = ":".join(issued.sha256[i : i + 2] for i in range(0, 64, 2)).upper()
    assert forwarded_fingerprint(quote(issued.pem, safe="")) == issued.sha256
    assert forwarded_fingerprint(colons) == issued.sha256


def test_a_sha1_fingerprint_garbage_or_two_certificates_give_no_fingerprint(issued) -> None:
    assert forwarded_fingerprint("a" * 40) is None  # nginx's $ssl_client_fingerprint is SHA-1: not accepted
    assert forwarded_fingerprint("not a certificate") is None
    assert forwarded_fingerprint("") is None
    assert fingerprint_of_pem(issued.pem + issued.pem) is None
    junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert fingerprint_of_pem(junk) is None
    assert normalise_fingerprint("g" * 64) is None


def test_the_header_is_believed_only_from_a_trusted_proxy_address_or_network(issued) -> None:
    header = quote(issued.pem, safe="")
    assert certificate_from_request(header, "10.0.1.10", ("10.0.1.10/32",)) == issued.sha256
    assert certificate_from_request(header, "10.0.1.77", ("10.0.1.0/24",)) == issued.sha256
    assert certificate_from_request(header, "10.0.2.10", ("10.0.1.0/24",)) is None
    assert certificate_from_request(header, "10.0.1.10", ()) is None
    assert not is_trusted_peer("", ("127.0.0.1/32",))
    assert is_trusted_peer("::1", ("::1/128",))


def test_trusted_proxies_are_read_as_comma_separated_addresses_and_networks() -> None:
    settings = Settings.from_env(
        {"LRS_WS_TRUSTED_PROXIES": " 10.0.1.10, 10.0.2.0/24 ,", "LRS_WS_CLIENT_CERT_HEADER": "X-Client-Cert"}
    )
    assert settings.trusted_proxies == ("10.0.1.10/32", "10.0.2.0/24")
    assert settings.client_cert_header == "X-Client-Cert"
    with pytest.raises(ValueError, match="LRS_WS_TRUSTED_PROXIES"):
        Settings.from_env({"LRS_WS_TRUSTED_PROXIES": "nginx.internal"})


def test_the_test_pki_is_not_committed() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert not [p for p in (repo / "deploy").rglob("*") if p.suffix in {".pem", ".crt", ".key"}]
