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


def number(text: str, what: str = "number") -> float:
    """A finite number (``what`` names it in the error: "not a number of seconds")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def probability(text: str) -> float:
    """A probability in [0, 1]."""
    value = number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def seconds(text: str) -> float:
    """A duration in seconds, >= 0."""
    value = number(text, "number of seconds")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds, > 0."""
    value = number(text, "number of seconds")
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


def positive_number(text: str) -> float:
    """A finite number > 0 (``10e6`` bit/s, ``0.5`` BDP)."""
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
