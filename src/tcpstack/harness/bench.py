"""Benchmarks (``tcpstack bench``): numbers measured in the simulator, on
wired stacks, over the kernel's TCP and over TUN, printed as one JSON object.

Speed is measured here, never asserted in tests. Wall-clock figures depend on
the machine; virtual-time figures depend only on the stack and the seed.
The figures of speed live in :mod:`~tcpstack.harness.speed`, the references
(kernel, TUN) in :mod:`~tcpstack.harness.references`, those of connection
scaling in :mod:`~tcpstack.harness.scaling`; :func:`run_bench` gathers them
with the machine they ran on. ``docs/performance.md`` says how each is measured.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..connection import Connection
from ..drivers.sim import Network
from ..events import Connected, Event, PeerClosed
from .aio_time import aio_virtual_time
from .figures import Ratios, Stopwatch, Target, require_positive, skipped
from .references import kernel_loopback, kernel_veth, tun_bulk, tun_vs_veth
from .scaling import accept_scaling, conn_memory_bytes, idle_connection_ends, scaling_ratio
from .speed import (
    BULK_DELAY,
    MAX_IDLE_HOSTS,
    MIB,
    calls_per_packet,
    sim_bulk,
    sim_bulk_figures,
    sim_bulk_lossy,
    sim_churn,
    untraced,
)

__all__ = [
    "ALL_FIGURES",
    "DEFAULT_FIGURES",
    "FIGURES",
    "MAX_IDLE_HOSTS",
    "OPT_IN",
    "SIM_STEP_TARGET",
    "bulk_transfer",
    "handshakes",
    "run_bench",
    "sim_step_ratio",
    "system_info",
]

SIM_STEP_TARGET = Target("<=", 1.10)
"""Cost per simulator step with idle hosts and connections over the cost alone."""


def bulk_transfer(size: int, *, loss: float = 0.0, seed: int = 1,
                  delay: float = BULK_DELAY) -> dict[str, Any]:
    """Send ``size`` bytes client -> server over a simulated link, once (:func:`sim_bulk`).

    The figure of the older ``bulk`` benchmark, kept for comparison: one
    run, so it swings with the machine; ``sim_bulk_mbps`` is the figure to quote.

    Returns a dict: bytes sent and delivered, SHA-256 match, loss rate,
    virtual seconds until the server saw the FIN, wall and CPU seconds of the
    run, packets put on the link, goodput in Mbit/s of virtual time, bytes
    and packets processed per wall-clock second.
    """
    run = sim_bulk(size, loss=loss, seed=seed, delay=delay)
    wall, done_at, packets = run.sample.cost.wall, run.virtual_seconds, run.sample.count
    return {
        "bytes": size,
        "delivered": run.delivered,
        "sha256_ok": run.exact,
        "loss": loss,
        "virtual_seconds": round(done_at, 6),
        "wall_seconds": round(wall, 4),
        "cpu_seconds": round(run.sample.cost.cpu, 4),
        "packets": packets,
        "goodput_mbit_per_virtual_s": round(size * 8 / done_at / 1e6, 3) if done_at else None,
        "bytes_per_wall_s": round(size / wall) if wall else None,
        "packets_per_wall_s": round(packets / wall) if wall else None,
    }


def sim_step_ratio(*, idle_hosts: int = 1000, idle_connections: int = 10_000,
                   size: int = 2_000_000, runs: int = 5, seed: int = 1) -> dict[str, Any]:
    """The simulator's cost per step of a bulk transfer among ``idle_hosts`` idle
    hosts with ``idle_connections`` idle connections, over the cost alone.

    Each run makes two networks with the same seed: the client and server
    alone, and the same plus the idle crowd (hosts each linked to the
    server, connections from them to the server, spread round robin; built
    before the timing). The same ``size``-byte transfer then runs in each
    (:func:`~tcpstack.harness.speed.sim_bulk`, no loss, untraced). A step is one event of
    :meth:`~tcpstack.drivers.sim.Network.run`; with no loss each packet is
    one delivery step, and the few timer steps are the same in both, so the
    cost per step is taken as wall seconds per packet.

    Returns:
        The figure (unit: ratio of wall time per step, target <= 1.10) with
        ``cpu`` (the same ratio of CPU time), ``per_packet_us`` (``alone`` and
        ``crowd``), ``idle_hosts``, ``idle_connections``, ``bytes`` and
        ``packets`` (per transfer).
    """
    require_positive(idle_hosts=idle_hosts, size=size, runs=runs)
    if idle_connections < 0:
        raise ValueError(f"idle_connections must be >= 0, got {idle_connections}")
    ratios = Ratios("alone", "crowd")
    with Stopwatch() as cost:
        for _ in range(runs):
            alone = sim_bulk(size, seed=seed).check()
            crowd = sim_bulk(size, seed=seed, idle_hosts=idle_hosts,
                             idle_connections=idle_connections).check()
            ratios.add(alone.sample, crowd.sample)
    return ratios.figure(per="packet", unit="simulator wall time per step, with idle hosts / "
                         "alone", target=SIM_STEP_TARGET, cost=cost, idle_hosts=idle_hosts,
                         idle_connections=idle_connections, bytes=size,
                         packets=crowd.sample.count)


def handshakes(count: int, *, seed: int = 1) -> dict[str, Any]:
    """Open and close ``count`` connections one after another; measure wall time."""
    net = Network(seed=seed, trace=untraced())
    done = 0

    def server_app(conn: Connection, event: Event) -> None:
        if isinstance(event, PeerClosed):
            conn.close()

    def client_app(conn: Connection, event: Event) -> None:
        nonlocal done
        if isinstance(event, Connected):
            conn.close()
            done += 1

    client = net.add_host("client", "192.0.2.1", app=client_app,
                          config=None)
    server = net.add_host("server", "192.0.2.2", app=server_app)
    net.link(client, server, delay=0.001)
    server.stack.listen(80)
    for i in range(count):
        net.at(i * 0.01, lambda: client.stack.connect("192.0.2.2", 80, now=net.now))
    start = time.perf_counter()
    net.run()
    wall = time.perf_counter() - start
    return {
        "connections": count,
        "completed": done,
        "wall_seconds": round(wall, 4),
        "connections_per_wall_s": round(count / wall) if wall else None,
    }


FIGURES: dict[str, tuple[str, ...]] = {
    "sim_bulk": ("sim_bulk_mbps", "per_packet_us"),
    "trace_cost": ("trace_cost",),
    "sim_bulk_lossy": ("sim_bulk_lossy_mbps",),
    "sim_churn": ("sim_churn_cps",),
    "calls_per_packet": ("calls_per_packet",),
    "kernel_loopback": ("kernel_loopback_mbps",),
    "kernel_veth": ("kernel_veth_mbps",),
    "tun_bulk": ("tun_bulk_mbps_send", "tun_bulk_mbps_recv", "tun_vs_veth"),
    "conn_memory": ("conn_memory_bytes",),
    "scaling": ("scaling_ratio",),
    "accept": ("accept_scaling",),
    "sim_step": ("sim_step_ratio",),
    "idle_million": ("idle_connection_ends",),
    "aio_time": ("aio_virtual_time",),
    "bulk": ("bulk_clean", "bulk_lossy"),
    "handshakes": ("handshakes",),
}
"""The figures by the name ``tcpstack bench --only`` takes -> the keys they print,
in the order they are measured and printed (kernel_veth before tun_bulk, whose
``tun_vs_veth`` relates the two)."""
OPT_IN = ("scaling", "accept", "idle_million", "bulk", "handshakes")
"""Figures measured only when named: the two heavy scale figures (minutes at their
100,000 connections), the million idle ends (GBs), and the older single-run figures."""
DEFAULT_FIGURES = tuple(name for name in FIGURES if name not in OPT_IN)
"""What ``tcpstack bench`` measures unless told otherwise (a couple of minutes)."""
ALL_FIGURES = tuple(name for name in FIGURES if name != "idle_million")
"""What ``tcpstack bench --all`` measures."""


def run_bench(*, size: int = 16 * MIB, loss: float = 0.01, seed: int = 1,
              connections: int = 200, figures: Iterable[str] = DEFAULT_FIGURES,
              runs: int = 5, heavy_runs: int = 3, scale: int = 100_000,
              scale_size: int = 2_000_000, churn: int = 2000, profile_size: int = 2 * MIB,
              memory_connections: int = 2000, idle_hosts: int = 1000,
              sim_connections: int = 10_000, million_connections: int = 500_000,
              tun_options: dict[str, Any] | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The chosen benchmarks, as one JSON-serialisable dict.

    Args:
        size: bytes of each transfer of sim_bulk, trace_cost, sim_bulk_lossy,
            the references (kernel_loopback, kernel_veth, tun_bulk) and the
            older bulk figures.
        loss: loss probability of sim_bulk_lossy (and of the older bulk_lossy).
        seed: seed of every network, stack and payload.
        connections: open+close cycles of the older handshakes figure.
        figures: names of :data:`FIGURES` to measure.
        runs: runs of every figure but scaling, accept and calls_per_packet.
        heavy_runs: runs of scaling and accept (their populations are large).
        scale: idle connections of scaling; the larger size of accept (the
            smaller is ``scale // 10``).
        scale_size: bytes of the transfers of scaling and sim_step.
        churn: connections per run of sim_churn.
        profile_size: bytes of the profiled transfer of calls_per_packet.
        memory_connections: connections opened by conn_memory.
        idle_hosts, sim_connections: the idle crowd of sim_step.
        million_connections: connections of idle_million (two ends each).
        tun_options: keyword arguments of the TunDriver of tun_bulk (default
            :data:`~tcpstack.harness.references.TUN_DRIVER_OPTIONS`).
        progress: told the name of each figure as it starts.

    Returns:
        ``{"tcpstack", "python", "machine", "system", "options", <figures>...,
        "total_wall_seconds", "total_cpu_seconds"}``: ``system`` is
        :func:`system_info`, ``options`` the sizes used.

    Raises:
        ValueError: an unknown figure name or a size out of range.
        RuntimeError: a transfer was not exact or a program of the references failed.
    """
    chosen = set(figures)
    if unknown := chosen - set(FIGURES):
        raise ValueError(f"unknown figure {sorted(unknown)[0]!r}")
    measured: dict[str, dict[str, Any]] = {}

    def tun() -> dict[str, dict[str, Any]]:
        figs: dict[str, dict[str, Any]] = tun_bulk(size, runs=runs, seed=seed,
                                                   options=tun_options)
        veth = measured.get("kernel_veth_mbps",
                            skipped("needs kernel_veth measured in the same run",
                                    unit="", target=None))
        figs["tun_vs_veth"] = tun_vs_veth(figs, veth)
        return figs

    measure: dict[str, Callable[[], dict[str, dict[str, Any]]]] = {
        "sim_bulk": lambda: sim_bulk_figures(size, runs=runs, seed=seed,
                                             trace_cost="trace_cost" in chosen),
        "trace_cost": lambda: ({} if "sim_bulk" in chosen else
                               {"trace_cost": sim_bulk_figures(size, runs=runs, seed=seed)[
                                   "trace_cost"]}),
        "sim_bulk_lossy": lambda: {"sim_bulk_lossy_mbps": sim_bulk_lossy(
            size, loss=loss, runs=runs, seed=seed)},
        "sim_churn": lambda: {"sim_churn_cps": sim_churn(churn, runs=runs, seed=seed)},
        "calls_per_packet": lambda: {"calls_per_packet": calls_per_packet(profile_size,
                                                                          seed=seed)},
        "kernel_loopback": lambda: {"kernel_loopback_mbps": kernel_loopback(
            size, runs=runs, seed=seed)},
        "kernel_veth": lambda: {"kernel_veth_mbps": kernel_veth(size, runs=runs, seed=seed)},
        "tun_bulk": tun,
        "conn_memory": lambda: {"conn_memory_bytes": conn_memory_bytes(
            connections=memory_connections, runs=runs, seed=seed)},
        "scaling": lambda: {"scaling_ratio": scaling_ratio(
            connections=scale, size=scale_size, runs=heavy_runs, seed=seed)},
        "accept": lambda: {"accept_scaling": accept_scaling(connections=scale, runs=heavy_runs,
                                                            seed=seed)},
        "sim_step": lambda: {"sim_step_ratio": sim_step_ratio(
            idle_hosts=idle_hosts, idle_connections=sim_connections, size=scale_size,
            runs=runs, seed=seed)},
        "idle_million": lambda: {"idle_connection_ends": idle_connection_ends(
            connections=million_connections, seed=seed)},
        "aio_time": lambda: {"aio_virtual_time": aio_virtual_time(runs=runs)},
        "bulk": lambda: {"bulk_clean": bulk_transfer(size, loss=0.0, seed=seed),
                         "bulk_lossy": bulk_transfer(size, loss=loss, seed=seed)},
        "handshakes": lambda: {"handshakes": handshakes(connections, seed=seed)},
    }
    # idle_million first, so that the peak resident set it reports is its own.
    order = sorted(chosen, key=lambda name: (name != "idle_million", list(FIGURES).index(name)))
    system = system_info()  # its date is the start of the run
    with Stopwatch() as total:
        for name in order:
            if progress is not None:
                progress(name)
            measured.update(measure[name]())
    out: dict[str, Any] = {
        "tcpstack": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": system,
        "options": {"size": size, "loss": loss, "seed": seed, "runs": runs,
                    "heavy_runs": heavy_runs, "churn": churn, "profile_size": profile_size,
                    "scale": scale, "scale_size": scale_size, "figures": sorted(chosen)},
    }
    out.update((key, measured[key]) for name in FIGURES for key in FIGURES[name]
               if key in measured)
    system["load_average_end"] = _load_average()
    out["total_wall_seconds"] = round(total.wall, 3)
    out["total_cpu_seconds"] = round(total.cpu, 3)
    return out


