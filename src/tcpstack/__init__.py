"""tcpstack: a complete TCP (RFC 9293) in pure Python, built sans-I/O."""

from __future__ import annotations

__version__ = "0.1.0"
