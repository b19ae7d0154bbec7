"""argparse value types shared by the command-line tools, and their usage error.

Each type raises ``argparse.ArgumentTypeError`` with a one-line message, which
argparse turns into ``usage: ...`` plus ``error: ...`` and exit status 2.
A command that checks its flags after parsing raises :class:`UsageError`
instead: ``tcpstack`` reports it as one line, exit status 2.
"""

from __future__ import annotations

import argparse
import math


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


def _number(text: str, what: str = "number") -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def probability(text: str) -> float:
    """A probability in [0, 1]."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def seconds(text: str) -> float:
    """A duration in seconds, >= 0."""
    value = _number(text, "number of seconds")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds, > 0."""
    value = _number(text, "number of seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _port_from(text: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not lowest <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range {lowest}-65535: {value}")
    return value


def port(text: str) -> int:
    """A TCP port number, 1..65535."""
    return _port_from(text, 1)


def listen_port(text: str) -> int:
    """A port to listen on, 0..65535 (0: the system picks a free one)."""
    return _port_from(text, 0)
