"""Passwords are stored only as salted scrypt hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from lrs_ws.domain.errors import InvalidValue

_N, _R, _P = 2**14, 8, 1
MIN_LENGTH = 12


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def new_password_hash(password: str) -> str:
    """The stored hash of a password a user is given (added, or reset by an operator)."""
    if len(password) < MIN_LENGTH:
        raise InvalidValue("password", f"The password must be at least {MIN_LENGTH} characters long.")
    return hash_password(password)


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
