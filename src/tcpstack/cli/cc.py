"""``tcpstack cc``: the congestion control algorithms this tcpstack knows.

``tcpstack cc list`` prints a rich table of :data:`tcpstack.congestion.ALGORITHMS`
(name, aliases, the first line of the class docstring, whether the algorithm
takes delivery-rate samples and paces), or one JSON object with ``--json``;
``tcpstack cc show NAME`` prints one algorithm's whole description.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from ..config import TcpConfig
from ..congestion import ALGORITHMS, CongestionControl
from .argtypes import UsageError

__all__ = ["CC_EPILOG", "add_cc_parser", "algorithm_rows", "run_cc"]

CC_EPILOG = """\
examples:
  tcpstack cc list                 the algorithms, one row each
  tcpstack cc list --json | jq '.algorithms[].name'
                                   one JSON object instead of the table
  tcpstack cc show newreno         one algorithm's whole description

choose one per connection with TcpConfig(congestion_control=NAME) or
Connection.set_congestion_control(NAME); docs/congestion.md explains them
"""

_PROBE_MSS = 1460
"""SMSS for the instance that tells whether an algorithm paces from the start."""


def add_cc_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tcpstack cc`` (``list``, ``show``) to the ``tcpstack`` parser."""
    cc = sub.add_parser(
        "cc",
        help="list the congestion control algorithms",
        description="The congestion control algorithms tcpstack knows, by the names "
        "TcpConfig(congestion_control=...) and Connection.set_congestion_control take.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=CC_EPILOG,
    )
    what = cc.add_subparsers(dest="cc_command", metavar="ACTION")
    listing = what.add_parser(
        "list", help="a table of the algorithms (or --json)",
        description="A table of the registered algorithms: name, aliases, what it is, "
        "whether it takes delivery-rate samples and paces its segments.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=CC_EPILOG)
    listing.add_argument("--json", action="store_true",
                         help="print one JSON object on stdout instead of the table")
    show = what.add_parser(
        "show", help="one algorithm's whole description",
        description="Print one algorithm's description (its class docstring) and properties.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=CC_EPILOG)
    show.add_argument("name", help="an algorithm's name or alias (see 'tcpstack cc list')")
    show.add_argument("--json", action="store_true",
                      help="print one JSON object on stdout instead of the text")


def _paces(cls: type[CongestionControl]) -> bool:
    """The algorithm sets a pacing rate: it says so (``paces``), or a new
    instance has one."""
    if getattr(cls, "paces", False):
        return True
    return cls(_PROBE_MSS).pacing_rate is not None


def _description(cls: type[CongestionControl]) -> str:
    return inspect.getdoc(cls) or ""


def algorithm_rows() -> list[dict[str, Any]]:
    """One dict per algorithm (registration order, aliases folded in): ``name``,
    ``aliases`` (list), ``description`` (the docstring's first line),
    ``needs_samples``, ``pacing`` (bools), ``default`` (TcpConfig's)."""
    default = TcpConfig().congestion_control
    rows: dict[type[CongestionControl], dict[str, Any]] = {}
    for key, cls in ALGORITHMS.items():
        row = rows.get(cls)
        if row is None:
            row = rows[cls] = {
                "name": cls.name if cls.name in ALGORITHMS else key,
                "aliases": [],
                "description": _description(cls).split("\n", 1)[0],
                "needs_samples": bool(cls.needs_samples),
                "pacing": _paces(cls),
                "default": False,
            }
        if key != row["name"]:
            row["aliases"].append(key)
        if key == default:
            row["default"] = True
    return list(rows.values())


def _find(name: str) -> dict[str, Any]:
    for row in algorithm_rows():
        if name == row["name"] or name in row["aliases"]:
            return row
    known = ", ".join(ALGORITHMS)
    raise UsageError(f"unknown congestion control {name!r}; known: {known}")


def run_cc(args: argparse.Namespace) -> int:
    """Run ``tcpstack cc``; returns the exit status.

    Raises:
        UsageError: no action, or an unknown name for ``show``.
    """
    console = Console(highlight=False)
    if args.cc_command == "list":
        rows = algorithm_rows()
        if args.json:
            json.dump({"algorithms": rows}, sys.stdout)
            sys.stdout.write("\n")
            return 0
        table = Table(title="congestion control algorithms")
        for column in ("name", "aliases", "description", "samples", "pacing"):
            table.add_column(column, overflow="fold")
        for row in rows:
            name = row["name"] + (" (default)" if row["default"] else "")
            table.add_row(name, ", ".join(row["aliases"]) or "-", row["description"],
                          "yes" if row["needs_samples"] else "no",
                          "yes" if row["pacing"] else "no")
        console.print(table)
        return 0
    if args.cc_command == "show":
        row = _find(args.name)
        cls = ALGORITHMS[row["name"]]
        if args.json:
            json.dump({**row, "description": _description(cls)}, sys.stdout)
            sys.stdout.write("\n")
            return 0
        console.print(f"[bold]{row['name']}[/bold]"
                      + (f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else "")
                      + (" - the default" if row["default"] else ""))
        console.print(_description(cls), markup=False)
        console.print(f"delivery-rate samples: {'yes' if row['needs_samples'] else 'no'}; "
                      f"pacing: {'yes' if row['pacing'] else 'no'}")
        return 0
    raise UsageError("cc needs an action: list or show (see 'tcpstack cc --help')")
