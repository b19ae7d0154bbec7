"""The core alone: CPU microseconds per packet of one bulk transfer between two stacks.

No simulator, no trace: two :class:`~tcpstack.stack.Stack` objects joined by
:class:`~tcpstack.harness.population.Wire` (virtual time, nothing lost), so
the figure is the cost of the TCP code itself, both directions' packets
counted.

Usage (from the checkout's root)::

    PYTHONPATH=src python benchmarks/core.py [SIZE] [--runs N] [--profile]

SIZE is the bytes sent per run (default 8,000,000); the transfer is timed
``--runs`` times (default 3) on the same two stacks and the median, min and
max of the CPU microseconds per packet are printed, with which modules of
the package are compiled (mypyc, see ``benchmarks/mypyc_build.py``).
``--profile`` runs once under cProfile instead and prints the top 50
functions by self time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
from pathlib import Path

from tcpstack.config import TcpConfig
from tcpstack.harness.bench import compiled_modules
from tcpstack.harness.population import Wire, wired_bulk
from tcpstack.stack import Stack


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", type=int, default=8_000_000, help="bytes per run")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--profile", action="store_true", help="one run under cProfile")
    args = parser.parse_args(argv)
    wire = Wire(
        Stack("192.0.2.1", config=TcpConfig(), isn_key=b"k" * 16),
        Stack("192.0.2.2", config=TcpConfig(), isn_key=b"j" * 16),
    )
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "core.prof")
            profiler = cProfile.Profile()
            profiler.runcall(wired_bulk, wire, args.size)
            profiler.dump_stats(out)
            pstats.Stats(out).sort_stats("tottime").print_stats(50)
        return 0
    costs = []
    packets = 0
    for _ in range(args.runs):
        sample = wired_bulk(wire, args.size)
        costs.append(sample.cpu_us)
        packets = sample.count
    median = statistics.median(costs)
    compiled = ",".join(compiled_modules()) or "none"
    print(
        f"packets {packets} us/packet median {median:.2f} min {min(costs):.2f} "
        f"max {max(costs):.2f} MB/s {args.size / (median * packets / 1e6) / 1e6:.2f} "
        f"runs {args.runs} compiled {compiled}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
