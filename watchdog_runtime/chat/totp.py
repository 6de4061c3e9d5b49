"""One-time codes (TOTP, RFC 6238: HMAC-SHA1, 30 s steps, 6 digits), standard library only:
the code an authenticator app shows for a base32 secret."""

from __future__ import annotations

import base64
import hmac
import secrets
import struct

STEP_S = 30
DIGITS = 6


def new_secret() -> str:
    """A fresh base32 secret (160 bits), to type or scan into an authenticator app."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def code(secret: str, epoch: float, step_s: int = STEP_S) -> str:
    """The code for ``epoch`` (RFC 6238's test vector, SHA-1, T = 59 s):

    >>> code(base64.b32encode(b"12345678901234567890").decode(), 59)
    '287082'
    """
    key = base64.b32decode(secret.replace(" ", "").upper() + "=" * (-len(secret.replace(" ", "")) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(epoch // step_s)), "sha1").digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def verify(secret: str, given: str, epoch: float, drift_steps: int = 1) -> bool:
    """True when ``given`` is the code of this step or of ``drift_steps`` around it (a phone's
    clock is a little off, and a person types slowly); compared in constant time."""
    given = given.strip()
    if len(given) != DIGITS or not given.isdigit():
        return False
    return any(hmac.compare_digest(code(secret, epoch + k * STEP_S), given)
               for k in range(-drift_steps, drift_steps + 1))
