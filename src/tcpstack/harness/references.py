"""Reference figures of ``tcpstack bench``, measured in the same run: the
kernel's TCP, and tcpstack on a TUN device against the kernel.

* :func:`kernel_loopback`: Python kernel sockets over loopback (inside a
  fresh network namespace when root, else the current one's loopback);
* :func:`kernel_veth`: kernel to kernel over a veth pair between two
  namespaces made for it (root only);
* :func:`tun_bulk`: tcpstack on a :class:`~tcpstack.drivers.tun.TunDriver`
  in a namespace made for it, sending to a kernel socket and receiving from
  one (root and ``/dev/net/tun`` only); :func:`tun_vs_veth` relates it to
  the veth figure.

Each run of a transfer is two programs of this module, started with
``python -m tcpstack.harness.references ROLE ...`` (inside a namespace with
``ip netns exec``): a receiver, which reports its port and then, at the end,
the bytes and seconds it took, and a sender. Every figure is timed the same
way, by the receiver: from the completed handshake (``accept`` of a kernel
socket, ``on_accept`` of tcpstack's application) to the end of stream. The
bytes are :func:`~tcpstack.harness.speed.payload` (both sides make them from
the seed) and are compared byte for byte after the timing. The payload is
``size`` bytes, as in ``sim_bulk``.

Namespaces are made here and always removed (also on errors), processes are
always ended, every wait is bounded. Addresses are those of the
documentation ranges (RFC 5737), and no namespace has a route out.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .figures import Stopwatch, Target, figure, require_positive, skipped
from .speed import MIB, Collector, payload

TUN_DRIVER_OPTIONS: dict[str, Any] = {"offload": True}
"""Keyword arguments of every :class:`~tcpstack.drivers.tun.TunDriver` the benchmark
makes: the one place they are set (:func:`tun_bulk` takes more, or others, and
``tcpstack bench --no-offload`` sets ``offload`` False). ``offload`` also sets the
stack's ``TcpConfig(tso=...)``, as ``tcpstack tun`` does: with offload our stack
sends segments of up to 64 KiB and the kernel segments them."""

TUN_VS_VETH_TARGET = Target(">=", 0.25)
"""tcpstack over TUN against the kernel, over kernel to kernel over veth (each direction)."""
TUN_SHARE_OF_VETH = TUN_VS_VETH_TARGET.limit
"""``tun_bulk_mbps_*``'s target: this share of the same run's ``kernel_veth_mbps``."""

TUN_IFNAME = "tcpsb0"
"""The TUN device of the benchmark (inside its own namespace)."""
TUN_OURS = "192.0.2.2"
"""tcpstack's address on the TUN device."""
TUN_KERNEL = "192.0.2.1"
"""The kernel's address on the TUN device."""
TUN_PORT = 5001
"""tcpstack's port when it receives."""
VETH = ("198.51.100.1", "198.51.100.2")
"""Addresses of the veth pair's two ends (sender's, receiver's), a /24."""

READY_WAIT = 30.0
"""Longest wait (seconds) for a receiver to report its port."""
POLL = 0.05
"""Seconds between looks at the programs of a transfer while they run (untimed)."""
MIN_RATE = 200_000.0
"""Slowest transfer (bytes per wall second) before a run is given up."""
LIMIT_BASE = 60.0
"""Seconds a run may take on top of ``size / MIN_RATE``."""

MBPS_UNIT = "10^6 bytes per wall second"


def time_limit(size: int) -> float:
    """Seconds a transfer of ``size`` bytes may take before it is given up."""
    return LIMIT_BASE + size / MIN_RATE


