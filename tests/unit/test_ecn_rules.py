"""ECN in TCP (RFC 3168 §6.1), rule by rule, with scripted segments.

Negotiation on the SYN (§6.1.1), ECT on new data only (§6.1.2, §6.1.4-§6.1.5),
the receiver's echo from CE until CWR (§6.1.3), the sender's reduction at most
once per window and never during loss recovery (§6.1.2), and CWR once after it.
Numbers are relative to ISS / IRS (see ``tcp_script``); the peer's MSS is 1460,
so the initial window is 3 * 1460 = 4380 bytes (RFC 5681 §3.1) and no
timestamps are negotiated unless a test says so.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tcp_script import PEER_MSS, Out, Script, deliver, flags, new_connection

from tcpstack.config import TcpConfig
from tcpstack.negotiation import ecn_agreed
from tcpstack.wire import Mss, Segment
from tcpstack.wire.ecn import CE, ECT_0, ECT_1, NOT_ECT

ON = TcpConfig(ecn="on")
MSS = PEER_MSS


def syn_sent(config: TcpConfig = ON, syn: str = "SEC") -> Script:
    """connect() at 0.0: the SYN (``syn`` flags) leaves."""
    s = Script(new_connection(config=config))
    s.conn.open_active(0.0)
    [seg] = s.expect([Out(syn, seq=0)], at=0.0)
    assert seg.ecn == NOT_ECT  # a SYN is never ECT (§6.1.1)
    s.events()
    return s


def established(config: TcpConfig = ON, synack: str = "SAE") -> Script:
    """Active open: our SYN at 0.0, the peer's SYN,ACK (``synack`` flags) at 0.1."""
    s = syn_sent(config)
    s.rx(synack, seq=0, ack=1, options=(Mss(MSS),), at=0.1)
    s.expect([Out("A", seq=1, ack=1)], at=0.1)
    s.events()
    return s


def passive(config: TcpConfig, syn: str = "SEC", codepoint: int = NOT_ECT) -> Script:
    """A listening TCB takes the peer's SYN (``syn`` flags, IP codepoint) at 0.0."""
    s = Script(new_connection(config=config, passive=True))
    deliver(s.conn, replace(s.seg(syn, seq=0, ack=0, options=(Mss(MSS),)), ecn=codepoint),
            at=0.0)
    return s


def data_from_peer(s: Script, seq: int, n: int, *, at: float, fl: str = "PA",
                   codepoint: int = ECT_0, ack: int = 1) -> None:
    deliver(s.conn, replace(s.seg(fl, seq=seq, ack=ack, data=b"d" * n), ecn=codepoint), at=at)


def stat(s: Script, key: str) -> int:
    return s.conn.stats[key] if s.conn.stats is not None else 0


# ---------------------------------------------------------------- negotiation


def test_active_open_asks_and_an_ecn_setup_syn_ack_accepts() -> None:
    s = established()
    assert s.conn.negotiated.ecn
    assert stat(s, "ecn_negotiated") == 1


@pytest.mark.parametrize("synack", ["SA", "SAEC", "SAC"])
def test_a_syn_ack_without_ece_alone_refuses(synack: str) -> None:
    s = established(synack=synack)
    assert not s.conn.negotiated.ecn
    s.conn.send(b"x" * 100, now=0.2)
    [seg] = s.expect([Out("PA", seq=1, ack=1, len=100)], at=0.2)
    assert seg.ecn == NOT_ECT


def test_off_and_passive_do_not_ask() -> None:
    for mode in ("off", "passive"):
        s = syn_sent(TcpConfig(ecn=mode), syn="S")
        s.rx("SAE", seq=0, ack=1, options=(Mss(MSS),), at=0.1)  # a peer that says yes anyway
        s.expect([Out("A", seq=1, ack=1)], at=0.1)
        assert not s.conn.negotiated.ecn


@pytest.mark.parametrize(("mode", "answer"), [("on", "SAE"), ("passive", "SAE"), ("off", "SA")])
def test_passive_open_accepts_an_ecn_setup_syn(mode: str, answer: str) -> None:
    s = passive(TcpConfig(ecn=mode))
    [synack] = s.expect([Out(answer, seq=0, ack=1)], at=0.0)
    assert synack.ecn == NOT_ECT
    assert s.conn.negotiated.ecn is (answer == "SAE")


