"""The floor the read benchmark compares the service with: a plain WSGI handler for GetLearnerAchievements and
GetAchievement (`gunicorn benchmarks.raw_read:application`, database from LRS_WS_DATABASE_URL).

It does the work the service must do for these two calls and nothing else: parse the body with lxml, look
up the pair's recent failed logins, the user and its organisation, the same cached password check (an HMAC
of user name, password and stored hash under a per-process key; scrypt on a miss), the operation's SQL in one
transaction on one pooled DBAPI connection, and writes the same response bytes as the service. No schema
validation, no logging, no metrics, no faults: a request it cannot answer is a 500 with an empty body.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import create_engine

from lrs_ws.domain.passwords import verify_password

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"
NSMAP = {"soap11env": SOAP, "tns": SERVICES, "s0": MODEL}
_S = f"{{{SERVICES}}}"
_M = f"{{{MODEL}}}"
FAILURE_WINDOW = timedelta(seconds=300)
PAGE_SIZE = 50

_SUMMARY = (
    "id, uln, title, reference, aim_type, level, grade, award_date, language, provider_ukprn, "
    "mis_identifier, status, withdrawn, under_challenge, version"
)
_SQL = {
    "failures": "SELECT count(*) FROM login_failures WHERE username = ? AND source = ? AND failed_at >= ?",
    "user": "SELECT u.password_hash, u.roles, u.active, o.id, o.ref, o.active FROM users u "
    "JOIN organisations o ON o.id = u.organisation_id WHERE u.username = ?",
    "learner": "SELECT uln, given_name, family_name FROM learners WHERE uln = ?",
    "page": f"SELECT {_SUMMARY}, count(*) OVER () FROM achievements "
    "WHERE organisation_id = ? AND uln = ? AND deleted = ? "
    "ORDER BY award_date DESC, id DESC LIMIT ? OFFSET 0",
    "one": f"SELECT {_SUMMARY} FROM achievements WHERE id = ? AND organisation_id = ? AND deleted = ?",
}
_FIELDS = (
    "AchievementId",
    "Uln",
    "Subject",
    "ReferenceNumber",
    "Type",
    "Level",
    "Grade",
    "AwardDate",
    "LanguageForAssessment",
    "ProviderUkprn",
    "MisIdentifier",
    "Status",
    "Withdrawn",
    "UnderDataChallenge",
    "Version",
)


class Raw:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.sql = _SQL if url.startswith("sqlite") else {k: v.replace("?", "%s") for k, v in _SQL.items()}
        self.key = os.urandom(32)
        self.verified: dict[bytes, bool] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        op = etree.fromstring(body).find(f"{{{SOAP}}}Body")[0]  # type: ignore[index]
        who = op.find(f"{_S}invokingUser")
        name = who.findtext(f"{_M}UserName") or ""  # type: ignore[union-attr]
        password = who.findtext(f"{_M}OrgPassword") or ""  # type: ignore[union-attr]
        org_ref = (who.findtext(f"{_M}OrganisationRef") or "").strip().upper()  # type: ignore[union-attr]
        source = environ.get("REMOTE_ADDR", "")
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            since = datetime.utcnow() - FAILURE_WINDOW  # noqa: DTZ003 - stored as naive UTC
            cur.execute(self.sql["failures"], (name, source, since))
            assert cur.fetchone()[0] < 5
            cur.execute(self.sql["user"], (name,))
            stored, roles, active, org_id, ref, org_active = cur.fetchone()
            entry = hmac.new(self.key, "\0".join((name, password, stored)).encode(), hashlib.sha256).digest()
            if entry not in self.verified:
                assert verify_password(password, stored)
                self.verified[entry] = True
            assert active and org_active and ref == org_ref and "AO_USER" in roles.split(",")
            tag = etree.QName(op).localname
            response = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
            result = etree.SubElement(
                etree.SubElement(etree.SubElement(response, f"{{{SOAP}}}Body"), f"{_S}{tag}Response"),
                f"{_S}{tag}Result",
            )
            if tag == "GetLearnerAchievements":
                cur.execute(self.sql["learner"], (op.findtext(f"{_S}uln"),))
                for field, value in zip(("Uln", "GivenName", "FamilyName"), cur.fetchone(), strict=True):
                    etree.SubElement(result, f"{_M}{field}").text = value
                cur.execute(self.sql["page"], (org_id, op.findtext(f"{_S}uln"), False, PAGE_SIZE))
                rows = cur.fetchall()
                etree.SubElement(result, f"{_M}TotalCount").text = str(rows[0][-1] if rows else 0)
                listed = etree.SubElement(result, f"{_M}Achievements")
                for row in rows:
                    summary(etree.SubElement(listed, f"{_M}AchievementSummary"), row)
            else:
                cur.execute(self.sql["one"], (int(op.findtext(f"{_S}achievementId") or 0), org_id, False))
                summary(result, cur.fetchone())
            conn.rollback()
        finally:
            conn.close()
        out = etree.tostring(response, xml_declaration=True, encoding="UTF-8")
        start_response(
            "200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(out)))]
        )
        return [out]


def summary(parent: etree._Element, row: tuple[Any, ...]) -> None:
    texts = [
        str(row[0]),
        *row[1:7],
        str(row[7]),
        *row[8:12],
        "true" if row[12] else "false",
        "Y" if row[13] else "N",
        str(row[14]),
    ]
    for field, value in zip(_FIELDS, texts, strict=True):
        etree.SubElement(parent, f"{_M}{field}").text = value


application = Raw(os.environ["LRS_WS_DATABASE_URL"])


class Fixed:
    """gunicorn's own cost of a call: `benchmarks.raw_read:fixed` reads the body and answers with what the raw
    handler answered the first time this body came, without parsing, checking or reading anything."""

    def __init__(self, raw: Raw) -> None:
        self.raw = raw
        self.answers: dict[bytes, bytes] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        out = self.answers.get(body)
        if out is None:
            environ["wsgi.input"] = io.BytesIO(body)
            out = self.answers[body] = b"".join(self.raw(environ, lambda *_: None))
        start_response(
            "200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(out)))]
        )
        return [out]


fixed = Fixed(application)