def root_unavailable_reason() -> str | None:
    """Why namespaces cannot be made here (not Linux, not root, no ``ip``), or None."""
    if not sys.platform.startswith("linux"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "needs the 'ip' command (iproute2)"
    return None


def tun_unavailable_reason() -> str | None:
    """Why the TUN figures cannot run here (as :func:`root_unavailable_reason`, or no
    ``/dev/net/tun``), or None."""
    reason = root_unavailable_reason()
    if reason is None and not os.path.exists("/dev/net/tun"):
        reason = "needs /dev/net/tun"
    return reason


# --- the parent: namespaces, programs, figures -------------------------------------


@dataclass(frozen=True)
class Side:
    """One program of a transfer: the namespace it runs in (None: this one) and its
    role and arguments (``--port`` is added to a sender's)."""

    netns: str | None
    args: tuple[str, ...]


@dataclass(frozen=True)
class Transfer:
    """What a receiver measured: bytes received and seconds, handshake to end of stream."""

    received: int
    seconds: float
    offload: bool | None = None
    """Whether segmentation offload was in effect on the TUN device (None: no TUN)."""

    @property
    def mbps(self) -> float:
        """10^6 bytes per wall second."""
        return self.received / self.seconds / 1e6


class _Program:
    """A program of this module, running (in a namespace), its stderr kept in a file."""

    def __init__(self, side: Side, extra: Sequence[str], stack: ExitStack) -> None:
        from ..drivers.netns import exec_argv

        argv = [sys.executable, "-m", __name__, *side.args, *extra]
        if side.netns is not None:
            argv = exec_argv(side.netns, argv)
        self.role = side.args[0]
        # closed by ``stack``, with the program
        self.stderr: IO[bytes] = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=_child_env(), bufsize=0)
        stack.callback(self.end)

    def line(self, timeout: float) -> dict[str, Any]:
        """The program's next line of output (a JSON object), waiting at most ``timeout`` s.

        Raises:
            RuntimeError: it exited or said nothing in time.
        """
        out = self.proc.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], timeout)
        text = out.readline() if ready else b""  # unbuffered: reads this line only
        if not text:
            self.end()
            raise RuntimeError(f"{self.role}: no report within {timeout:.0f} s{self.why()}")
        obj: dict[str, Any] = json.loads(text)
        return obj

    def result(self, timeout: float) -> dict[str, Any]:
        """The program's last line, once it exited (waiting at most ``timeout`` s).

        Raises:
            RuntimeError: it did not exit in time, failed, or printed no result.
        """
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.end()
            raise RuntimeError(f"{self.role}: did not finish within {timeout:.0f} s"
                               f"{self.why()}") from None
        lines = out.decode(errors="replace").strip().splitlines()
        if self.proc.returncode != 0 or not lines:
            raise RuntimeError(f"{self.role}: exit status {self.proc.returncode}{self.why()}")
        obj: dict[str, Any] = json.loads(lines[-1])
        return obj

    def why(self) -> str:
        """The end of what the program wrote on stderr, as ``": ..."`` (or nothing)."""
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace").strip()
        return f": {text.splitlines()[-1]}" if text else ""

    def end(self) -> None:
        """Stop the program if it still runs (SIGTERM, then SIGKILL), and reap it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _child_env() -> dict[str, str]:
    """The environment of the programs: this tcpstack importable, unbuffered output."""
    import tcpstack

    env = dict(os.environ)
    src = str(Path(tcpstack.__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def transfer(receiver: Side, sender: Side, *, size: int) -> Transfer:
    """One run: start the receiver, then the sender with the receiver's port; wait
    for both (bounded by :func:`time_limit`); the receiver's measure.

    Raises:
        RuntimeError: a program failed or took too long, or the bytes received
            were not exactly those sent.
    """
    deadline = time.monotonic() + time_limit(size)
    with ExitStack() as stack:
        rx = _Program(receiver, (), stack)
        port = int(rx.line(READY_WAIT)["port"])
        tx = _Program(sender, ("--port", str(port)), stack)
        while rx.proc.poll() is None and time.monotonic() < deadline:
            if tx.proc.poll() not in (None, 0):
                tx.result(READY_WAIT)  # it exited: raises with its error at once
            time.sleep(POLL)
        got = rx.result(max(0.0, deadline - time.monotonic()))
        sent = tx.result(READY_WAIT)
    if not got["exact"]:
        raise RuntimeError(f"{receiver.args[0]}: received {got['received']} of {size} bytes "
                           "or different bytes")
    return Transfer(int(got["received"]), float(got["seconds"]),
                    offload=got.get("offload", sent.get("offload")))


class SetupError(RuntimeError):
    """The namespaces or links of a reference could not be made (the figure is skipped)."""


def _ip_in(netns: str, *args: str) -> None:
    """Run ``ip ARGS`` inside ``netns``.

    Raises:
        SetupError: it failed (iproute2's message included).
    """
    from ..drivers.netns import run_in_netns

    done = run_in_netns(netns, ["ip", *args], timeout=20, capture_output=True, text=True)
    if done.returncode != 0:
        raise SetupError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@contextmanager
def _namespaces(count: int) -> Iterator[list[str]]:
    """``count`` fresh namespaces (only ``lo``, no route out), always removed.

    Raises:
        SetupError: one could not be made (none is left behind).
    """
    from ..drivers.netns import NetnsError, temporary_netns

    with ExitStack() as stack:
        try:
            names = [stack.enter_context(temporary_netns("tcpsbench")) for _ in range(count)]
        except NetnsError as exc:
            raise SetupError(f"cannot create a network namespace: {exc}") from None
        yield names


@contextmanager
def _veth_pair() -> Iterator[tuple[str, str]]:
    """Two fresh namespaces joined by a veth pair, ends :data:`VETH` (sender's, receiver's)."""
    with _namespaces(2) as (a, b):
        _ip_in(a, "link", "add", "vbench0", "type", "veth", "peer", "name", "vbench1",
               "netns", b)
        for ns, dev, address in ((a, "vbench0", VETH[0]), (b, "vbench1", VETH[1])):
            _ip_in(ns, "address", "add", f"{address}/24", "dev", dev)
            _ip_in(ns, "link", "set", dev, "up")
        yield a, b


def _runs(receiver: Side, sender: Side, *, size: int, runs: int, seed: int,
          unit: str, **details: Any) -> dict[str, Any]:
    """``runs`` transfers of ``size`` bytes from ``sender`` to ``receiver`` as one figure
    (in ``unit``, no target), with ``children_cpu_seconds`` (CPU time of the programs
    and of ``ip``)."""
    sizes = ("--size", str(size), "--seed", str(seed))
    receiver = Side(receiver.netns, receiver.args + sizes)
    sender = Side(sender.netns, sender.args + sizes)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Stopwatch() as cost:
        done = [transfer(receiver, sender, size=size) for _ in range(runs)]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    offload = {t.offload for t in done}
    if offload != {None}:  # a TUN figure: say what ran, run by run if it changed
        details["offload_in_effect"] = offload.pop() if len(offload) == 1 else [
            t.offload for t in done]
    return figure([t.mbps for t in done], unit=unit, target=None,
                  cost=cost, digits=1, bytes=size, children_cpu_seconds=round(child_cpu, 3),
                  **details)


def kernel_loopback(size: int = 16 * MIB, *, runs: int = 5, seed: int = 1) -> dict[str, Any]:
    """``kernel_loopback_mbps``: Python kernel sockets over loopback, ``size`` bytes
    ``runs`` times (``sendall`` of the whole payload; ``recv_into`` a buffer).

    Inside a fresh namespace when root, else (or if it cannot be made) over
    this namespace's loopback, which leaves nothing behind either.

    Returns:
        The figure (no target) with ``netns`` (True if in a fresh namespace).
    """
    require_positive(size=size, runs=runs)
    with ExitStack() as stack:
        ns = None
        if root_unavailable_reason() is None:
            with contextlib.suppress(SetupError):
                ns = stack.enter_context(_namespaces(1))[0]
        fig = _runs(Side(ns, ("sink", "--bind", "127.0.0.1")),
                    Side(ns, ("source", "--connect", "127.0.0.1")),
                    size=size, runs=runs, seed=seed,
                    unit=f"{MBPS_UNIT} (Python kernel sockets, loopback)",
                    netns=ns is not None)
    return fig


def kernel_veth(size: int = 16 * MIB, *, runs: int = 5, seed: int = 1) -> dict[str, Any]:
    """``kernel_veth_mbps``: kernel to kernel over a veth pair between two namespaces
    made for it (Python sockets at both ends), ``size`` bytes ``runs`` times.

    Returns:
        The figure (no target), or a skipped figure when not root or when the
        namespaces or the veth pair cannot be made.

    Raises:
        RuntimeError: a transfer failed or was not exact.
    """
    require_positive(size=size, runs=runs)
    unit = f"{MBPS_UNIT} (Python kernel sockets, kernel to kernel over veth)"
    if reason := root_unavailable_reason():
        return skipped(reason, unit=unit, target=None)
    try:
        with _veth_pair() as (a, b):
            fig = _runs(Side(b, ("sink", "--bind", VETH[1])),
                        Side(a, ("source", "--connect", VETH[1])),
                        size=size, runs=runs, seed=seed, unit=unit, mtu=1500)
    except SetupError as exc:
        return skipped(str(exc), unit=unit, target=None)
    return fig


TUN_BUFFER = 4 * MIB
"""Receive and send buffer of the tcpstack side of ``tun_bulk``, bytes."""


def tun_bulk(size: int = 16 * MIB, *, runs: int = 5, seed: int = 1,
             options: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``tun_bulk_mbps_send`` (tcpstack -> kernel socket) and ``tun_bulk_mbps_recv``
    (kernel socket -> tcpstack) through a TUN device, ``size`` bytes ``runs``
    times each, byte-exact.

    One namespace made for the figure holds the TUN device (made anew each
    run by the tcpstack program, ``TunDriver(..., **options)``, MTU 1500
    unless ``options`` say otherwise, our stack untraced with the default
    :class:`~tcpstack.config.TcpConfig` but for ``tso``, which follows
    ``offload``, and :data:`TUN_BUFFER` bytes of socket buffers) and the
    kernel's socket.

    Args:
        options: keyword arguments of the ``TunDriver``, over those of
            :data:`TUN_DRIVER_OPTIONS`; printed in the figures as
            ``driver_options``, with ``offload_in_effect`` (the kernel may
            refuse offload: the driver then runs without).

    Returns:
        The two figures (target set by :func:`tun_vs_veth`), or two skipped
        figures when not root, without ``/dev/net/tun``, or when the
        namespace cannot be made.

    Raises:
        RuntimeError: a transfer failed or was not exact.
    """
    require_positive(size=size, runs=runs)
    options = {**TUN_DRIVER_OPTIONS, **(options or {})}
    units = {"tun_bulk_mbps_send": f"{MBPS_UNIT} (tcpstack on TUN -> kernel socket)",
             "tun_bulk_mbps_recv": f"{MBPS_UNIT} (kernel socket -> tcpstack on TUN)"}
    reason = tun_unavailable_reason()
    if reason is None:
        from ..drivers.tun import DEFAULT_MTU

        tun = ("--options", json.dumps(options))
        try:
            with _namespaces(1) as (ns,):
                pairs = (
                    # Any address of the namespace (only lo and, once the
                    # tcpstack program made it, the TUN device's 192.0.2.1).
                    (Side(ns, ("sink", "--bind", "")),
                     Side(ns, ("tun-source", "--connect", TUN_KERNEL, *tun))),
                    (Side(ns, ("tun-sink", *tun)),
                     Side(ns, ("source", "--connect", TUN_OURS))),
                )
                return {key: _runs(rx, tx, size=size, runs=runs, seed=seed, unit=unit,
                                   driver_options=options,
                                   mtu=options.get("mtu", DEFAULT_MTU))
                        for (key, unit), (rx, tx) in zip(units.items(), pairs, strict=True)}
        except SetupError as exc:
            reason = str(exc)
    return {key: skipped(reason, unit=unit, target=None) for key, unit in units.items()}


def tun_vs_veth(tun: dict[str, dict[str, Any]], veth: dict[str, Any]) -> dict[str, Any]:
    """``tun_vs_veth``: tcpstack over TUN / kernel to kernel over veth, of the same run.

    Per run ``i``: the slower direction of TUN run ``i`` over veth run ``i``
    (the target, >= 0.25, holds in both directions). ``send`` and ``recv``
    give each direction's median over the veth median. Sets the targets of
    the TUN figures in ``tun`` (:data:`TUN_SHARE_OF_VETH` of the veth
    median) as a side effect.

    Returns:
        The figure, or a skipped figure if either side was skipped.
    """
    send, recv = tun["tun_bulk_mbps_send"], tun["tun_bulk_mbps_recv"]
    unit = "tcpstack over TUN / kernel over veth, slower direction"
    for fig in (send, recv, veth):
        if "skipped" in fig:
            return skipped(fig["skipped"], unit=unit, target=TUN_VS_VETH_TARGET)
    limit = Target(">=", round(TUN_SHARE_OF_VETH * veth["median"], 1))
    for fig in (send, recv):
        fig["target"] = f"{limit} (0.25 x kernel_veth_mbps)"
        fig["met"] = limit.met(fig["median"])
    ratios = [min(s, r) / v for s, r, v in zip(send["values"], recv["values"], veth["values"],
                                                strict=True)]
    with Stopwatch() as cost:
        pass  # derived: nothing more was measured
    return figure(ratios, unit=unit, target=TUN_VS_VETH_TARGET, cost=cost,
                  send=round(send["median"] / veth["median"], 4),
                  recv=round(recv["median"] / veth["median"], 4))


# --- the programs -------------------------------------------------------------------


def _print(**obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _sink(bind: str, size: int, seed: int, limit: float) -> None:
    """Kernel receiver: listen on ``bind`` (``""``: every address), report the port,
    accept one connection, ``recv_into`` a buffer until end of stream; report bytes,
    seconds and exactness."""
    with socket.socket() as server:
        server.bind((bind, 0))
        server.listen(1)
        server.settimeout(limit)
        _print(port=server.getsockname()[1])
        conn, _ = server.accept()
    with conn:
        start = time.perf_counter()
        conn.settimeout(limit)
        buf = bytearray(size + 65536)  # room to notice extra bytes
        view = memoryview(buf)
        got = 0
        while got < len(buf) and (n := conn.recv_into(view[got:])):
            got += n
        seconds = time.perf_counter() - start
    _print(received=got, seconds=seconds, exact=got == size and buf[:size] == payload(size, seed))


def _source(host: str, port: int, size: int, seed: int, limit: float) -> None:
    """Kernel sender: connect, ``sendall`` the payload, half-close, wait for the
    receiver's close."""
    data = payload(size, seed)
    with socket.create_connection((host, port), timeout=limit) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    _print(sent=size)


def _tun(role: str, size: int, seed: int, limit: float, options: dict[str, Any],
         host: str | None, port: int | None) -> None:
    """tcpstack on a TUN device: receive (``tun-sink``: listen on :data:`TUN_PORT`,
    report it, time as :func:`_sink`) or send (``tun-source``: as :func:`_source`)."""
    from ..config import TcpConfig
    from ..drivers.apps import SendClient
    from ..drivers.tun import TunDriver
    from ..stack import Stack
    from ..state import State

    # Socket buffers of 4 MiB, as far as Linux's autotuning takes a bulk
    # transfer (tcp_rmem's and tcp_wmem's maximum are 6 MiB and 4 MiB): with
    # the 64 KiB default, one 64 KiB super-segment fills the window.
    config = TcpConfig(tso=bool(options.get("offload", False)), recv_buffer=TUN_BUFFER,
                       send_buffer=TUN_BUFFER)
    stack = Stack(TUN_OURS, config=config, name="tcpstack", trace=None,
                  isn_key=os.urandom(16), rng=random.Random(seed))
    deadline = time.monotonic() + limit
    with TunDriver(TUN_IFNAME, TUN_OURS, f"{TUN_KERNEL}/24", stack, **options) as driver:
        if role == "tun-sink":
            sink = Collector(clock=time.perf_counter)
            driver.listen(TUN_PORT)
            _print(port=TUN_PORT)
            driver.run(lambda: sink, until=lambda: sink.finished, deadline=deadline)
            exact = (sink.received == size and sink.ended is not None
                     and sink.sha256() == hashlib.sha256(payload(size, seed)).hexdigest())
            if sink.started is None or sink.ended is None:
                raise SystemExit(f"tun-sink: no complete transfer ({driver.stats.reason})")
            _print(received=sink.received, seconds=sink.ended - sink.started, exact=exact,
                   offload=driver.stats.offload)
            return
        assert host is not None and port is not None
        app = SendClient(payload(size, seed))
        conn = driver.connect(host, port, app)
        driver.run(None, until=lambda: app.finished and conn.state in (State.TIME_WAIT,
                                                                       State.CLOSED),
                   deadline=deadline)
        if not app.finished or app.error is not None:
            raise SystemExit(f"tun-source: not finished ({driver.stats.reason}, "
                             f"{app.error!r}, {conn.state})")
    _print(sent=app.sent, offload=driver.stats.offload)


def main(argv: Sequence[str] | None = None) -> int:
    """The programs of a transfer (``python -m tcpstack.harness.references ROLE``):
    ``sink``, ``source``, ``tun-sink``, ``tun-source``. Each prints JSON lines:
    a receiver ``{"port": P}`` when ready, then ``{"received", "seconds", "exact"}``;
    a sender ``{"sent"}``. Not a user command."""
    parser = argparse.ArgumentParser(prog="python -m tcpstack.harness.references")
    parser.add_argument("role", choices=("sink", "source", "tun-sink", "tun-source"))
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connect", metavar="HOST")
    parser.add_argument("--bind", metavar="ADDRESS", default="127.0.0.1",
                        help="the sink's address (\"\": every address)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--options", default="{}", help="TunDriver keywords (JSON)")
    args = parser.parse_args(argv)
    limit = time_limit(args.size)
    if args.role == "sink":
        _sink(args.bind, args.size, args.seed, limit)
    elif args.role == "source":
        _source(args.connect, args.port, args.size, args.seed, limit)
    else:
        _tun(args.role, args.size, args.seed, limit, json.loads(args.options), args.connect,
             args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
