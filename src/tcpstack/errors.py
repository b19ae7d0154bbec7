"""Exceptions raised by tcpstack.

Only the local caller's mistakes raise. A peer's packet never raises out of
the core: malformed input is dropped and traced (DESIGN.md, rule 4).
"""

from __future__ import annotations


class TcpStackError(Exception):
    """Base class of every tcpstack exception."""


class MalformedPacket(TcpStackError, ValueError):
    """A packet or segment could not be parsed.

    Raised by :mod:`tcpstack.wire` parsers only; the stack catches it, counts
    it and traces a ``segment_dropped`` event with :attr:`reason`.

    Attributes:
        reason: a short machine-friendly reason, e.g. ``"bad-checksum"``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class LocalProtocolError(TcpStackError):
    """The local application used the API in a way the current state forbids.

    For example ``send()`` after ``close()`` ("connection closing", RFC 9293
    §3.10.2) or ``connect()`` on a connection that is already open.
    """


class AddressInUse(TcpStackError):
    """``listen()``/``connect()`` asked for a local port or 4-tuple that is taken."""
