"""Keep-alive: probing an idle connection whose peer may have gone (RFC 9293 §3.8.4).

Off by default (MUST-24/25). When on, an idle connection is probed after
``keepalive_idle`` seconds (MUST-27/28: two hours by default), then every
``keepalive_interval`` seconds; after ``keepalive_count`` unanswered probes
the peer is declared gone (one lost probe is never fatal, MUST-29). Only an
idle connection is probed: while data is outstanding the retransmission and
persist timers watch it (MUST-26). Times are seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .seq import seq_add
from .state import State
from .timers import Timer

if TYPE_CHECKING:
    from .connection import Connection

KEEPALIVE_STATES = frozenset({State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2})
"""States in which an idle connection is probed: as in Linux, FIN-WAIT-2 too, so a
half-closed connection whose peer vanished does not wait for its FIN forever."""


class KeepAlive:
    """The keep-alive of one connection (held only while keep-alive is on).

    Args:
        conn: the connection.

    Attributes:
        probes: probes sent since the peer was last heard from.
    """

    __slots__ = ("_c", "probes")

    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self.probes = 0

    def restart(self) -> None:
        """The peer was heard from (or keep-alive was switched on): idle time starts again."""
        c = self._c
        self.probes = 0
        c._timers.arm(Timer.KEEPALIVE, c._now + c.config.keepalive_idle)

    def on_timer(self) -> bool:
        """The keep-alive timer fired: probe, or give up.

        Returns True when ``keepalive_count`` probes went unanswered: the
        connection must end.
        """
        c = self._c
        config = c.config
        if not config.keepalive or c.state not in KEEPALIVE_STATES:
            return False  # e.g. the connection moved on to FIN-WAIT-1
        if c.in_flight > 0 or c.unsent > 0:
            # MUST-26: only an idle connection is probed.
            c._timers.arm(Timer.KEEPALIVE, c._now + config.keepalive_idle)
            return False
        if self.probes >= config.keepalive_count:
            return True
        # The probe: <SEQ=SND.NXT-1><ACK=RCV.NXT>, no data (SHLD-12). Its
        # sequence number is old, so a live peer must answer with an ACK.
        c._sender.queue(c._sender.make(seq=seq_add(c.snd_max, -1)))
        self.probes += 1
        c._timers.arm(Timer.KEEPALIVE, c._now + config.keepalive_interval)
        return False
