"""Client certificates bound to organisations: the second factor of every call behind the TLS proxy.

The proxy (deploy/nginx) verifies the certificate against the client-certificate CA and forwards it in a
request header; the service then requires the certificate to be registered to the caller's organisation.
A certificate is known by the SHA-256 of its DER encoding, written as 64 lower-case hex digits. nginx's
`$ssl_client_fingerprint` is SHA-1, so the proxy forwards the certificate itself (`$ssl_client_escaped_cert`,
URL-escaped PEM) and the fingerprint is computed here; a proxy that can send the SHA-256 fingerprint
directly (hex, with or without colons) works too.
"""

from __future__ import annotations

import binascii
import hashlib
import ipaddress
import json
import re
import ssl
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.records import ClientCertificate

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A forwarded PEM is ~2 KB URL-escaped; anything far larger is not one certificate.
MAX_FORWARDED_CHARS = 16_384


def fingerprint_of_der(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def fingerprint_of_pem(pem: str) -> str | None:
    """The SHA-256 fingerprint of the one certificate in `pem`; None unless it holds exactly one."""
    blocks = _PEM.findall(pem)
    if len(blocks) != 1:
        return None
    try:
        der = ssl.PEM_cert_to_DER_cert(f"-----BEGIN CERTIFICATE-----{blocks[0]}-----END CERTIFICATE-----")
    except (ValueError, binascii.Error):
        return None
    # A certificate is a DER SEQUENCE (0x30); base64 of anything else is not one.
    if not der or der[0] != 0x30:
        return None
    return fingerprint_of_der(der)


def normalise_fingerprint(text: str) -> str | None:
    """A SHA-256 fingerprint as 64 lower-case hex digits (colons and spaces dropped), or None."""
    compact = re.sub(r"[\s:]", "", text or "").lower()
    return compact if _SHA256_HEX.fullmatch(compact) else None


def forwarded_fingerprint(value: str | None) -> str | None:
    """The fingerprint in a proxy's certificate header: a URL-escaped PEM or a SHA-256 fingerprint."""
    if not value or len(value) > MAX_FORWARDED_CHARS:
        return None
    text = value.strip()
    if "CERTIFICATE" in text.upper():
        return fingerprint_of_pem(unquote(text))
    return normalise_fingerprint(text)


def is_trusted_peer(peer: str | None, trusted: Iterable[str]) -> bool:
    """Whether the connection's peer address is one of the trusted proxies (addresses or networks)."""
    try:
        address = ipaddress.ip_address((peer or "").strip())
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in trusted)


def certificate_from_request(
    header_value: str | None, peer: str | None, trusted: Iterable[str]
) -> str | None:
    """The fingerprint a request's proxy vouches for; a header from any other peer is ignored."""
    if not is_trusted_peer(peer, trusted):
        return None
    return forwarded_fingerprint(header_value)


# -- administration (`lrs-ws org cert add|list|remove`) -------------------------------------------------


def _audit(
    uow: AbstractUnitOfWork, actor: str, org: model.Organisation, fingerprint: str, *, added: bool
) -> None:
    """The registration or removal, under the operator's name (`actor`, e.g. cli:root)."""
    change = json.dumps({"fingerprint": fingerprint})
    operation = "AddClientCertificate" if added else "RemoveClientCertificate"
    uow.audit.add(
        model.AuditEvent(
            at=utcnow(),
            user_id=None,
            username=actor[:100],
            organisation_id=org.id,
            operation=operation,
            before=None if added else change,
            after=change if added else None,
            client_certificate=fingerprint,
        )
    )


def _organisation(uow: AbstractUnitOfWork, ref: str) -> model.Organisation:
    org = uow.organisations.by_ref(values.check_org_ref(ref))
    if org is None or org.id is None:
        raise e.NotFound("organisation", ref)
    return org


def add_certificate(uow: AbstractUnitOfWork, *, organisation_ref: str, pem: str, actor: str) -> str:
    """Register the certificate in `pem` to the organisation; its fingerprint."""
    fingerprint = fingerprint_of_pem(pem)
    if fingerprint is None:
        raise e.InvalidValue("pem", "The file must hold exactly one PEM certificate (BEGIN CERTIFICATE).")
    with uow:
        org = _organisation(uow, organisation_ref)
        existing = uow.client_certificates.by_fingerprint(fingerprint)
        if existing is not None:
            raise e.InvalidValue("pem", f"Certificate {fingerprint} is already registered.")
        assert org.id is not None
        uow.client_certificates.add(org.id, fingerprint, utcnow())
        _audit(uow, actor, org, fingerprint, added=True)
        uow.commit()
    return fingerprint


def list_certificates(uow: AbstractUnitOfWork, *, organisation_ref: str) -> Sequence[ClientCertificate]:
    with uow:
        org = _organisation(uow, organisation_ref)
        assert org.id is not None
        return uow.client_certificates.for_organisation(org.id)


def remove_certificate(
    uow: AbstractUnitOfWork, *, organisation_ref: str, fingerprint: str, actor: str
) -> str:
    """Unregister one of the organisation's certificates; refused on the very next call."""
    clean = normalise_fingerprint(fingerprint)
    if clean is None:
        raise e.InvalidValue("fingerprint", "A fingerprint is 64 hex digits (SHA-256), colons allowed.")
    with uow:
        org = _organisation(uow, organisation_ref)
        assert org.id is not None
        if not uow.client_certificates.remove(org.id, clean):
            raise e.NotFound("client certificate", clean)
        _audit(uow, actor, org, clean, added=False)
        uow.commit()
    return clean


__all__ = [
    "add_certificate",
    "certificate_from_request",
    "fingerprint_of_der",
    "fingerprint_of_pem",
    "forwarded_fingerprint",
    "is_trusted_peer",
    "list_certificates",
    "normalise_fingerprint",
    "remove_certificate",
]
