"""Explicit Congestion Notification in TCP (RFC 3168 §6.1): the state of one connection.

Once both SYNs agreed on ECN (:func:`tcpstack.negotiation.negotiate`, §6.1.1),
a connection holds one :class:`EcnState`, kept by its sender; without ECN it
holds None, and no segment pays for ECN beyond that one test.

Theory of operation, both halves of a connection:

* **Data receiver** (§6.1.3): a data segment that arrives marked CE (the
  router's "congestion experienced", :data:`tcpstack.wire.ecn.CE`) starts
  the echo: every ACK we send carries ECE until a data segment with CWR
  arrives. A CE on the CWR segment itself starts it again. The ACK of the
  segment that started the echo leaves at once (as Linux's quick-ACK mode,
  so that the sender learns of the congestion an RTT earlier).
* **Data sender** (§6.1.2): an acceptable ACK with ECE reduces cwnd as a loss
  would (``CongestionControl.on_ecn``), at most once per window of data: not
  again until an ACK acknowledges beyond what was outstanding then
  (:attr:`EcnState.cwr_seq`). During loss recovery the loss's reduction is
  the reaction: no second one. Either way CWR goes out on the next new data
  segment (§6.1.2, "the first new data packet sent after the window
  reduction"), which tells the receiver to stop echoing.
* **Marking** (§6.1.4-§6.1.5): new data segments carry ECT(0); pure ACKs,
  window probes, retransmissions, SYNs and RSTs are Not-ECT.

Sequence numbers are modulo 2**32 (:mod:`tcpstack.seq`).
"""

from __future__ import annotations

from .seq import seq_gt
from .wire.ecn import CE

__all__ = ["ECN_MODES", "EcnState"]

ECN_MODES = ("off", "on", "passive")
"""The values of :attr:`TcpConfig.ecn <tcpstack.config.TcpConfig.ecn>`: Linux
``net.ipv4.tcp_ecn`` 0, 1 and 2."""


class EcnState:
    """ECN on one connection that negotiated it (RFC 3168 §6.1.2-§6.1.3).

    Attributes:
        echo: data receiver: set ECE on every ACK we send (a CE mark arrived
            and no CWR since).
        cwr_pending: data sender: set CWR on the next new data segment.
        cwr_seq: data sender: SND.MAX when we last reduced (or let a loss
            reduction stand for an ECE); no further reduction until an ACK
            passes it. None before the first one.
    """

    __slots__ = ("cwr_pending", "cwr_seq", "echo")

    def __init__(self) -> None:
        self.echo = False
        self.cwr_pending = False
        self.cwr_seq: int | None = None

    # -- data receiver (§6.1.3) -----------------------------------------------------

    def on_data(self, cwr: bool, codepoint: int) -> bool:
        """A data segment arrived, with CWR set or not, in an IP packet of ECN
        ``codepoint``. Returns True if it started the echo (acknowledge it at once).

        §6.1.3: "after a CE packet is received, [the receiver] sets ECE in
        subsequent ACKs until it receives a CWR packet"; CWR is taken first, so a
        CWR packet that is itself marked CE starts the echo again (Linux
        tcp_ecn_accept_cwr, then __tcp_ecn_check_ce).
        """
        if cwr:
            self.echo = False
        if codepoint == CE and not self.echo:
            self.echo = True
            return True
        return False

    # -- data sender (§6.1.2) -------------------------------------------------------

    def may_reduce(self, ack: int) -> bool:
        """An ACK at ``ack`` with ECE may cause a reduction: none yet, or ``ack``
        is beyond SND.MAX of the last one (§6.1.2: "at most once per window of
        data"; ACKs of older data still carry the echo of the same congestion)."""
        return self.cwr_seq is None or seq_gt(ack, self.cwr_seq)

    def reduced(self, snd_max: int) -> None:
        """The congestion window was reduced with ``snd_max`` outstanding: CWR on the
        next new data segment, and no more reductions for this window."""
        self.cwr_seq = snd_max
        self.cwr_pending = True

    def take_cwr(self) -> bool:
        """A new data segment is being built: True once after a reduction (set CWR)."""
        if self.cwr_pending:
            self.cwr_pending = False
            return True
        return False
