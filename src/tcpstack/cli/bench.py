"""``tcpstack bench``: the benchmarks, one JSON object on stdout.

How each figure is measured: ``docs/performance.md``. Every flag is checked
here, after parsing, so that bad input is one line (``tcpstack: error: ...``)
and exit status 2.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from typing import Any

from ..harness.aio_time import AIO_VIRTUAL_TIME_TARGET
from ..harness.bench import DEFAULT_FIGURES, FIGURES, MAX_IDLE_HOSTS, SIM_STEP_TARGET, run_bench
from ..harness.scaling import ACCEPT_TARGET, CONN_MEMORY_TARGET, SCALING_TARGET
from .argtypes import UsageError, probability

BENCH_EPILOG = f"""\
figures (--only NAMES, comma-separated; default: all but idle_million):
  bulk          bulk_clean, bulk_lossy: a --size transfer in the simulator, clean and lossy
  handshakes    --connections open+close cycles in the simulator
  conn_memory   conn_memory_bytes: tracemalloc bytes per idle ESTABLISHED end
                (target {CONN_MEMORY_TARGET})
  scaling       scaling_ratio: cost per packet with --scale idle connections / with none
                (target {SCALING_TARGET})
  accept        accept_scaling: cost per accepted connection at --scale / at --scale/10
                (target {ACCEPT_TARGET})
  sim_step      sim_step_ratio: simulator cost per step with --idle-hosts hosts and
                --sim-connections idle connections / alone (target {SIM_STEP_TARGET})
  idle_million  idle_connection_ends: 500,000 connections (1,000,000 ends) in one process
                (opt-in: --idle-million, or name it in --only)
  aio_time      aio_virtual_time: wall seconds of an asyncio program's 2-hour sleep and
                keep-alive timeout over the simulator (target {AIO_VIRTUAL_TIME_TARGET})

examples:
  tcpstack bench                                  every default figure
  tcpstack bench --only bulk,handshakes           the transfer and handshake figures only
  tcpstack bench --only conn_memory --runs 3      bytes per idle connection end, 3 runs
  tcpstack bench --only scaling,accept --scale 20000 --heavy-runs 1
  tcpstack bench --only sim_step --idle-hosts 200 --sim-connections 2000
  tcpstack bench --only idle_million              1,000,000 idle ends (GBs of memory)
  tcpstack bench --idle-million 100000            the default figures and 200,000 idle ends

Figures with a target print {{"median", "min", "max", "runs", "target", "met", ...}};
--idle-hosts is at most {MAX_IDLE_HOSTS}.
"""


_DEFAULTS: dict[str, Any] = {
    name: param.default for name, param in inspect.signature(run_bench).parameters.items()
}
"""run_bench's defaults: the flags' defaults."""

_WHOLE_NUMBERS: tuple[tuple[str, str, int | None, str], ...] = (
    # flag (its run_bench keyword with "_" for "-"), metavar, least value, what it sets
    ("--runs", "K", 1, "runs of conn_memory, sim_step and aio_time"),
    ("--heavy-runs", "K", 1, "runs of scaling and accept"),
    ("--size", "BYTES", 1, "bytes of each bulk transfer"),
    ("--connections", "N", 1, "open+close cycles of the handshakes figure"),
    ("--scale", "N", 10, "idle connections of scaling; the larger size of accept"),
    ("--memory-connections", "N", 1, "connections conn_memory opens"),
    ("--idle-hosts", "H", 1, "idle hosts of sim_step"),
    ("--sim-connections", "N", 0, "idle connections of sim_step, from the idle hosts"),
    ("--seed", "N", None, "seed of every network and stack"),
)


def add_bench_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` command to the ``tcpstack`` parser."""
    bench = sub.add_parser(
        "bench",
        help="run the benchmarks and print one JSON object",
        description="Measure the stack: bulk transfers and handshakes in the simulator, "
        "memory per idle connection, and how the cost per packet, per accepted "
        "connection and per simulator step grows with idle connections and hosts. "
        "Prints one JSON object; docs/performance.md explains each figure.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=BENCH_EPILOG,
    )
    which = bench.add_argument_group("what to measure")
    which.add_argument("--only", metavar="NAMES",
                       help="comma-separated figures to measure (names below)")
    million = _DEFAULTS["million_connections"]
    which.add_argument("--idle-million", metavar="CONNECTIONS", nargs="?", const=str(million),
                       help=f"also open CONNECTIONS idle connections (default {million}: "
                       f"{2 * million:,} ends) in this process and report memory and time")
    sizes = bench.add_argument_group("sizes and runs")
    sizes.add_argument("--loss", metavar="P", default=_DEFAULTS["loss"],
                       help=f"loss probability of the lossy transfer (default {_DEFAULTS['loss']})")
    for flag, metavar, least, what in _WHOLE_NUMBERS:
        default = _DEFAULTS[_keyword(flag)]
        floor = f"; at least {least}" if least not in (None, 0, 1) else ""
        sizes.add_argument(flag, metavar=metavar, default=default,
                           help=f"{what} (default {default}{floor})")


def bench_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~tcpstack.harness.bench.run_bench` the flags ask for.

    Raises:
        UsageError: a flag's value is not a number, out of range, or names no figure.
    """
    figures = list(DEFAULT_FIGURES)
    if args.only is not None:
        figures = [name.strip() for name in args.only.split(",") if name.strip()]
        for name in figures:
            if name not in FIGURES:
                raise UsageError(f"--only: unknown figure {name!r} "
                                 f"(choose from {', '.join(FIGURES)})")
        if not figures:
            raise UsageError("--only: name at least one figure")
    options: dict[str, Any] = {"figures": figures}
    if args.idle_million is not None:
        figures.append("idle_million")
        options["million_connections"] = _integer("--idle-million", args.idle_million, 1)
    try:
        options["loss"] = probability(str(args.loss))
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--loss: {exc}") from None
    for flag, _, least, _ in _WHOLE_NUMBERS:
        key = _keyword(flag)
        options[key] = _integer(flag, getattr(args, key), least)
    if options["idle_hosts"] > MAX_IDLE_HOSTS:
        raise UsageError(f"--idle-hosts must be <= {MAX_IDLE_HOSTS}, got {options['idle_hosts']}")
    return options


def run_bench_command(args: argparse.Namespace) -> int:
    """Measure what the flags ask for and print one JSON object; returns the exit status."""
    options = bench_options(args)
    progress = None
    if sys.stderr.isatty():
        def progress(key: str) -> None:
            print(f"tcpstack bench: measuring {key} ...", file=sys.stderr, flush=True)
    print(json.dumps(run_bench(**options, progress=progress), indent=2))
    return 0


def _keyword(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _integer(flag: str, value: object, minimum: int | None) -> int:
    """``value`` (text from the command line, or an int default) as an int >= ``minimum``."""
    try:
        number = int(str(value))
    except ValueError:
        raise UsageError(f"{flag}: not a whole number: {value!r}") from None
    if minimum is not None and number < minimum:
        raise UsageError(f"{flag} must be >= {minimum}, got {number}")
    return number