@pytest.mark.parametrize("syn", ["S", "SE", "SC"])
def test_a_syn_without_both_flags_is_not_ecn_setup(syn: str) -> None:
    s = passive(TcpConfig(ecn="passive"), syn=syn)
    s.expect([Out("SA", seq=0, ack=1)], at=0.0)
    assert not s.conn.negotiated.ecn


@pytest.mark.parametrize("codepoint", [ECT_0, ECT_1, CE])
def test_an_ecn_setup_syn_that_arrives_ect_is_refused(codepoint: int) -> None:
    """SYNs are Not-ECT (§6.1.1): one rewritten on the way is not trusted (as Linux)."""
    s = passive(TcpConfig(ecn="passive"), codepoint=codepoint)
    s.expect([Out("SA", seq=0, ack=1)], at=0.0)
    assert not s.conn.negotiated.ecn


def test_syn_ack_retransmission_keeps_ece() -> None:
    s = passive(TcpConfig(ecn="passive"))
    s.expect([Out("SAE", seq=0, ack=1)], at=0.0)
    s.fire(1.0)  # rto_initial
    s.expect([Out("SAE", seq=0, ack=1)], at=1.0)


def test_retransmitted_syn_falls_back_and_ecn_is_not_used() -> None:
    """§6.1.1.1 (Linux tcp_ecn_fallback): the retry is a plain SYN; having sent one,
    we do not use ECN even if the SYN,ACK (to the first SYN) says yes (§6.1.1)."""
    s = syn_sent()
    s.fire(1.0)
    s.expect([Out("S", seq=0)], at=1.0)
    s.rx("SAE", seq=0, ack=1, options=(Mss(MSS),), at=1.1)
    s.expect([Out("A", seq=1, ack=1)], at=1.1)
    assert not s.conn.negotiated.ecn


def test_without_fallback_every_syn_asks() -> None:
    s = syn_sent(TcpConfig(ecn="on", ecn_fallback=False))
    s.fire(1.0)
    s.expect([Out("SEC", seq=0)], at=1.0)
    s.rx("SAE", seq=0, ack=1, options=(Mss(MSS),), at=1.1)
    s.expect([Out("A", seq=1, ack=1)], at=1.1)
    assert s.conn.negotiated.ecn


def test_simultaneous_open_answers_with_ece_only() -> None:
    s = syn_sent()
    s.rx("SEC", seq=0, ack=0, options=(Mss(MSS),), at=0.1)
    s.expect([Out("SAE", seq=0, ack=1)], at=0.1)
    assert s.conn.negotiated.ecn


def test_ecn_agreed_by_flags() -> None:
    def seg(fl: str, codepoint: int = NOT_ECT) -> Segment:
        return Segment(1, 2, 0, 0, flags(fl), 100, ecn=codepoint)

    assert [ecn_agreed(seg(f)) for f in ("SAE", "SAEC", "SA", "SEC", "SE", "S")] == [
        True, False, False, True, False, False]
    assert not ecn_agreed(seg("SEC", CE))


def test_unknown_mode_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"TcpConfig\.ecn must be one of off, on, passive"):
        TcpConfig(ecn="yes")


def test_a_bool_switch_reads_as_on_or_off() -> None:
    assert (TcpConfig(ecn=True).ecn, TcpConfig(ecn=False).ecn) == ("on", "off")
    assert TcpConfig(ecn=True) == TcpConfig(ecn="on")


def test_linux_profile_is_passive_and_the_default_off() -> None:
    assert TcpConfig.linux().ecn == "passive"
    assert TcpConfig().ecn == "off"


# ---------------------------------------------------------------- ECT marking


