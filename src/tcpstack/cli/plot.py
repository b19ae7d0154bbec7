"""``tcpstack plot``: the time-sequence graph, cwnd, RTT or goodput per flow of a
trace, as PNG, SVG or PDF.

Reads a JSON Lines trace (``tcpstack demo --trace FILE`` writes one, so do
``tcpstack tun ... --trace FILE`` and ``Trace.write_jsonl``) and draws it
with matplotlib (:mod:`tcpstack.tools.plot`, :mod:`tcpstack.tools.plot_rtt`,
:mod:`tcpstack.tools.plot_throughput`). Bad input (a missing file, not a
trace, a trace without data for that kind, a connection or host it does not
have, an output that is not ``.png``, ``.svg`` or ``.pdf``, a flag another
kind does not use) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ..trace import TraceRecord, read_jsonl
from .argtypes import UsageError, positive_seconds

__all__ = ["PLOT_EPILOG", "add_plot_parser", "check_plot_outputs", "plot_records", "run_plot"]

KINDS = ("tsg", "cwnd", "rtt", "throughput")
#: Figure sizes accepted by ``--width``/``--height``, inches (100 pixels each in a PNG).
INCHES = (1.0, 50.0)

PLOT_EPILOG = """\
kinds:
  tsg         time-sequence graph: data segments (sequence number relative to the
              ISN against time), the ACK line, the window line (ACK + advertised
              window), retransmissions and losses marked
  cwnd        the sender's congestion window and slow-start threshold over time;
              bytes in flight, pacing rate and phases (slow start, avoidance,
              recovery, BBR states) when the trace has them
  rtt         RTT samples measured from the trace (send to first covering ACK,
              Karn's rule: none from retransmitted ranges), with srtt and rto;
              without the sender, from the receiver's timestamps (RFC 7323)
  throughput  goodput of every flow (each direction that carried data, or those
              of --conn/--host) in windows of --interval seconds, from in-order
              delivery at the receiver, else from the cumulative ACK

examples:
  tcpstack demo fast-retransmit --trace fr.jsonl --quiet
  tcpstack plot fr.jsonl --kind tsg -o fr-tsg.png
  tcpstack plot fr.jsonl --kind cwnd -o fr-cwnd.svg
  tcpstack plot fr.jsonl --kind rtt -o fr-rtt.pdf --title "RTT, one loss"
  tcpstack plot fr.jsonl --kind throughput --interval 0.05 -o fr-goodput.png
  tcpstack plot fr.jsonl --kind tsg --width 16 --height 9 -o wide.png
  tcpstack demo half-close --trace hc.jsonl --quiet
  tcpstack plot hc.jsonl --kind tsg --host client -o request.png   the other direction
  tcpstack demo retransmission --json | tcpstack plot - --kind tsg -o rto.png
"""


def _inches(text: str) -> float:
    """A figure dimension in inches, within :data:`INCHES`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of inches: {text!r}") from None
    if not (math.isfinite(value) and INCHES[0] <= value <= INCHES[1]):
        raise argparse.ArgumentTypeError(
            f"must be between {INCHES[0]:g} and {INCHES[1]:g} inches, got {text}")
    return value


def add_plot_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``plot`` to the ``tcpstack`` subcommands (``sub`` from ``add_subparsers``)."""
    plot: argparse.ArgumentParser = sub.add_parser(
        "plot",
        help="draw a trace's time-sequence graph, cwnd, RTT or goodput as PNG, SVG or PDF",
        description="Draw a JSON Lines trace with matplotlib: the time-sequence graph, "
        "cwnd and ssthresh, or the RTT samples of one direction of one connection, or "
        "the goodput of every flow over time.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=PLOT_EPILOG,
    )
    plot.add_argument("trace", metavar="TRACE", help="a JSON Lines trace file, or - for stdin")
    plot.add_argument("--kind", choices=KINDS, default="tsg", help="what to draw (default tsg)")
    plot.add_argument("-o", "--output", metavar="FILE", type=Path, required=True,
                      help="the file to write: FILE.png, FILE.svg or FILE.pdf")
    plot.add_argument("--conn", metavar="ADDR:PORT-ADDR:PORT",
                      help="the connection (either direction; default: the one whose "
                           "direction carried the most data; for throughput: every flow)")
    plot.add_argument("--host", metavar="HOST",
                      help="the data sender: a host name of the trace or ADDR:PORT "
                           "(default: the direction that sent the most data; for "
                           "throughput: every sender)")
    plot.add_argument("--interval", metavar="SECONDS", type=positive_seconds,
                      help="throughput only: window length (default: the flows' active "
                           "time / 50, at least their smallest srtt, rounded up to "
                           "1, 2 or 5 x 10^k s)")
    plot.add_argument("--title", help="the figure's title (default: says what is drawn)")
    plot.add_argument("--width", metavar="INCHES", type=_inches,
                      help="figure width in inches (default 10; 100 pixels each in a PNG)")
    plot.add_argument("--height", metavar="INCHES", type=_inches,
                      help="figure height in inches (default 6)")
    return plot


def _read(source: str) -> list[TraceRecord]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read trace {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not a trace: not UTF-8 text") from None
    try:
        records = read_jsonl(text.splitlines())
    except ValueError as exc:
        raise UsageError(f"{source} is not a JSON Lines trace: {exc}") from None
    if not records:
        raise UsageError(f"{source} is an empty trace")
    return records


def check_plot_outputs(*paths: Path | None) -> None:
    """Check pictures to be written after a run: ``.png``, ``.svg`` or ``.pdf``, in a
    directory that exists (nothing is created yet).

    Raises:
        UsageError: one line naming the bad path.
    """
    from ..tools.plot_draw import FORMATS, FORMATS_HINT

    for path in paths:
        if path is None:
            continue
        if path.suffix.lower() not in FORMATS:
            raise UsageError(f"cannot write {path}: {FORMATS_HINT}")
        if path.is_dir() or not path.resolve().parent.is_dir():
            what = "Is a directory" if path.is_dir() else "No such file or directory"
            raise UsageError(f"cannot write {path}: {what}")


def plot_records(records: list[TraceRecord], kind: str, output: Path, *,
                 conn: str | None = None, host: str | None = None,
                 interval: float | None = None, title: str | None = None,
                 size: tuple[float, float] | None = None) -> None:
    """Draw ``kind`` (:data:`KINDS`) of ``records`` into ``output`` (``.png``, ``.svg``
    or ``.pdf``).

    Args:
        interval: window length in seconds, ``throughput`` only (None: automatic).
        title: the figure's title (None: the default of the kind).
        size: (width, height) in inches (None: 10 x 6).

    The series are extracted first, so nothing is written when the trace
    has nothing to draw.

    Raises:
        UsageError: the kind is unknown, the output is not ``.png``/``.svg``/``.pdf``,
            an interval for another kind, the trace has no such connection, host
            or data for the kind, or the output cannot be written.
    """
    from ..tools import plot, plot_rtt, plot_throughput

    check_plot_outputs(output)
    if kind not in KINDS:
        raise UsageError(f"unknown plot kind {kind!r} (choose {', '.join(KINDS)})")
    if interval is not None and kind != "throughput":
        raise UsageError(f"--interval is for --kind throughput, not {kind}")
    draw: Any
    try:
        if kind == "tsg":
            series: Any = plot.tsg_series(records, conn=conn, host=host)
            draw = plot.plot_tsg
        elif kind == "cwnd":
            series = plot.cwnd_series(records, conn=conn, host=host)
            draw = plot.plot_cwnd
        elif kind == "rtt":
            series = plot_rtt.rtt_series(records, conn=conn, host=host)
            draw = plot_rtt.plot_rtt
        else:
            series = plot_throughput.throughput_series(records, conn=conn, host=host,
                                                       interval=interval)
            draw = plot_throughput.plot_throughput
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        draw(series, output, title=title, size=size)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def run_plot(args: argparse.Namespace) -> int:
    """``tcpstack plot``: read the trace, draw it."""
    from ..tools.plot_draw import DEFAULT_SIZE

    size = None
    if args.width is not None or args.height is not None:
        size = (args.width or DEFAULT_SIZE[0], args.height or DEFAULT_SIZE[1])
    plot_records(_read(args.trace), args.kind, args.output, conn=args.conn, host=args.host,
                 interval=args.interval, title=args.title, size=size)
    return 0
