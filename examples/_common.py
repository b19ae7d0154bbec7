"""What the examples share: the command line (--sim or --tun) and the network it builds.

Every example is an ordinary asyncio program; only the last line differs
from ``asyncio.run(main())``: :func:`run` runs it on a tcpstack event loop,
over one of two networks:

``--sim`` (the default)
    the simulator, in virtual time: two hosts, 192.0.2.1 (clients) and
    192.0.2.2 (servers), joined by a link with ``--delay`` seconds of
    one-way delay and ``--loss`` packet loss. A run is reproducible from
    ``--seed``; ``--pcap FILE`` saves every packet for Wireshark.
``--tun``
    tcpstack on a Linux TUN device (``--ifname``), in real time: our stack is
    192.0.2.2, the kernel side 192.0.2.1, so kernel programs (curl, nc, a
    browser) talk to the example's servers and its clients reach kernel
    servers. ``--loss`` and ``--delay`` are then added on both directions.
    Needs root; run it inside a network namespace made for it::

        ip netns add demo && ip -n demo link set lo up
        ip netns exec demo python examples/echo.py --tun
        ip netns del demo       # when done
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import tcpstack.aio
from tcpstack.aio import TcpServer
from tcpstack.cli.argtypes import probability, seconds
from tcpstack.drivers.aio import AioNetwork
from tcpstack.drivers.faults import FaultConfig
from tcpstack.drivers.tun import TunError, validate_ifname

T = TypeVar("T")

SERVER = "192.0.2.2"
"""Where the examples' servers listen: a simulated host, or our stack on TUN."""
CLIENT = "192.0.2.1"
"""The other end: the simulated host clients connect from, or the kernel on TUN."""

Namespace = argparse.Namespace
"""The parsed command line (``args.tun`` is True on TUN)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Bad command line: one line on stderr, exit status 2 (no usage dump)."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the shared options; ``doc`` (the example's docstring)
    is its description. Add the example's own options, then hand it to :func:`run`."""
    p = _Parser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--sim", action="store_true",
                      help="run in the simulator, in virtual time (the default)")
    mode.add_argument("--tun", action="store_true",
                      help="run on a TUN device against the kernel (root, in a netns)")
    p.add_argument("--loss", type=probability, default=0.0,
                   help="packet loss probability per direction (default 0)")
    p.add_argument("--delay", type=seconds, default=None,
                   help="one-way delay in seconds (default: 0.01 simulated, none added on TUN)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of every random choice: a --sim run repeats exactly (default: 1 "
                   "in --sim; random on TUN, so runs do not reuse the last run's ports)")
    p.add_argument("--pcap", metavar="FILE", help="--sim: write every packet to FILE")
    p.add_argument("--ifname", default="tun0", help="--tun: the device to create (default tun0)")
    return p


def network(args: Namespace) -> AioNetwork:
    """The network the command line asks for."""
    if args.tun:
        faults = FaultConfig(loss=args.loss, delay=args.delay or 0.0)
        return tcpstack.aio.TunNetwork(ifname=args.ifname, address=SERVER,
                                       peer=f"{CLIENT}/24", faults=faults, seed=args.seed)
    return tcpstack.aio.SimulatedNetwork(
        [CLIENT, SERVER], loss=args.loss, seed=args.seed, keep_packets=bool(args.pcap),
        delay=0.010 if args.delay is None else args.delay,
    )


def run(main: Callable[[Namespace], Coroutine[Any, Any, T]], p: argparse.ArgumentParser) -> T:
    """Parse the command line, then ``asyncio.run(main(args))`` over the network it asks for.

    Bad command-line input ends the program with one line (exit status 2).
    Errors the user can fix (no TUN device, nobody listening, ...) end it with
    one line and exit status 1; Ctrl-C ends it quietly. In the simulator, a
    last line tells how much virtual and real time the run took and how many
    packets crossed (and were lost).
    """
    args = p.parse_args()
    try:
        validate_ifname(args.ifname)
    except ValueError as exc:
        p.error(str(exc))
    if args.pcap and args.tun:
        p.error("--pcap is for --sim (on TUN, capture with tcpdump -i IFNAME)")
    if args.seed is None and not args.tun:
        args.seed = 1
    net = network(args)
    started = time.perf_counter()
    try:
        loop = tcpstack.aio.new_event_loop(net)  # on TUN: creates the device
        with asyncio.Runner(loop_factory=lambda: loop) as runner:
            result = runner.run(main(args))
    except KeyboardInterrupt:
        sys.exit(130)
    except (TunError, OSError) as exc:
        sys.exit(f"error: {exc}")
    if isinstance(net, tcpstack.aio.SimulatedNetwork):
        stats = net.network.stats
        print(f"[sim] {net.network.now:.3f} s of virtual time in "
              f"{time.perf_counter() - started:.3f} s of real time; {stats.sent} packets sent, "
              f"{stats.lost_total} lost")
        if args.pcap:
            print(f"[sim] {net.write_pcap(args.pcap)} packets written to {args.pcap}")
    return result


async def serve_until_interrupted(
    server: asyncio.AbstractServer | Callable[[], Awaitable[object]],
) -> NoReturn:
    """Serve until Ctrl-C, then stop: close ``server`` and every connection it
    accepted (FIN), or await ``server()`` (aiohttp's ``runner.cleanup``).

    (``server.serve_forever()`` would, once interrupted, wait for every client
    to leave by itself.)
    """
    try:
        await asyncio.Event().wait()  # forever: Ctrl-C cancels the program's main task
    finally:
        if isinstance(server, asyncio.AbstractServer):
            assert isinstance(server, TcpServer)  # what servers are on a tcpstack loop
            server.close()
            server.close_clients()
            # Let the connections' handlers see their end before the loop stops.
            await asyncio.wait_for(server.wait_closed(), timeout=5)
        else:
            await asyncio.wait_for(server(), timeout=5)
    raise AssertionError("not reached")


def random_bytes(size: int, seed: int | None) -> bytes:
    """``size`` random bytes, the same for the same ``seed``."""
    return random.Random(seed).randbytes(size)


# -- argument types the examples share (more in tcpstack.cli.argtypes) ----------------

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size(text: str) -> int:
    """Bytes: an integer, optionally with K, M or G (powers of 1024)."""
    match = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a size like 1000, 64K or 10M, got {text!r}")
    return int(match[1]) * _UNITS[match[2]]


def count(text: str) -> int:
    """A positive integer."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def directory(text: str) -> Path:
    """An existing directory."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return Path(text).resolve()

