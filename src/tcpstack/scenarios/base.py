"""Scenario registry, the options a user may turn, and the result every scenario returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import TcpConfig
from ..connection import Connection
from ..drivers.sim import Application, Network, PacketInfo
from ..events import Event
from ..state import State
from ..tools.i18n import Text
from ..trace import Trace, TraceRecord
from ..wire import Flags

CLIENT_ADDR = "192.0.2.1"
SERVER_ADDR = "192.0.2.2"
PORT = 80
"""The server's port."""


@dataclass(frozen=True)
class ScenarioOptions:
    """Knobs a user may turn from the command line or the viewer.

    Attributes:
        seed: seeds every random choice of the run.
        delay: one-way link delay, seconds.
        loss: random loss probability per packet, both directions, in [0, 1].
        duplicate: duplication probability per packet, in [0, 1].
        reorder: probability that a packet is held back (reordered), in [0, 1].
        jitter: extra random delay per packet, up to this many seconds.
        msl: maximum segment lifetime, seconds (TIME-WAIT lasts 2 * msl).
        drop: 1-based numbers of packets to lose, counted over the whole
            network in the order they are sent (``--drop N``).
        drop_final_ack: lose the last ACK of the close, the one that
            acknowledges the peer's FIN after our own FIN left (the first
            pure ACK sent in TIME-WAIT or CLOSING; ``--drop-final-ack``).
        congestion_control: both hosts' congestion control algorithm, by
            name (``TcpConfig.congestion_control``; ``--cc``).
        ecn: both hosts' ECN switch, "off", "on" or "passive"
            (``TcpConfig.ecn``, RFC 3168; ``--ecn``).

    Raises:
        ValueError: a packet number in ``drop`` is below 1.
    """

    seed: int = 1
    delay: float = 0.010
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    jitter: float = 0.0
    msl: float = 120.0
    drop: tuple[int, ...] = ()
    drop_final_ack: bool = False
    congestion_control: str = "newreno"
    ecn: str = "off"

    def __post_init__(self) -> None:
        bad = [n for n in self.drop if n < 1]
        if bad:
            raise ValueError(f"packet numbers to drop start at 1, got {bad[0]}")

    def config(self, **overrides: object) -> TcpConfig:
        """The TcpConfig of both hosts (MSL, algorithm and ECN from the options).

        Raises:
            ValueError: an unknown algorithm or ECN mode (as ``TcpConfig``).
        """
        values: dict[str, object] = {"msl": self.msl,
                                     "congestion_control": self.congestion_control,
                                     "ecn": self.ecn}
        values.update(overrides)
        return TcpConfig(**values)  # type: ignore[arg-type]


@dataclass
class ScenarioResult:
    """What a scenario run produced.

    Attributes:
        name: scenario name.
        network: the simulator after the run (hosts, packets).
        client, server: the two hosts' names (left and right of the ladder).
        notes: facts of this run for the learner, in both languages (what
            the application read, a table of states over time...), shown
            after the ladder.
    """

    name: str
    network: Network
    client: str = "client"
    server: str = "server"
    notes: list[Text] = field(default_factory=list)

    @property
    def trace(self) -> Trace:
        """The run's trace (both hosts)."""
        return self.network.trace

    @property
    def records(self) -> list[TraceRecord]:
        """All trace records in time order."""
        return self.network.trace.records

    def connections(self, host: str) -> list[str]:
        """The names of ``host``'s connections that changed state, in the order
        of their first ``state_updated`` record (a 4-tuple used again by a new
        incarnation keeps its name)."""
        names: dict[str, None] = {}
        for rec in self.records:
            if rec.host == host and rec.event == "state_updated" and rec.conn:
                names.setdefault(rec.conn, None)
        return list(names)

    def states(self, host: str, conn: str | None = None) -> list[str]:
        """The state sequence of one of ``host``'s connections (``conn``), or of
        all of them one after the other (in the order of :meth:`connections`),
        RFC spelling, e.g. ``["CLOSED", "SYN-SENT", "ESTABLISHED", ...]``.

        Built from ``state_updated`` records: the first record's ``old`` then
        every ``new``. Listeners have no state records; a passive TCB starts
        from LISTEN.
        """
        names = [conn] if conn is not None else self.connections(host)
        seq: list[str] = []
        for name in names:
            part: list[str] = []
            for rec in self.records:
                if rec.host != host or rec.event != "state_updated" or rec.conn != name:
                    continue
                if not part or part[-1] != rec.data["old"]:
                    part.append(str(rec.data["old"]))
                part.append(str(rec.data["new"]))
            seq += part
        return seq


