"""``tcpstack stats``: the counters of a run, as Linux's ``nstat`` would name them.

:func:`add_stats_parser` adds the command (the network knobs are the demo's,
added by :mod:`tcpstack.cli.main`); :func:`run_stats` runs a scenario in the
simulator and prints every host's :attr:`Stack.stats
<tcpstack.stack.Stack.stats>`: a rich table by default (key, Linux name, one
column per host, meaning; zeros hidden unless ``--all``), or one JSON object
with ``--json``. :func:`print_stats` serves ``tcpstack tun ... --stats`` too.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from ..counters import COUNTERS, Stats, describe, ordered
from ..scenarios import ScenarioOptions, get_scenario
from .argtypes import UsageError

__all__ = ["STATS_EPILOG", "add_stats_parser", "print_nstat", "print_stats", "run_stats",
           "stats_object", "write_stats_json"]

STATS_EPILOG = """\
examples:
  tcpstack stats                          counters of the full lifecycle, both hosts
  tcpstack stats fast-retransmit          what a lost segment makes each side count
  tcpstack stats --loss 0.2 --seed 7      the lifecycle over a lossy link
  tcpstack stats --all                    every counter, zeros included
  tcpstack stats --per-connection         each connection's own counters too
  tcpstack stats --nstat --loss 0.1       by Linux name, to set beside 'nstat -a'
  tcpstack stats --json | jq .hosts.client.nstat
                                          one JSON object; nstat: by Linux name
"""


def add_stats_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``tcpstack stats`` (without the network knobs, which the caller adds)."""
    p = subparsers.add_parser(
        "stats",
        help="run a scenario in the simulator and print what each host counted",
        description="Run a scenario in the simulator (virtual time) and print each host's "
        "counters: drops by reason, defences (challenge ACKs, rate limits, SYN cookies...), "
        "retransmissions, timeouts, resets, with the Linux nstat name of each.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=STATS_EPILOG,
    )
    p.add_argument("scenario", nargs="?", default="lifecycle",
                   help="scenario name (default: lifecycle; see 'tcpstack scenarios')")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout instead of the table")
    out.add_argument("--all", action="store_true",
                     help="show every counter, zeros included")
    out.add_argument("--per-connection", action="store_true",
                     help="also show each connection's own counters")
    out.add_argument("--nstat", action="store_true",
                     help="show the figures by Linux name only, as 'nstat -a' would "
                          "(several keys may add up to one name)")
    return p


def run_stats(args: argparse.Namespace, options: ScenarioOptions) -> int:
    """Run the scenario ``args.scenario`` with ``options``; print its hosts' counters.

    Raises:
        UsageError: no such scenario.
    """
    try:
        scenario = get_scenario(args.scenario)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    result = scenario.run(options)
    hosts = {name: host.stack.stats for name, host in result.network.hosts.items()}
    run = {"scenario": scenario.name, "seed": options.seed,
           "virtual_seconds": round(result.network.now, 6),
           "packets": result.network.packets_sent}
    if args.json:
        obj = {**run, **stats_object(hosts, zeros=args.all,
                                     per_connection=args.per_connection)}
        print(json.dumps(obj, indent=2))
        return 0
    console = Console()
    console.print(f"[bold]{scenario.name}[/], seed {options.seed}: {run['packets']} packets "
                  f"in {run['virtual_seconds']:.3f} s of virtual time")
    if args.nstat:
        print_nstat(hosts, console, zeros=args.all)
    else:
        print_stats(hosts, console, zeros=args.all, per_connection=args.per_connection)
    return 0


def print_nstat(hosts: Mapping[str, Stats], console: Console, *, zeros: bool = False) -> None:
    """Print ``hosts``' figures by Linux ``nstat`` name, one value column per host."""
    table = Table(title="by Linux nstat name")
    table.add_column("nstat", no_wrap=True)
    for host in hosts:
        table.add_column(host, justify="right", no_wrap=True)
    views = [stats.nstat() for stats in hosts.values()]
    names = sorted({name for view in views for name in view})
    shown = [n for n in names if zeros or any(view[n] for view in views)]
    for name in shown:
        table.add_row(name, *(str(view[name]) for view in views))
    if not shown:
        table.add_row("(nothing counted)", *("" for _ in hosts))
    console.print(table)


def stats_object(hosts: Mapping[str, Stats], *, zeros: bool = False,
                 per_connection: bool = False) -> dict[str, Any]:
    """``{"hosts": {name: {"counters": {key: n}, "nstat": {name: n}}}}``, keys in
    table order, zeros left out unless ``zeros``; with ``per_connection`` each host
    also has ``"connections": [{"name": ..., "counters": {...}}]``."""
    out: dict[str, Any] = {}
    for name, stats in hosts.items():
        host: dict[str, Any] = {
            "counters": ordered(stats, zeros=zeros),
            "nstat": {k: v for k, v in stats.nstat().items() if zeros or v},
        }
        if per_connection:
            host["connections"] = [{"name": conn, "counters": counts}
                                   for conn, counts in stats.per_connection()]
        out[name] = host
    return {"hosts": out}


def print_stats(hosts: Mapping[str, Stats], console: Console, *, zeros: bool = False,
                per_connection: bool = False) -> None:
    """Print ``hosts``' counters as a table (one value column per host), then,
    with ``per_connection``, one table per host of its connections' counters."""
    table = Table(title="counters")
    table.add_column("counter", no_wrap=True)
    table.add_column("Linux nstat", overflow="fold")
    for host in hosts:
        table.add_column(host, justify="right", no_wrap=True)
    table.add_column("meaning", ratio=1)
    keys = ordered({k: sum(s[k] for s in hosts.values()) for k in _all_keys(hosts)},
                   zeros=zeros)
    for key in keys:
        info = describe(key)
        table.add_row(key, ", ".join(info.nstat) if info else "",
                      *(str(s[key]) for s in hosts.values()),
                      info.description if info else "(not in the counters table)")
    if not keys:
        table.add_row("(nothing counted)", "", *("" for _ in hosts), "")
    console.print(table)
    if not per_connection:
        return
    for host, stats in hosts.items():
        conns = stats.per_connection()
        ctable = Table(title=f"{host}: per connection")
        ctable.add_column("connection", no_wrap=True)
        ctable.add_column("counter", no_wrap=True)
        ctable.add_column("count", justify="right")
        for name, counts in conns:
            for i, (key, value) in enumerate(counts.items()):
                ctable.add_row(name if i == 0 else "", key, str(value))
        if not conns:
            ctable.add_row("(no connection counted anything)", "", "")
        console.print(ctable)


def _all_keys(hosts: Mapping[str, Stats]) -> set[str]:
    keys = set(COUNTERS)
    for stats in hosts.values():
        keys.update(stats)
    return keys


def write_stats_json(hosts: Mapping[str, Stats], fp: IO[str]) -> None:
    """Write :func:`stats_object` (every counter, per connection) as one JSON line."""
    fp.write(json.dumps(stats_object(hosts, zeros=True, per_connection=True)) + "\n")
