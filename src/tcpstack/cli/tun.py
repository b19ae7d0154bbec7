"""``tcpstack tun serve|connect``: the stack on a Linux TUN device, talking to the kernel.

:func:`add_tun_parser` adds the ``tun`` command to the ``tcpstack`` parser
and :func:`run_tun` runs it; ``python -m tcpstack.cli.tun serve ...`` runs
the same commands without the rest of the command line.

Bad input (a malformed address, a missing file, an output path that cannot
be written, an interface name already in use) or an unusable environment
(not root, no ``/dev/net/tun``) gives one line on stderr and exit status 2,
before any device is created. A connection that fails (refused, reset,
timed out), or a device removed from under the command, gives exit status 1.

Offload: by default the device carries a virtio-net header and the kernel's
checksum and segmentation offload, and the stack sends super-segments
(``TcpConfig(tso=True)``), so segments of up to 64 KiB cross the device both
ways; ``--no-offload`` keeps plain packets of at most the MTU (see
:mod:`tcpstack.drivers.tun`). A kernel that refuses the offload gets plain
packets, with one line saying so.

Readiness: once the device is up and the stack listens (``serve``) or is
about to connect (``connect``), one line ``... ready: IFNAME ADDRESS...`` goes
to stderr and, with ``--ready-file PATH``, the same line to ``PATH``
(written atomically, removed at exit), so that a script can wait for it.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

from .. import events
from ..config import TcpConfig
from ..drivers.apps import APPS, App, HttpApp, SendClient
from ..drivers.faults import FAULT_KEYS, NO_FAULTS, FaultConfig, GilbertElliott
from ..errors import TcpStackError
from ..state import State
from .argtypes import UsageError, port, positive_int, positive_seconds, probability, seconds
from .outputs import ReadyFile, open_output

if TYPE_CHECKING:
    from ..drivers.tun import RunStats, TunDriver
    from ..trace import Trace

__all__ = ["add_tun_parser", "main", "run_tun"]

DEFAULT_IFNAME = "tcps0"
DEFAULT_ADDRESS = "192.0.2.2"
DEFAULT_PEER = "192.0.2.1/24"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_EPILOG = """\
The stack answers as --address on a TUN device whose kernel side is --peer.
Run it inside a network namespace made for it, never on a machine's real
network:

  ip netns add demo && ip -n demo link set lo up

  # serve the built-in page (and files under ./site) to the kernel; wait for
  # the ready file (it appears once the stack listens), fetch, stop
  ip netns exec demo tcpstack tun serve --app http --port 80 --root ./site \\
      --ready-file demo.ready &
  timeout 10 sh -c 'until [ -e demo.ready ]; do sleep 0.1; done'
  ip netns exec demo curl http://192.0.2.2/
  kill %1

  # echo server, stop after one connection, keep a trace and a pcap
  ip netns exec demo tcpstack tun serve --app echo --port 7 --count 1 \\
      --trace echo.jsonl --pcap echo.pcap

  # our stack as the client of a kernel server (while a server runs, use
  # another --ifname and another network: both are refused when in use)
  ip netns exec demo socat TCP-LISTEN:9000,reuseaddr EXEC:cat &
  echo hello | ip netns exec demo tcpstack tun connect --ifname tcps1 \\
      --address 198.51.100.2 --peer 198.51.100.1/24 --to 198.51.100.1:9000

  # fault injection, repeatable with --seed: 5 % loss, 1 % duplicates and 2 %
  # reordering both ways, counters at exit (-v)
  ip netns exec demo tcpstack tun serve --app echo --port 7 \\
      --loss 0.05 --duplicate 0.01 --reorder 0.02 --seed 1 -v
  # one direction at a time: SPEC is KEY=VALUE[,KEY=VALUE...] on top of the
  # both-directions options ('none' first to start from no faults)
  ip netns exec demo tcpstack tun serve --app discard --port 9 \\
      --to-kernel loss=0.05,reorder=0.02 --from-kernel none,delay=0.02,jitter=0.005

  # a slow reader: read 1 MiB/s of the reply, so our window closes and reopens
  ip netns exec demo tcpstack tun connect --to 192.0.2.1:9000 --file /dev/null \\
      --read-rate 1M --output reply.bin

  # segments of up to 64 KiB cross the device by default (offload); --no-offload
  # keeps every packet within the MTU (1500)
  ip netns exec demo tcpstack tun serve --app discard --port 9 --no-offload

  ip netns del demo

