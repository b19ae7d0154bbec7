"""The timers of one connection: an enum and their single owner (RFC 9293 §3.8, §3.10.8).

Every deadline of a connection lives in one :class:`Timers` object, keyed by
:class:`Timer`. Arming, cancelling and firing are traced (``timer_set``,
``timer_cancelled``, ``timer_fired``; not the pacing timer), and the owner is told whenever the
earliest deadline may have moved earlier, so a host can keep all its
connections' deadlines in one heap instead of asking each connection.

Times are seconds on the caller's clock (``now``); deadlines are named ``*_at``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Protocol


class Timer(enum.Enum):
    """A connection timer. The value is its name in trace records.

    The order of the members is the order in which timers due at the same
    instant fire.
    """

    # Members are singletons compared by identity: hash them by identity too,
    # in C (Enum.__hash__ hashes the name in Python; a connection hashes its
    # states and timers dozens of times per packet).
    __hash__ = object.__hash__

    TLP = "tlp"
    """Tail loss probe, RFC 8985 §7 (armed only with SACK, before the RTO)."""
    RTO = "rto"
    """Retransmission timer, RFC 6298 §5; also R1/R2 (RFC 9293 §3.8.3)."""
    PERSIST = "persist"
    """Zero-window probe (RFC 9293 §3.8.6.1) or sender-SWS override (§3.8.6.2.1);
    never armed together with RTO. Unanswered probes give the connection up
    after R2 or the user timeout, an orphan's after ``orphan_retries``."""
    DELAYED_ACK = "delayed_ack"
    """Delayed acknowledgment, RFC 9293 §3.8.6.3 (MUST-40: under 0.5 s)."""
    KEEPALIVE = "keepalive"
    """Keep-alive idle and probe interval, RFC 9293 §3.8.4."""
    TIME_WAIT = "time_wait"
    """2 MSL in TIME-WAIT, RFC 9293 §3.10.8 (MUST-13)."""
    FIN_WAIT_2 = "fin_wait_2"
    """Give up an orphaned FIN-WAIT-2 (Linux tcp_fin_timeout)."""
    PACING = "pacing"
    """The pacer's next release of new data (``cc.pacing_rate``): wakes the
    connection so that ``packets_to_send`` sends it. Not traced: it would
    double every paced segment with timer records; the segments' times show
    the pacing."""


_ORDER: tuple[Timer, ...] = tuple(Timer)
_INDEX: dict[Timer, int] = {t: i for i, t in enumerate(_ORDER)}
# Trace names: an Enum's value is a descriptor call, this a dict lookup.
TIMER_NAMES: dict[Timer, str] = {timer: timer.value for timer in Timer}
_PACING = Timer.PACING  # (a global: a member read from its class is an attribute hook)

class TimerOwner(Protocol):
    """The connection whose deadlines a :class:`Timers` holds."""

    def _tracing(self) -> bool:
        """True if trace records are kept (build them only then)."""

    def _trace_timer(self, event: str, timer: Timer, at: float | None) -> None:
        """Emit the ``event`` record of ``timer`` (``timer``, and ``at`` rounded to
        the nanosecond unless None) if a trace is kept; nothing otherwise."""

    def _timer_moved(self) -> None:
        """The earliest deadline may have moved earlier (the host re-sorts it)."""


_NONE: tuple[None, ...] = (None,) * len(_ORDER)
_COUNT = len(_ORDER)


