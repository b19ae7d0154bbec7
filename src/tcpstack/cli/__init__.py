"""The ``tcpstack`` command line: one module per command family.

* :mod:`~tcpstack.cli.main`: the parser, ``demo``, ``scenarios``, dispatch;
* :mod:`~tcpstack.cli.tun`: ``tcpstack tun serve|connect``;
* :mod:`~tcpstack.cli.drill`: ``tcpstack drill``;
* :mod:`~tcpstack.cli.torture`: ``tcpstack torture``;
* :mod:`~tcpstack.cli.argtypes`: argument types shared by the commands;
* :mod:`~tcpstack.cli.docs`: regenerates the documentation pages drawn from code.
"""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["build_parser", "main"]