Output files (--trace, --pcap, --output, --ready-file) are opened when the
command starts: a bad path is one line and exit status 2, before any device
is created. An --ifname already in use in the namespace (by any link) is
refused the same way, and a device is only ever removed by the command that
created it. A server stops by itself when its device is removed from under
it (exit status 1) or its namespace is deleted (ip netns del: connections
are closed first, exit status 0).

Needs root (or CAP_NET_ADMIN) and /dev/net/tun. Exit status: 0 success,
1 the connection failed (refused, reset, timed out) or the device was
removed, 2 bad arguments or environment, 130 interrupted twice.
"""


_RATE_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _rate(text: str) -> float:
    """A rate in bytes per second, > 0, with an optional K/M/G (binary) suffix."""
    body = text.strip()
    unit = body[-1:].upper() if body[-1:].isalpha() else ""
    if unit not in _RATE_SUFFIXES:
        raise argparse.ArgumentTypeError(f"not a rate in bytes/s (suffix K, M or G): {text!r}")
    number = body[: len(body) - len(unit)]
    try:
        value = float(number) * _RATE_SUFFIXES[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate in bytes/s: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of bytes/s > 0: {text}")
    return value


def _burst_loss(text: str) -> GilbertElliott:
    """Gilbert-Elliott burst loss as ``P_GOOD_TO_BAD:P_BAD_TO_GOOD[:LOSS_GOOD:LOSS_BAD]``."""
    try:
        return GilbertElliott.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fault_spec(text: str) -> str:
    """A fault SPEC (checked here, applied to the both-directions settings later)."""
    try:
        FaultConfig.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _endpoint(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected ADDRESS:PORT, got {text!r}")
    try:
        addr = ipaddress.IPv4Address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {host!r}") from None
    return str(addr), port(port_text)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ifname",
        default=DEFAULT_IFNAME,
        help=f"TUN device to create, 1-15 characters (default {DEFAULT_IFNAME})",
    )
    p.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"the stack's IPv4 address (default {DEFAULT_ADDRESS})",
    )
    p.add_argument(
        "--peer",
        default=DEFAULT_PEER,
        metavar="ADDR/PREFIX",
        help=f"the kernel side's address on the device (default {DEFAULT_PEER})",
    )
    p.add_argument(
        "--profile",
        choices=("rfc", "linux"),
        default="rfc",
        help="timer defaults: 'rfc' (RTO 1 s .. 60 s, RFC 6298) or 'linux' "
        "(RTO 200 ms .. 120 s, 40 ms delayed ACK) (default rfc)",
    )
    p.add_argument(
        "--cc",
        "--congestion-control",
        dest="congestion_control",
        metavar="NAME",
        default=None,
        help="the congestion control algorithm of the stack's connections "
        "(`tcpstack cc list` names them; default newreno)",
    )
    p.add_argument(
        "--ecn",
        choices=("off", "on", "passive"),
        default=None,
        help="ECN (RFC 3168): 'on' asks for it on our SYNs, 'passive' accepts a peer's "
        "request, 'off' neither, as Linux tcp_ecn 1/2/0 (default: the profile's: off for "
        "rfc, passive for linux)",
    )
    p.add_argument(
        "--recv-buffer",
        metavar="BYTES",
        type=int,
        default=None,
        help="receive buffer (largest window offered); above 65535 uses window scaling",
    )
    p.add_argument(
        "--no-offload",
        action="store_true",
        help="plain packets of at most the MTU both ways. By default the device is opened "
        "with a virtio-net header (IFF_VNET_HDR) and checksum and segmentation offload "
        "(TUNSETOFFLOAD): the kernel hands the stack segments of up to 64 KiB and takes "
        "64 KiB segments from it (TcpConfig tso); if the kernel refuses, a line says so "
        "and plain packets are used",
    )
    p.add_argument("--trace", metavar="FILE", type=Path, help="write the JSON Lines trace here")
    p.add_argument(
        "--stats",
        action="store_true",
        help="at exit, print the stack's counters on stderr (drops, defences, "
        "retransmissions..., with their Linux nstat names; see 'tcpstack stats')",
    )
    p.add_argument(
        "--stats-json",
        metavar="FILE",
        type=Path,
        help="at exit, write the stack's counters (every key, per connection) as one "
        "JSON object here",
    )
    p.add_argument(
        "--pcap",
        metavar="FILE",
        type=Path,
        help="write every packet here (pcapng; the file is opened at start, written at exit)",
    )
    p.add_argument(
        "--ready-file",
        metavar="PATH",
        type=Path,
        help="once the device is up and the stack listens (serve) or is about to connect "
        "(connect), write the ready line here (atomically: the file appears complete); "
        "removed at exit. A stale file is removed at start, so scripts can wait for it",
    )
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=positive_seconds,
        help="stop after this many seconds (connections still open are reset)",
    )
    p.add_argument(
        "--read-rate",
        metavar="BYTES_PER_S",
        type=_rate,
        help="make the application a slow reader: every 10 ms it reads at most "
        "BYTES_PER_S/100 bytes (suffix K, M, G for 2**10, 2**20, 2**30), so our receive "
        "window closes and reopens",
    )
    p.add_argument(
        "--linger",
        metavar="SECONDS",
        type=seconds,
        help="keep running this long after the work is done, so TIME-WAIT can answer "
        "a FIN sent again (default 1 with fault injection, else 0)",
    )
    f = p.add_argument_group(
        "fault injection",
        "Seeded faults on the packets between the kernel and our stack (the simulator's fault "
        "model). --loss, --burst-loss, --duplicate, --reorder, --reorder-delay, --delay, "
        "--jitter and --corrupt apply to both directions; --to-kernel / --from-kernel then "
        "change one direction with a SPEC of KEY=VALUE items (keys: "
        + ", ".join(FAULT_KEYS)
        + "; 'none' resets that direction).",
    )
    f.add_argument(
        "--loss",
        metavar="P",
        type=probability,
        default=0.0,
        help="drop this fraction of packets (default 0)",
    )
    f.add_argument(
        "--burst-loss",
        metavar="P:Q",
        type=_burst_loss,
        help="Gilbert-Elliott burst loss: enter a loss burst with probability P per packet, "
        "leave it with Q (mean burst 1/Q packets); P:Q:LOSS_GOOD:LOSS_BAD sets the loss "
        "probability of each state (default 0 and 1)",
    )
    f.add_argument(
        "--duplicate",
        metavar="P",
        type=probability,
        default=0.0,
        help="deliver this fraction of packets twice (default 0)",
    )
    f.add_argument(
        "--reorder",
        metavar="P",
        type=probability,
        default=0.0,
        help="hold this fraction of packets back by --reorder-delay, so later "
        "packets overtake them (default 0)",
    )
    f.add_argument(
        "--reorder-delay",
        metavar="SECONDS",
        type=seconds,
        default=NO_FAULTS.reorder_delay,
        help=f"extra hold of a reordered packet (default {NO_FAULTS.reorder_delay:g})",
    )
    f.add_argument(
        "--delay",
        metavar="SECONDS",
        type=seconds,
        default=0.0,
        help="delay every packet this long (default 0)",
    )
    f.add_argument(
        "--jitter",
        metavar="SECONDS",
        type=seconds,
        default=0.0,
        help="add a random delay up to this long; it never reorders (default 0)",
    )
    f.add_argument(
        "--corrupt",
        metavar="P",
        type=probability,
        default=0.0,
        help="flip a random bit in the TCP part of this fraction of packets, so their "
        "checksum fails (default 0; corrupt-bits=N in a SPEC flips 1 to N bits)",
    )
    f.add_argument(
        "--to-kernel",
        metavar="SPEC",
        type=_fault_spec,
        help="faults of the packets our stack sends, e.g. loss=0.05,reorder=0.02",
    )
    f.add_argument(
        "--from-kernel",
        metavar="SPEC",
        type=_fault_spec,
        help="faults of the packets the kernel sends, e.g. none,delay=0.02",
    )
    p.add_argument("--seed", type=int, help="seed of the fault injection and of ephemeral ports")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="at exit, print the fault counters and all the run's counters (JSON) on stderr",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress lines on stderr, the ready line included (see --ready-file)",
    )


def _add_commands(tun: argparse.ArgumentParser) -> None:
    sub = tun.add_subparsers(
        dest="tun_command", metavar="{serve,connect}", parser_class=_OneLineParser
    )
    sub.required = True
    serve = sub.add_parser(
        "serve",
        help="accept connections from the kernel and run an application",
        description="Listen on --port and run --app for every connection from the kernel.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(serve)
    serve.add_argument("--port", type=port, default=80, help="port to listen on (default 80)")
    serve.add_argument(
        "--app",
        choices=sorted(APPS),
        default="http",
        help="echo: send back what arrives; discard: drop it; http: a small web server "
        "(default http)",
    )
    serve.add_argument(
        "--root", type=Path, metavar="DIR", help="directory --app http serves files from"
    )
    serve.add_argument(
        "--count", type=positive_int, metavar="N", help="exit after N connections have ended"
    )
    connect = sub.add_parser(
        "connect",
        help="connect to a kernel server, send a file or stdin, print the reply",
        description="Connect to --to, send --file (or stdin), half-close, and write "
        "everything the server sends back to stdout (or --output).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(connect)
    connect.add_argument(
        "--to",
        required=True,
        type=_endpoint,
        metavar="ADDR:PORT",
        help="the kernel server, an address inside --peer's network, e.g. 192.0.2.1:9000",
    )
    connect.add_argument(
        "--file",
        type=Path,
        help="send this file (default: stdin, read to its end before connecting)",
    )
    connect.add_argument("--output", type=Path, help="write the reply here (default: stdout)")
    connect.add_argument("--local-port", type=port, help="our port (default: ephemeral)")
    for p in (serve, connect):
        p.set_defaults(func=run_tun)


def add_tun_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tun serve`` and ``tun connect`` to the ``tcpstack`` command line.

    The parsed namespace has ``func=run_tun``.
    """
    tun = subparsers.add_parser(
        "tun",
        help="run the stack on a Linux TUN device against the real kernel",
        description="Run tcpstack on a Linux TUN device: the kernel's own TCP "
        "(curl, sockets) talks to our stack.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_commands(tun)


class _Usage(UsageError):
    """Bad user input or environment: print one line and exit 2."""


def run_tun(args: argparse.Namespace) -> int:
    """Run ``tun serve`` or ``tun connect`` from parsed arguments.

    Returns:
        The exit status: 0 success, 1 connection failed, 2 bad input or
        environment, 130 interrupted.
    """
    cmd = getattr(args, "tun_command", None) or "serve"
    prog = f"tcpstack tun {cmd}"
    try:
        return _run(cmd, args)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except TcpStackError as exc:  # e.g. the local port is taken: still one line
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _run(cmd: str, args: argparse.Namespace) -> int:
    from ..drivers.tun import TunDriver, TunError, check_tun_available, parse_peer, validate_ifname

    try:
        validate_ifname(args.ifname)
        ours, peer = parse_peer(args.address, args.peer)
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    to_kernel, from_kernel = fault_configs(args)
    # Offload: the stack sends super-segments the device hands to the kernel whole.
    overrides: dict[str, object] = {"tso": not args.no_offload}
    if args.recv_buffer is not None:
        overrides["recv_buffer"] = args.recv_buffer
    if args.congestion_control is not None:
        overrides["congestion_control"] = args.congestion_control
    if args.ecn is not None:
        overrides["ecn"] = args.ecn
    try:
        config = TcpConfig.profile(args.profile, **overrides)
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    data = b""
    if cmd == "serve":
        if args.root is not None and not args.root.is_dir():
            raise _Usage(f"--root {args.root} is not a directory")
        if args.root is not None and args.app != "http":
            raise _Usage("--root only applies to --app http")
    else:
        to_addr = ipaddress.IPv4Address(args.to[0])
        if to_addr not in peer.network or to_addr == ours:
            raise _Usage(f"--to {args.to[0]} is not the kernel side (an address of {peer.network})")
    try:
        check_tun_available()
    except TunError as exc:
        raise _Usage(str(exc)) from None
    if cmd == "connect":
        try:
            data = args.file.read_bytes() if args.file is not None else sys.stdin.buffer.read()
        except OSError as exc:
            raise _Usage(f"cannot read {args.file}: {exc.strerror}") from None

    log: Callable[[str], None] = (lambda _m: None) if args.quiet else _stderr_logger(cmd)
    if _in_initial_netns():
        log(
            "warning: running in the machine's main network namespace; "
            "prefer a namespace of its own (ip netns exec NAME ...)"
        )
    with contextlib.ExitStack() as files:
        # Every output is opened now, before the device exists: a bad path is
        # one line and exit status 2, not a capture lost at exit.
        outputs = _Outputs.open(cmd, args, files, log)
        from ..stack import Stack

        # A real network: a secret ISN key (RFC 6528) whatever the seed; the seed
        # (when given) repeats the ephemeral ports and the fault injection.
        rng = random.Random(args.seed)
        stack = Stack(ours, config=config, name="tcpstack", trace=outputs.trace,
                      isn_key=os.urandom(16), rng=rng)
        driver = TunDriver(
            args.ifname,
            ours,
            args.peer,
            stack,
            record=outputs.pcap is not None,
            to_kernel=to_kernel,
            from_kernel=from_kernel,
            fault_seed=args.seed,
            read_rate=args.read_rate,
            log=log,
            offload=not args.no_offload,
        )
        try:
            with driver:
                if cmd == "serve":
                    status = _serve(driver, args, outputs, log)
                else:
                    status = _connect(driver, args, data, outputs, log)
                _report(driver, args, cmd)
                return status
        except TunError as exc:
            raise _Usage(str(exc)) from None
        finally:
            outputs.write_pcap(driver)
            outputs.write_stats(driver)


class _Outputs:
    """The files of one run, opened at start (see :mod:`tcpstack.cli.outputs`).

    Attributes:
        trace: the trace writing to ``--trace``, or None.
        pcap: ``--pcap`` open for writing (the capture is written at exit), or None.
        output: ``--output`` of ``connect`` open for writing, or None (stdout).
        ready_file: the ``--ready-file``, or None.
        stats_json: ``--stats-json`` open for writing, or None.
    """

    def __init__(self, args: argparse.Namespace, log: Callable[[str], None]) -> None:
        self.args = args
        self.log = log
        self.trace: Trace | None = None
        self.pcap: IO[bytes] | None = None
        self.output: IO[bytes] | None = None
        self.ready_file: ReadyFile | None = None
        self.stats_json: IO[str] | None = None

    @classmethod
    def open(
        cls,
        cmd: str,
        args: argparse.Namespace,
        files: contextlib.ExitStack,
        log: Callable[[str], None],
    ) -> _Outputs:
        """Open every output named by ``args``; ``files`` closes them (and removes the ready file).

        Raises:
            UsageError: a path cannot be written (one line).
        """
        out = cls(args, log)
        out.trace = _open_trace(args.trace, files)
        if args.pcap is not None:
            out.pcap = files.enter_context(open_output(args.pcap, "--pcap"))
        if cmd == "connect" and args.output is not None:
            out.output = files.enter_context(open_output(args.output, "--output"))
        if args.ready_file is not None:
            out.ready_file = ReadyFile(args.ready_file)
            files.callback(out.ready_file.remove)
        if args.stats_json is not None:
            out.stats_json = files.enter_context(open_output(args.stats_json, "--stats-json",
                                                             "w"))
        return out

    def ready(self, text: str, hint: str = "") -> None:
        """The device is up and the stack listens or is about to connect: say so.

        ``ready: TEXT`` goes to stderr (with ``; HINT``) and to the ready file.

        Raises:
            TcpStackError: the ready file could not be written (one line).
        """
        self.log(f"ready: {text}" + (f"; {hint}" if hint else ""))
        if self.ready_file is None:
            return
        try:
            self.ready_file.write(f"ready: {text}")
        except OSError as exc:
            raise TcpStackError(
                f"cannot write --ready-file {self.ready_file.path}: {exc.strerror or exc}"
            ) from None

    def write_pcap(self, driver: TunDriver) -> None:
        """Write the run's packets to ``--pcap`` (a valid capture even if empty)."""
        if self.pcap is None:
            return
        path = self.args.pcap
        try:
            n = driver.write_pcap(self.pcap)
        except (OSError, ImportError) as exc:
            print(f"tcpstack tun: cannot write pcap {path}: {exc}", file=sys.stderr)
            return
        self.log(f"wrote {n} packets to {path}")

    def write_stats(self, driver: TunDriver) -> None:
        """``--stats``: the stack's counters on stderr; ``--stats-json``: to its file."""
        from .stats import print_stats, write_stats_json

        hosts = {driver.stack.name: driver.stack.stats}
        if self.args.stats:
            from rich.console import Console

            print_stats(hosts, Console(stderr=True), per_connection=True)
        if self.stats_json is not None:
            write_stats_json(hosts, self.stats_json)


def fault_configs(args: argparse.Namespace) -> tuple[FaultConfig, FaultConfig]:
    """The (to-kernel, from-kernel) fault settings of parsed arguments.

    The both-directions options make a base; ``--to-kernel`` /
    ``--from-kernel`` SPECs change it for one direction.

    Raises:
        _Usage: an inconsistent value (one line).
    """
    try:
        base = FaultConfig(
            loss=args.loss,
            burst_loss=args.burst_loss,
            duplicate=args.duplicate,
            reorder=args.reorder,
            reorder_delay=args.reorder_delay,
            delay=args.delay,
            jitter=args.jitter,
            corrupt=args.corrupt,
        )
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    configs = []
    for option, spec in (("--to-kernel", args.to_kernel), ("--from-kernel", args.from_kernel)):
        try:
            configs.append(base.with_spec(spec) if spec is not None else base)
        except ValueError as exc:
            raise _Usage(f"{option}: {exc}") from None
    return configs[0], configs[1]


def _linger(driver: TunDriver, args: argparse.Namespace) -> float:
    if args.linger is not None:
        return float(args.linger)
    return 1.0 if driver.faults_active else 0.0


def _report(driver: TunDriver, args: argparse.Namespace, cmd: str) -> None:
    """The counters at exit: fault stats into the trace; everything on stderr with -v."""
    stats = driver.stats
    trace = driver.stack.trace
    if trace is not None and driver.faults_active:
        data: dict[str, object] = {"call": "fault-stats", "seed": driver.fault_seed}
        for direction, inj in driver.injectors.items():
            data[direction] = {"config": inj.config.describe(), **inj.stats.as_dict()}
        trace.emit(time.monotonic(), driver.stack.name, "", "app", data)
    if not args.verbose:
        return
    prefix = f"tcpstack tun {cmd}:"
    for direction, inj in driver.injectors.items():
        print(
            f"{prefix} faults {direction} ({inj.config.describe()}, seed {driver.fault_seed}): "
            f"{inj.stats.describe()}",
            file=sys.stderr,
        )
    print(
        f"{prefix} windows closed (below one MSS): kernel's {stats.windows_closed_in} times, "
        f"ours {stats.windows_closed_out} times; zero windows advertised: "
        f"{stats.zero_windows_in} by the kernel, {stats.zero_windows_out} by tcpstack; "
        f"{stats.throttled_reads} throttled reads",
        file=sys.stderr,
    )
    print(f"{prefix} stats {json.dumps(stats.as_dict(), sort_keys=True)}", file=sys.stderr)


def _in_initial_netns() -> bool:
    """True if this process shares PID 1's network namespace."""
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return False


def _stderr_logger(cmd: str) -> Callable[[str], None]:
    def log(msg: str) -> None:
        print(f"tcpstack tun {cmd}: {msg}", file=sys.stderr, flush=True)

    return log


def _open_trace(path: Path | None, files: contextlib.ExitStack) -> Trace | None:
    """A trace writing JSON Lines to ``path`` (opened now, closed by ``files``), or None."""
    if path is None:
        return None
    from ..trace import Trace, TraceRecord

    fp = files.enter_context(open_output(path, "--trace", "w"))
    trace = Trace(keep=False)

    def write(rec: TraceRecord) -> None:
        fp.write(rec.to_json() + "\n")

    trace.add_sink(write)
    return trace


def _deadline(args: argparse.Namespace) -> float | None:
    return time.monotonic() + args.timeout if args.timeout is not None else None


def _summary(stats: RunStats) -> str:
    return (
        f"stopped ({stats.reason}) after {stats.elapsed:.2f} s: {stats.accepted} accepted, "
        f"{stats.finished} ended, {stats.packets_in} packets in ({stats.bytes_in} bytes), "
        f"{stats.packets_out} out ({stats.bytes_out} bytes), {stats.ignored} ignored, "
        f"{stats.lost} lost on purpose"
    )


def _serve(
    driver: TunDriver, args: argparse.Namespace, outputs: _Outputs, log: Callable[[str], None]
) -> int:
    name: str = args.app
    factory: Callable[[], App]
    if name == "http":
        root: Path | None = args.root
        factory = lambda: HttpApp(root)  # noqa: E731
    else:
        factory = APPS[name]
    driver.listen(args.port)
    count: int | None = args.count
    outputs.ready(
        f"{driver.ifname} {driver.address}:{args.port} (kernel side {driver.peer}), "
        f"serving {name}",
        "Ctrl-C to stop",
    )

    def until() -> bool:
        return count is not None and driver.stats.finished >= count

    stats = driver.run(factory, until=until, deadline=_deadline(args), linger=_linger(driver, args))
    log(_summary(stats))
    if _device_removed(driver, stats, "serve"):
        return EXIT_FAILED
    if count is not None and stats.finished < count:
        return EXIT_FAILED if stats.reason == "deadline" else EXIT_OK
    return EXIT_OK


def _connect(
    driver: TunDriver,
    args: argparse.Namespace,
    data: bytes,
    outputs: _Outputs,
    log: Callable[[str], None],
) -> int:
    out: IO[bytes] = outputs.output if outputs.output is not None else sys.stdout.buffer
    broken = False

    def sink(chunk: bytes) -> None:
        nonlocal broken
        if broken:
            return
        try:
            out.write(chunk)
            out.flush()
        except BrokenPipeError:
            broken = True

    app = SendClient(data, sink=sink)
    host, port = args.to
    outputs.ready(
        f"{driver.ifname} {driver.address} (kernel side {driver.peer}), "
        f"connecting to {host}:{port}"
    )
    conn = driver.connect(host, port, app, local_port=args.local_port)
    log(f"connecting {conn.local} -> {conn.remote} via {driver.ifname}, {len(data)} bytes")

    def until() -> bool:
        return app.finished and conn.state in (State.TIME_WAIT, State.CLOSED)

    stats = driver.run(None, until=until, deadline=_deadline(args), linger=_linger(driver, args))
    log(f"sent {app.sent} bytes, received {app.received_bytes} bytes; " + _summary(stats))
    if _device_removed(driver, stats, "connect"):
        return EXIT_FAILED
    if app.error is not None:
        print(f"tcpstack tun connect: {_describe(app.error, host, port)}", file=sys.stderr)
        return EXIT_FAILED
    if not app.finished:
        print(
            f"tcpstack tun connect: gave up ({stats.reason}) in state {conn.state}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _device_removed(driver: TunDriver, stats: RunStats, cmd: str) -> bool:
    """If the run ended because the device was removed, say so (one line, even with -q)."""
    if stats.reason != "device-removed":
        return False
    print(
        f"tcpstack tun {cmd}: error: {driver.ifname} was removed from under us "
        "(ip link del?); stopped",
        file=sys.stderr,
    )
    return True


def _describe(event: events.Event, host: str, port: int) -> str:
    if isinstance(event, events.ConnectionReset):
        what = "connection refused" if event.refused else "connection reset"
        return f"{what} by {host}:{port}"
    if isinstance(event, events.ConnectionTimedOut):
        return f"connection to {host}:{port} timed out ({event.reason})"
    if isinstance(event, events.ConnectionAborted):
        return f"connection to {host}:{port} aborted"
    return f"connection to {host}:{port} failed: {event}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tcpstack.cli.tun {serve,connect} ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m tcpstack.cli.tun",
        description="Run tcpstack on a Linux TUN device against the real kernel.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_commands(parser)
    return run_tun(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