def test_new_data_is_ect0_acks_and_retransmissions_are_not() -> None:
    s = established()
    s.conn.send(b"x" * 100, now=0.2)
    [data] = s.expect([Out("PA", seq=1, ack=1, len=100)], at=0.2)
    assert data.ecn == ECT_0
    data_from_peer(s, 1, 10, at=0.25, ack=1)  # draws a pure ACK (delayed: fire it)
    s.fire(0.45)
    [ack] = s.expect([Out("A", seq=101, ack=11)], at=0.45)
    assert ack.ecn == NOT_ECT
    s.fire(1.2)  # the RTO (1 s from 0.2): the data again
    [again] = s.expect([Out("PA", seq=1, ack=11, len=100)], at=1.2)
    assert again.ecn == NOT_ECT  # §6.1.5: never ECT on a retransmission


def test_a_fin_alone_is_not_ect() -> None:
    s = established()
    s.conn.shutdown(now=0.2)
    [fin] = s.expect([Out("FA", seq=1, ack=1)], at=0.2)
    assert fin.ecn == NOT_ECT


def test_ecn_off_segments_carry_no_ecn() -> None:
    s = Script(new_connection(config=TcpConfig()))
    s.conn.open_active(0.0)
    s.expect([Out("S", seq=0)], at=0.0)
    s.rx("SA", seq=0, ack=1, options=(Mss(MSS),), at=0.1)
    s.expect([Out("A", seq=1, ack=1)], at=0.1)
    s.conn.send(b"x" * 10, now=0.2)
    [seg] = s.expect([Out("PA", seq=1, ack=1, len=10)], at=0.2)
    assert seg.ecn == NOT_ECT
    data_from_peer(s, 1, 10, at=0.3, codepoint=CE)  # ignored without ECN
    s.fire(0.5)
    s.expect([Out("A", seq=11, ack=11)], at=0.5)


# ---------------------------------------------------------------- the receiver's echo


def test_ce_is_echoed_at_once_and_until_cwr() -> None:
    s = established()
    data_from_peer(s, 1, 100, at=0.2)  # ECT(0), no mark: a delayed ACK
    s.expect_nothing(at=0.2)
    data_from_peer(s, 101, 100, at=0.21, codepoint=CE)
    s.expect([Out("AE", seq=1, ack=201)], at=0.21)  # at once, not delayed
    assert stat(s, "ecn_ce_received") == 1
    data_from_peer(s, 201, 100, at=0.3)  # not marked: the echo goes on
    s.fire(0.5)
    s.expect([Out("AE", seq=1, ack=301)], at=0.5)
    s.conn.send(b"y" * 10, now=0.6)  # data carries the echo too
    s.expect([Out("PAE", seq=1, ack=301, len=10)], at=0.6)
    data_from_peer(s, 301, 100, at=0.7, fl="PAC", ack=11)  # CWR: the echo stops
    s.fire(0.9)
    s.expect([Out("A", seq=11, ack=401)], at=0.9)


def test_cwr_that_is_marked_ce_restarts_the_echo() -> None:
    s = established()
    data_from_peer(s, 1, 100, at=0.2, codepoint=CE)
    s.expect([Out("AE", seq=1, ack=101)], at=0.2)
    data_from_peer(s, 101, 100, at=0.3, fl="PAC", codepoint=CE)
    s.expect([Out("AE", seq=1, ack=201)], at=0.3)  # a new echo, at once
    assert stat(s, "ecn_ce_received") == 2


def test_out_of_order_ce_data_gets_an_echoing_duplicate_ack() -> None:
    s = established()
    data_from_peer(s, 101, 100, at=0.2, codepoint=CE)  # a hole at 1..100
    s.expect([Out("AE", seq=1, ack=1)], at=0.2)


# ---------------------------------------------------------------- the sender's reaction


def flight_of_three(s: Script) -> None:
    """Fill the initial window: three full segments (4380 bytes) at 0.2."""
    s.conn.send(b"z" * 10 * MSS, now=0.2)
    sent = s.expect([Out("A", seq=1, ack=1, len=MSS), Out("A", seq=1 + MSS, ack=1, len=MSS),
                     Out("A", seq=1 + 2 * MSS, ack=1, len=MSS)], at=0.2)
    assert [seg.ecn for seg in sent] == [ECT_0] * 3


