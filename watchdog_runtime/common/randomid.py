"""Random identifiers without the ``uuid`` module (issue 29: ``uuid`` imports ``platform``
and ``_uuid``, about 0.25 MiB the supervisor keeps for life, to make two kinds of ids), and
the restart backoff's jitter without the ``random`` module (about 0.17 MiB, for one float
per crash)."""

from __future__ import annotations

import os


def uuid4_hex() -> str:
    """What ``uuid.uuid4().hex`` returns: 32 hex digits of a random version-4 UUID.

    >>> len(uuid4_hex()), uuid4_hex()[12], uuid4_hex()[16] in "89ab"
    (32, '4', True)
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # the version, 4 (RFC 4122 section 4.4)
    raw[8] = raw[8] & 0x3F | 0x80  # the variant, RFC 4122
    return raw.hex()


def uniform01() -> float:
    """What ``random.random()`` returns: a float in [0, 1) with 53 random bits (a double's
    whole mantissa), drawn from ``os.urandom``, the source ``random`` seeds itself from.

    >>> draws = [uniform01() for _ in range(1000)]
    >>> all(0.0 <= x < 1.0 for x in draws), len(set(draws)) == 1000
    (True, True)
    """
    return (int.from_bytes(os.urandom(7), "big") >> 3) / 9007199254740992.0  # 56 bits >> 3 = 53; 2**53