class Timers:
    """The armed deadlines of one connection, by :class:`Timer`.

    Records ``timer_set`` (``timer``, ``at``), ``timer_cancelled``
    (``timer``) and ``timer_fired`` (``timer``) through the owner's trace,
    and tells the owner after an arm that made the earliest deadline
    earlier (or set it where there was none). Holds no storage while no
    timer is armed: an idle connection pays for the object only.

    Args:
        owner: the connection.
    """

    __slots__ = ("_at", "_owner")

    def __init__(self, owner: TimerOwner) -> None:
        self._at: list[float | None] | None = None
        self._owner = owner

    def arm(self, timer: Timer, at: float) -> None:
        """Set ``timer`` to fire at ``at`` seconds (restarting it if armed)."""
        at_list = self._at
        i = _INDEX[timer]
        if at_list is None:
            at_list = self._at = list(_NONE)
            moved = True
        elif at_list[i] == at:
            # Re-armed at the deadline it has (the tail loss probe of each segment
            # of one output while a trace is kept): nothing moves; only the record
            # is kept (saves the pass over the deadlines below).
            moved = False
        else:
            # Earlier than every armed deadline (this timer's old one included)?
            # Asked directly rather than through next_at's minimum: arming runs
            # twice per ACK (RTO and TLP), and this saves a method call and a
            # second pass (about 1 % of a bulk transfer's time).
            moved = True
            for armed_at in at_list:
                if armed_at is not None and armed_at <= at:
                    moved = False
                    break
        at_list[i] = at
        owner = self._owner
        if timer is not _PACING:
            # One call, which asks the trace and builds the record only when it is
            # kept (where _tracing, _trace and a dict per record were three calls).
            owner._trace_timer("timer_set", timer, at)
        if moved:
            owner._timer_moved()

    def cancel(self, timer: Timer) -> None:
        """Stop ``timer`` if it is armed (traced only then)."""
        at_list = self._at
        if at_list is None:
            return
        i = _INDEX[timer]
        if at_list[i] is not None:
            at_list[i] = None
            if timer is not _PACING:
                self._owner._trace_timer("timer_cancelled", timer, None)
            if at_list.count(None) == _COUNT:  # (in C: no generator per cancel)
                self._at = None

    def cancel_all(self) -> None:
        """Stop every armed timer (TIME-WAIT and CLOSED entry, RFC 9293 §3.10.7.4).

        One pass over the deadlines, each armed one traced as :meth:`cancel`
        traces it, in :class:`Timer` order, rather than a :meth:`cancel` call
        per timer: 8 calls fewer per state change that cancels all (3 per
        churn connection).
        """
        at_list = self._at
        if at_list is None:
            return
        self._at = None
        owner = self._owner
        if owner._tracing():
            for timer, at in zip(_ORDER, at_list, strict=True):
                if at is not None and timer is not _PACING:
                    owner._trace_timer("timer_cancelled", timer, None)

    def at(self, timer: Timer) -> float | None:
        """The deadline of ``timer`` in seconds, or None if it is not armed."""
        return self._at[_INDEX[timer]] if self._at is not None else None

    def armed(self, timer: Timer) -> bool:
        """True if ``timer`` is armed."""
        return self._at is not None and self._at[_INDEX[timer]] is not None

    @property
    def next_at(self) -> float | None:
        """The earliest armed deadline (seconds), or None."""
        if self._at is None:
            return None
        best: float | None = None
        for at in self._at:
            if at is not None and (best is None or at < best):
                best = at
        return best

    @property
    def empty(self) -> bool:
        """True if no timer is armed."""
        return self._at is None

    def due(self, now: float) -> Iterator[Timer]:
        """Yield each timer due at ``now`` (seconds), in :class:`Timer` order, disarmed.

        One pass: each timer's deadline is read when its turn comes, so what
        the handler of an earlier timer arms or cancels is seen; a timer
        re-armed by its own handler does not fire again in the same pass.
        Traces ``timer_fired`` for each.
        """
        for i, timer in enumerate(_ORDER):
            at_list = self._at
            if at_list is None:
                return
            at = at_list[i]
            if at is not None and at <= now:
                at_list[i] = None
                if at_list.count(None) == _COUNT:
                    self._at = None
                if timer is not _PACING:
                    # (_trace_timer asks whether a trace is kept: an untraced run
                    # no longer builds the connection's name here, 2,000 per churn run)
                    self._owner._trace_timer("timer_fired", timer, None)
                yield timer