def test_ece_halves_once_per_window_then_cwr_once() -> None:
    s = established()
    cc = s.conn.recovery.cc
    flight_of_three(s)
    # The first segment is acknowledged with ECE: slow start takes the ACK
    # (cwnd 4380 + 1460), then RFC 3168 §6.1.2 with the 2920 bytes still in
    # flight: ssthresh = max(2920 // 2, 2 * 1460) = 2920, cwnd = 2920.
    s.rx("AE", seq=1, ack=1 + MSS, at=0.3)
    assert (cc.cwnd, cc.ssthresh) == (2920, 2920)
    assert stat(s, "ecn_reductions") == 1
    s.expect_nothing(at=0.3)  # 2920 in flight: no room
    # The second ACK still echoes (the receiver has not seen CWR): the same
    # window, no second reduction; room for one new segment, with CWR.
    s.rx("AE", seq=1, ack=1 + 2 * MSS, at=0.31)
    assert cc.ssthresh == 2920 and stat(s, "ecn_reductions") == 1
    [cwr] = s.expect([Out("AC", seq=1 + 3 * MSS, ack=1, len=MSS)], at=0.31)
    assert cwr.ecn == ECT_0
    # The ACK of the third segment, still echoing: no reduction, no more CWR
    # (how much new data goes is the algorithm's growth in avoidance).
    s.rx("AE", seq=1, ack=1 + 3 * MSS, at=0.32)
    assert stat(s, "ecn_reductions") == 1 and cc.ssthresh == 2920
    sent = s.conn.packets_to_send(0.32)
    assert sent and sent[0].seq == s.iss + 1 + 4 * MSS
    assert all(seg.ecn == ECT_0 and not seg.has(flags("C")) for seg in sent)
    assert stat(s, "ecn_cwr_sent") == 1 and stat(s, "ecn_ece_received") == 3
    # An ECE on an ACK beyond the window of the reduction (past SND.MAX then,
    # 1 + 3 * MSS: it acknowledges the CWR segment) is new congestion: at most
    # 2920 bytes in flight, so ssthresh = max(2920 // 2, 2 * 1460) = 2920 = cwnd.
    s.rx("AE", seq=1, ack=1 + 4 * MSS, at=0.4)
    assert stat(s, "ecn_reductions") == 2
    assert (cc.cwnd, cc.ssthresh) == (2920, 2920)


def test_no_reduction_during_loss_recovery_but_cwr_is_sent() -> None:
    s = established()
    cc = s.conn.recovery.cc
    s.conn.send(b"z" * 10 * MSS, now=0.2)
    s.expect([Out("A", seq=1 + i * MSS, ack=1, len=MSS) for i in range(3)], at=0.2)
    s.rx("A", seq=1, ack=1 + MSS, at=0.3)  # slow start: cwnd 5840
    s.expect([Out("A", seq=1 + (3 + i) * MSS, ack=1, len=MSS) for i in range(2)], at=0.3)
    for i in range(3):  # the segment at 1 + MSS is lost: three duplicate ACKs
        s.rx("A", seq=1, ack=1 + MSS, at=0.4 + i / 100)
    assert s.conn.recovery.in_recovery
    before = (cc.cwnd, cc.ssthresh)
    s.conn.packets_to_send(0.42)  # the fast retransmission
    s.rx("AE", seq=1, ack=1 + MSS, at=0.43)  # a fourth, with ECE
    assert stat(s, "ecn_ece_received") == 1 and stat(s, "ecn_reductions") == 0
    # Only the duplicate ACK's inflation (RFC 5681 §3.2 (4)): the loss's
    # reduction stands (on_ecn would have made cwnd 2920).
    assert (cc.cwnd, cc.ssthresh) == (before[0] + MSS, before[1])
    # The full ACK ends recovery; the next new data carries CWR.
    s.rx("A", seq=1, ack=1 + 5 * MSS, at=0.5)
    assert not s.conn.recovery.in_recovery
    out = s.conn.packets_to_send(0.5)
    assert out and out[0].has(flags("C")) and all(not seg.has(flags("C")) for seg in out[1:])
    assert stat(s, "ecn_cwr_sent") == 1


def test_ece_on_a_syn_ack_is_not_an_echo() -> None:
    s = established()
    assert stat(s, "ecn_ece_received") == 0

