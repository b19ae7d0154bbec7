"""Initial sequence numbers (RFC 6528, RFC 9293 §3.4.1, MUST-8, MUST-9, SHLD-1).

ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a
clock ticking every 4 microseconds and F a keyed hash. Both the key and the
clock reading (``now``) are supplied by the caller, so runs are reproducible.
"""

from __future__ import annotations

import hashlib

from .seq import SEQ_MOD

TICKS_PER_SECOND = 250_000
"""M advances once every 4 microseconds (RFC 9293 §3.4.1)."""


class IsnGenerator:
    """Keyed ISN generator.

    Args:
        key: the secret (16 bytes or more recommended); outsiders who do not
            know it cannot predict F (MUST-9). Every byte counts: a key longer
            than BLAKE2s's 32 bytes is hashed down to 32.

    Raises:
        ValueError: the key is empty.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("ISN key must not be empty")
        key = bytes(key)
        self._key = key if len(key) <= 32 else hashlib.blake2s(key).digest()

    def isn(self, local: str, local_port: int, remote: str, remote_port: int, now: float) -> int:
        """Return the ISN for a 4-tuple at time ``now`` (seconds), in [0, 2**32)."""
        h = hashlib.blake2s(key=self._key, digest_size=4)
        h.update(f"{local}|{local_port}|{remote}|{remote_port}".encode())
        f = int.from_bytes(h.digest(), "big")
        m = int(now * TICKS_PER_SECOND)
        return (m + f) % SEQ_MOD