@dataclass(frozen=True)
class Scenario:
    """A named scenario.

    Attributes:
        name: command-line name (``tcpstack demo NAME``).
        summary: one line for ``tcpstack scenarios``.
        question: the classic question the scenario answers.
        answer: a short answer for learners (a few sentences): what to look
            at in the ladder, and why TCP does it.
        run: builds and runs the network.
        expected: per host, the state sequence the run must produce with
            default options (all the host's connections one after the other,
            as :meth:`ScenarioResult.states` gives it).
    """

    name: str
    summary: Text
    question: Text
    answer: Text
    run: Callable[[ScenarioOptions], ScenarioResult]
    expected: dict[str, tuple[str, ...]]


SCENARIOS: dict[str, Scenario] = {}
"""Every scenario by name, in registration order."""


def register(scenario: Scenario) -> Scenario:
    """Add a scenario to :data:`SCENARIOS`.

    Raises:
        ValueError: the name is taken.
    """
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} exists")
    SCENARIOS[scenario.name] = scenario
    return scenario


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``.

    Raises:
        KeyError: no such scenario (the message lists the known names).
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise KeyError(f"unknown scenario {name!r}; known: {known}") from None


def is_final_ack(p: PacketInfo) -> bool:
    """The last ACK of a close: a bare ACK (no data, SYN, FIN or RST) sent after
    both FINs, that is in TIME-WAIT or CLOSING (RFC 9293 §3.6)."""
    return (p.sender_state in (State.TIME_WAIT, State.CLOSING)
            and p.segment.flags == Flags.ACK and not p.segment.payload)


def two_hosts(opts: ScenarioOptions, **config: object) -> tuple[Network, str, str]:
    """A client and a server joined by a link shaped by ``opts``, with the
    scripted losses of ``opts.drop`` and ``opts.drop_final_ack`` in place."""
    net = Network(seed=opts.seed)
    cfg = opts.config(**config)
    net.add_host("client", CLIENT_ADDR, config=cfg)
    net.add_host("server", SERVER_ADDR, config=cfg)
    net.link(
        "client",
        "server",
        delay=opts.delay,
        loss=opts.loss,
        duplicate=opts.duplicate,
        reorder=opts.reorder,
        jitter=opts.jitter,
    )
    for n in opts.drop:
        net.drop_nth(n)
    if opts.drop_final_ack:
        net.drop_first(is_final_ack)
    return net, "client", "server"


def listen_and_connect(net: Network, *connect_at: float) -> None:
    """The server of :func:`two_hosts` listens on :data:`PORT` now, and the client
    connects to it at each of the times ``connect_at`` (seconds; at 0 if none)."""
    net.hosts["server"].stack.listen(PORT)
    client = net.hosts["client"]
    for t in connect_at or (0.0,):
        net.at(t, lambda: client.stack.connect(SERVER_ADDR, PORT, now=net.now))


OPEN_STATES = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})
"""Synchronized states in which the application may still write (RFC 9293 §3.10.2)."""


def can_send(conn: Connection | None) -> bool:
    """True if ``conn`` exists, is synchronized and its application has not
    closed it, so it may still write. A scripted action checks this first:
    under loss the connection may never have opened, or may have been reset."""
    return conn is not None and conn.state in OPEN_STATES and not conn.orphaned


class PerConnection:
    """An application that runs one object per connection, made by ``factory``
    when the connection reports its first event (a host with several
    connections, each with its own little program).

    Attributes:
        apps: the objects, by connection, in the order they were made.
    """

    def __init__(self, factory: Callable[[], Application]) -> None:
        self.factory = factory
        self.apps: dict[Connection, Application] = {}

    def on_event(self, conn: Connection, event: Event) -> None:
        app = self.apps.get(conn)
        if app is None:
            app = self.apps[conn] = self.factory()
        app.on_event(conn, event)
