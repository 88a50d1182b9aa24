"""Passwords are stored only as salted scrypt hashes; the rules a new password must meet; one-time tokens
with which a new user sets its first password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import timedelta
from functools import cache
from importlib import resources

from lrs_ws.domain.errors import PasswordRejected

_N, _R, _P = 2**14, 8, 1
MIN_LENGTH = 12
# How long the one-time token e-mailed to a new user may be used to set its first password.
TOKEN_VALID_FOR = timedelta(hours=24)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@cache
def _common_passwords() -> frozenset[str]:
    """The bundled list of passwords too common to allow (`common_passwords.txt`, one a line, `#` comments),
    case-folded."""
    text = resources.files("lrs_ws.domain").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_password_rules(password: str, username: str) -> None:
    """The rules every new password meets (whoever sets it: an operator, or the user with its token):
    at least MIN_LENGTH characters; not the user name (in any case, with or without surrounding blanks);
    not one of the bundled common passwords (in any case). PasswordRejected names the rule broken."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected("length", f"The password must be at least {MIN_LENGTH} characters long.")
    folded = password.strip().casefold()
    if folded == username.strip().casefold():
        raise PasswordRejected("username", "The password must not be the user name.")
    if folded in _common_passwords():
        raise PasswordRejected("common", "The password is too common: choose one that is harder to guess.")


def new_password_hash(password: str, username: str) -> str:
    """The stored hash of a password a user is given (added, reset by an operator, or set with a token)."""
    check_password_rules(password, username)
    return hash_password(password)


def unusable_password_hash() -> str:
    """A hash no password matches in practice (of a random secret nobody keeps): a user added by its
    organisation cannot log in before it has set its first password, and checking it costs a real hash."""
    return hash_password(secrets.token_urlsafe(32))


def new_token() -> tuple[str, str]:
    """A one-time token to hand to a user, and the digest of it that is stored (never the token itself)."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """SHA-256 of the token as sent: 256 random bits need no salt or slow hash to stay unguessable."""
    return hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).hexdigest()


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check; an unknown user (stored None) costs the same as a wrong password."""
    if not stored:
        stored = _DUMMY
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected) and stored is not _DUMMY


_DUMMY = hash_password("not-a-real-password")
