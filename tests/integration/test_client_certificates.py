"""The second factor in the authentication use case: a client certificate registered to the caller's
organisation, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from support.certs import Authority
from support.demo import DEMO1_USER, DEMO_PASSWORD, ORG1, ORG2

from lrs_ws.domain.errors import AuthenticationFailed, DomainError, NotFound
from lrs_ws.service import client_certs
from lrs_ws.service.auth import LoginPolicy, authenticate

REQUIRED = LoginPolicy(require_client_certificate=True, failure_limit=100)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    ca = Authority(tmp_path_factory.mktemp("pki"), "AO client CA")
    return {org: ca.issue(org.lower(), f"{org} system", server=False) for org in (ORG1, ORG2)}


def login(wiring, certificate, policy=REQUIRED):
    return authenticate(
        wiring.uow_factory(),
        username=DEMO1_USER,
        password=DEMO_PASSWORD,
        organisation_ref=ORG1,
        policy=policy,
        certificate=certificate,
    )


@pytest.fixture
def registered(demo_wiring, pki):
    for org, issued in pki.items():
        client_certs.add_certificate(
            demo_wiring.uow_factory(), organisation_ref=org, pem=issued.pem, actor="cli:test"
        )
    return demo_wiring


def test_the_caller_s_own_registered_certificate_is_accepted_and_noted_on_the_caller(registered, pki):
    assert login(registered, pki["DEMO01"].sha256).certificate == pki["DEMO01"].sha256


def test_another_organisation_s_certificate_none_or_an_unknown_one_is_refused_with_the_one_message(
    registered, pki
):
    for certificate in (pki["DEMO02"].sha256, None, "0" * 64):
        with pytest.raises(AuthenticationFailed) as caught:
            login(registered, certificate)
        assert caught.value.message == AuthenticationFailed().message


def test_without_the_requirement_no_certificate_is_needed(demo_wiring):
    assert login(demo_wiring, None, LoginPolicy()).certificate == ""


def test_a_removed_certificate_is_refused_at_once_although_the_password_check_is_cached(registered, pki):
    fingerprint = pki["DEMO01"].sha256
    login(registered, fingerprint)
    client_certs.remove_certificate(
        registered.uow_factory(), organisation_ref="DEMO01", fingerprint=fingerprint, actor="cli:test"
    )
    with pytest.raises(AuthenticationFailed):
        login(registered, fingerprint)


def test_adding_and_removing_are_audited_with_the_fingerprint_never_the_pem(registered, pki):
    fingerprint = pki["DEMO01"].sha256
    client_certs.remove_certificate(
        registered.uow_factory(), organisation_ref="demo01", fingerprint=fingerprint, actor="cli:test"
    )
    with registered.engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT operation, username, before, after FROM audit_events"
                " WHERE client_certificate = :fp ORDER BY id"
            ),
            {"fp": fingerprint},
        ).all()
    assert [e.operation for e in events] == ["AddClientCertificate", "RemoveClientCertificate"]
    assert {e.username for e in events} == {"cli:test"}
    assert json.loads(events[1].before) == {"fingerprint": fingerprint}
    assert "BEGIN" not in repr(events)


def test_a_certificate_is_registered_once_and_only_to_an_existing_organisation(registered, pki, tmp_path):
    with pytest.raises(DomainError, match="already registered"):
        client_certs.add_certificate(
            registered.uow_factory(), organisation_ref="DEMO02", pem=pki["DEMO01"].pem, actor="cli:test"
        )
    with pytest.raises(NotFound):
        client_certs.remove_certificate(
            registered.uow_factory(),
            organisation_ref="DEMO02",
            fingerprint=pki["DEMO01"].sha256,
            actor="cli:test",
        )
    with pytest.raises(DomainError, match="PEM"):
        client_certs.add_certificate(
            registered.uow_factory(), organisation_ref="DEMO01", pem="hello", actor="cli:test"
        )
    listed = client_certs.list_certificates(registered.uow_factory(), organisation_ref="DEMO01")
    assert [c.fingerprint for c in listed] == [pki["DEMO01"].sha256]
