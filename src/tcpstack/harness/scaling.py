"""Figures of connection scaling: what idle connections cost (``tcpstack bench``).

Each runs on two stacks wired back to back (:mod:`~tcpstack.harness.population`),
with no trace, and returns a figure of :func:`~tcpstack.harness.figures.figure`:

* :func:`conn_memory_bytes`: bytes per idle ESTABLISHED connection end (tracemalloc);
* :func:`scaling_ratio`: cost per packet of a bulk transfer with N idle
  connections open, over the same with none;
* :func:`accept_scaling`: cost per connection of opening and accepting N
  connections, over the same for N / 10;
* :func:`idle_connection_ends`: N connections (2N ends) open in one process.

Building a population is never inside a timed stretch, except in
:func:`accept_scaling`, where it is the thing measured.
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
from typing import Any

from .figures import Ratios, Sample, Stopwatch, Target, figure, require_positive, spread
from .population import Population, new_wire, wired_bulk

CONN_MEMORY_TARGET = Target("<=", 2048)
"""Bytes per idle ESTABLISHED connection end."""
SCALING_TARGET = Target("<=", 1.10)
"""Cost per packet with N idle connections over the cost with none."""
ACCEPT_TARGET = Target("<=", 1.20)
"""Cost per accepted connection at N over the cost at N / 10."""
IDLE_ENDS_TARGET = Target(">=", 1_000_000)
"""Idle connection ends open at once in one process."""


def conn_memory_bytes(*, connections: int = 2000, runs: int = 5, seed: int = 1
                      ) -> dict[str, Any]:
    """Bytes of memory per idle ESTABLISHED connection end, by tracemalloc.

    Each run wires two fresh stacks, creates the listeners and the lists that
    will reference the connections, takes a snapshot (``gc.collect()`` then
    the traced bytes), opens ``connections`` connections and accepts them
    (:class:`~tcpstack.harness.population.Population`), drains every event,
    collects garbage again and divides the growth by ``2 * connections`` ends.

    Counted: everything the connections make the process allocate and keep,
    on both stacks: the TCBs and every object they own (buffers, RTT and
    congestion state, negotiated options, timers), the demultiplexing
    entries, and whatever else the stacks keep per connection. Not counted:
    the interpreter's allocator overhead (arenas, free lists), which the
    resident-set figure of :func:`idle_connection_ends` includes.

    Returns:
        The figure (unit: bytes per connection end, target <= 2048), with
        ``connections``, ``ends`` and ``peak_bytes_per_end`` (tracemalloc's
        peak during the opening, per end: transient packets included).
    """
    require_positive(connections=connections, runs=runs)
    values: list[float] = []
    peaks: list[float] = []
    ends = 2 * connections
    tracing = tracemalloc.is_tracing()
    with Stopwatch() as cost:
        for _ in range(runs):
            if not tracing:
                tracemalloc.start()
            wire = new_wire(seed)
            population = Population(wire, connections)
            gc.collect()
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            population.open()
            gc.collect()
            after, peak = tracemalloc.get_traced_memory()
            if not tracing:
                tracemalloc.stop()
            values.append((after - before) / ends)
            peaks.append((peak - before) / ends)
            del wire, population
    return figure(values, unit="bytes per idle ESTABLISHED connection end (tracemalloc)",
                  target=CONN_MEMORY_TARGET, cost=cost, digits=1, connections=connections,
                  ends=ends, peak_bytes_per_end=spread(peaks, 1))


def scaling_ratio(*, connections: int = 100_000, size: int = 2_000_000, runs: int = 3,
                  seed: int = 1) -> dict[str, Any]:
    """Cost per packet of a bulk transfer with ``connections`` idle connections
    open on the same two stacks, divided by the cost with none.

    Two wired pairs of stacks: one empty, one with the idle population
    (built once, before any timing, and kept referenced). Each run sends
    ``size`` bytes over each pair (:func:`~tcpstack.harness.population.wired_bulk`),
    the empty pair first, and divides the wall seconds per packet delivered
    (both directions) on the crowded pair by those on the empty one.

    Returns:
        The figure (unit: ratio of wall time per packet, target <= 1.10)
        with ``cpu`` (the same ratio of CPU time), ``per_packet_us`` (wall
        microseconds per packet, ``none`` and ``idle``), ``connections``,
        ``bytes`` and ``packets`` (per transfer).
    """
    require_positive(connections=connections, size=size, runs=runs)
    ratios = Ratios("none", "idle")
    with Stopwatch() as cost:
        empty = new_wire(seed)
        crowded = new_wire(seed)
        population = Population(crowded, connections)
        population.open()
        for _ in range(runs):
            ratios.add(wired_bulk(empty, size), wired_bulk(crowded, size))
        population.check()
    return ratios.figure(per="packet", unit="wall time per packet, with idle connections / "
                         "with none", target=SCALING_TARGET, cost=cost,
                         connections=connections, bytes=size, packets=ratios.runs[-1][1].count)


def _open_cost(connections: int, seed: int) -> Sample:
    """The cost of opening and accepting ``connections`` on a fresh pair."""
    population = Population(new_wire(seed), connections)
    gc.collect()
    with Stopwatch() as stopwatch:
        population.open()
    return Sample(stopwatch, connections)


def accept_scaling(*, connections: int = 100_000, runs: int = 3, seed: int = 1
                   ) -> dict[str, Any]:
    """Cost per connection of opening and accepting ``connections`` connections,
    divided by the cost per connection for ``connections // 10``.

    Timed, on a fresh wired pair each time: the whole of
    :meth:`~tcpstack.harness.population.Population.open`, batches of
    :data:`~tcpstack.harness.population.BATCH`: ``connect`` with chosen
    ports, the handshake exchange, ``accept`` and draining the events, on
    both stacks. Each run measures the small size, then the large one.

    Returns:
        The figure (unit: ratio of wall time per connection, target <= 1.20)
        with ``cpu`` (the same ratio of CPU time), ``per_connection_us``
        (wall microseconds, ``small`` and ``large``) and ``connections``
        (``{"small": N // 10, "large": N}``).
    """
    require_positive(runs=runs)
    if connections < 10:
        raise ValueError(f"connections must be >= 10 (a tenth is measured too), "
                         f"got {connections}")
    small = connections // 10
    ratios = Ratios("small", "large")
    with Stopwatch() as cost:
        for _ in range(runs):
            ratios.add(_open_cost(small, seed), _open_cost(connections, seed))
    return ratios.figure(per="connection", unit="wall time per accepted connection, "
                         "at N / at N/10", target=ACCEPT_TARGET, cost=cost,
                         connections={"small": small, "large": connections})


def idle_connection_ends(*, connections: int = 500_000, seed: int = 1) -> dict[str, Any]:
    """Open ``connections`` idle connections (twice as many ends) in this process, once.

    Returns:
        The figure of the ends open at the end (one run; target >= 1,000,000;
        its ``wall_seconds`` and ``cpu_seconds`` are the opening's), with ``rss_bytes_per_end``
        (growth of the resident set, allocator overhead included, per end)
        and ``peak_rss_bytes`` (the process's high-water mark, everything it
        did before included). Memory figures are None where the platform
        does not tell them.
    """
    require_positive(connections=connections)
    gc.collect()
    rss_before = _rss_bytes()
    with Stopwatch() as cost:
        population = Population(new_wire(seed), connections)
        population.open()
    gc.collect()
    rss_after = _rss_bytes()
    ends = 2 * population.count  # open() raised if any was not ESTABLISHED
    per_end = None
    if rss_before is not None and rss_after is not None:
        per_end = round((rss_after - rss_before) / ends, 1)
    return figure([ends], unit="idle connection ends open in one process",
                  target=IDLE_ENDS_TARGET, cost=cost, digits=0, connections=connections,
                  rss_bytes_per_end=per_end,
                  peak_rss_bytes=_peak_rss_bytes())


def _rss_bytes() -> int | None:
    """The process's resident set now, bytes (Linux ``/proc``), or None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fp:
            return int(fp.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_bytes() -> int | None:
    """The process's largest resident set so far, bytes, or None."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS bytes, Linux KiB