def system_info() -> dict[str, Any]:
    """Where and when the figures were measured: platform, architecture, Python
    version and implementation, CPU model and count, memory in bytes, the date
    and time (now, UTC, ISO 8601), tcpstack's version, and the git commit of its source
    (``commit``, and ``dirty``: uncommitted changes to tracked files) when it
    runs from a git checkout, and ``load_average`` (1, 5 and 15 minutes: other
    work on the machine). None where the platform does not tell.
    :func:`run_bench` adds ``load_average_end``, the same at the end of the run."""
    memory: int | None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    commit, dirty = _git_commit()
    return {
        "platform": platform.platform(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tcpstack": __version__,
        "commit": commit,
        "dirty": dirty,
        "load_average": _load_average(),
        "compiled_modules": compiled_modules(),
    }


def compiled_modules() -> list[str]:
    """Names (under ``tcpstack.``) of the loaded modules that run compiled (an
    extension, e.g. from ``benchmarks/mypyc_build.py``), sorted; ``[]`` for the
    pure-Python package, the one whose figures are published."""
    return sorted(
        name.removeprefix("tcpstack.")
        for name, module in list(sys.modules.items())
        if name.startswith("tcpstack.") and module is not None
        and str(getattr(module, "__file__", None) or ".py").endswith((".so", ".pyd"))
    )


def _load_average() -> list[float] | None:
    """The system's load averages over 1, 5 and 15 minutes (other work on the
    machine makes wall-clock figures noisy), or None where unknown."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _git_commit() -> tuple[str | None, bool | None]:
    """The commit of the git checkout tcpstack is imported from, and whether tracked
    files differ from it; ``(None, None)`` if it is not one (or git is missing)."""
    here = str(Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", here, "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fp:
            for line in fp:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None
