"""RFC 7661 congestion window validation against hand-computed windows (bytes, seconds)."""

from __future__ import annotations

from tcpstack.config import TcpConfig
from tcpstack.congestion import NewReno
from tcpstack.drivers.apps import DiscardApp
from tcpstack.drivers.sim import Network
from tcpstack.recovery import NVP, CwndValidation, LossRecovery

MSS = 1000
SRTT = 0.1  # pipeACK Sampling Period: max(3 * 0.1, 1 s) = 1 s


def rate_limited(cwv: CwndValidation, cc: NewReno, *, start: float, until: float,
                 per_round: int = 4000, step: float = 0.5, una: int = 0) -> tuple[float, int]:
    """ACKs of ``per_round`` bytes every ``step`` seconds (each a full round: SND.UNA
    reaches the HighData of the previous one), the algorithm's growth offered each
    time as +1 SMSS while the flight does not fill cwnd. Returns (time, una) reached."""
    now = start
    while now < until:
        una += per_round
        before = cc.cwnd
        cc.cwnd += MSS  # what the algorithm would grow by
        cwv.on_ack(cc, now=now, una_off=una, high_data_off=una, srtt=SRTT,
                   cwnd_before=before, cwnd_limited=False)
        now += step
    return now, una


def test_undefined_pipeack_is_validated() -> None:
    cwv = CwndValidation()
    assert cwv.pipe_ack(0.0, SRTT) is None
    assert cwv.validated(0.0, SRTT, 20 * MSS)


def test_non_validated_phase_holds_cwnd_then_halves_it_after_the_nvp() -> None:
    cc = NewReno(MSS)
    cc.cwnd, cc.ssthresh = 20 * MSS, 10 * MSS
    cwv = CwndValidation()
    # First ACK at t=0: the phase starts validated (pipeACK undefined) and the
    # first round begins; growth is kept.
    cc.cwnd += MSS
    cwv.on_ack(cc, now=0.0, una_off=0, high_data_off=0, srtt=SRTT, cwnd_before=20 * MSS,
               cwnd_limited=False)
    assert cc.cwnd == 21 * MSS and cwv.valid_since == 0.0
    cc.cwnd = 20 * MSS
    # 4000 bytes per round: pipeACK = 4000 < 20000 / 2: non-validated; the
    # offered growth is undone on every ACK.
    now, una = rate_limited(cwv, cc, start=0.5, until=NVP)
    assert cwv.pipe_ack(now - 0.5, SRTT) == 4000 and cwv.non_validated
    assert (cc.cwnd, cc.ssthresh) == (20 * MSS, 10 * MSS)
    assert cwv.valid_since == 0.0
    # The first ACK more than NVP (300 s) after the last validation: §4.4.2
    # ssthresh = max(10000, 3/4 * 20000) = 15000, cwnd = max(20000 / 2, IW 4000).
    now, una = rate_limited(cwv, cc, start=now, until=NVP + 0.6, una=una)
    assert (cc.cwnd, cc.ssthresh) == (10 * MSS, 15 * MSS)
    assert cwv.valid_since == NVP
    # Still 4000 < 10000 / 2: after another NVP, cwnd = 5000, ssthresh stays 15000.
    rate_limited(cwv, cc, start=now, until=2 * NVP + 0.6, una=una)
    assert (cc.cwnd, cc.ssthresh) == (5 * MSS, 15 * MSS)


def test_validated_window_grows_and_is_kept() -> None:
    cc = NewReno(MSS)
    cc.cwnd, cc.ssthresh = 20 * MSS, 10 * MSS
    cwv = CwndValidation()
    cwv.on_ack(cc, now=0.0, una_off=0, high_data_off=0, srtt=SRTT, cwnd_before=cc.cwnd,
               cwnd_limited=True)
    una, now = 0, 0.5
    for _ in range(700):  # 350 s of rounds of 12000 bytes >= cwnd / 2
        una += 12 * MSS
        before = cc.cwnd
        cwv.on_ack(cc, now=now, una_off=una, high_data_off=una, srtt=SRTT,
                   cwnd_before=before, cwnd_limited=False)
        now += 0.5
    assert not cwv.non_validated
    assert (cc.cwnd, cc.ssthresh) == (20 * MSS, 10 * MSS)
    assert cwv.valid_since == now - 0.5


def test_cwnd_limited_flight_may_grow_in_the_non_validated_phase() -> None:
    cc = NewReno(MSS)
    cc.cwnd, cc.ssthresh = 20 * MSS, 10 * MSS
    cwv = CwndValidation()
    now, una = rate_limited(cwv, cc, start=0.0, until=2.0)
    held = cc.cwnd  # 21000: grown on the first ACK (validated), held since
    assert cwv.non_validated and held == 21 * MSS
    cc.cwnd += MSS
    cwv.on_ack(cc, now=now, una_off=una + 4000, high_data_off=una + 4000, srtt=SRTT,
               cwnd_before=held, cwnd_limited=True)
    assert cc.cwnd == held + MSS


def test_loss_in_the_non_validated_phase() -> None:
    cc = NewReno(MSS)
    cc.cwnd, cc.ssthresh = 20 * MSS, 10 * MSS
    cwv = CwndValidation()
    now, _ = rate_limited(cwv, cc, start=0.0, until=2.0)
    assert cwv.non_validated and cwv.pipe_ack(now - 0.5, SRTT) == 4000
    # A loss with 6000 bytes in flight; 2000 bytes retransmitted during recovery.
    cwv.on_enter_recovery(6 * MSS)
    cc.on_enter_recovery(6 * MSS, sack=True)
    cwv.retransmitted += 2 * MSS
    cc.on_exit_recovery(3 * MSS)
    cwv.on_exit_recovery(cc, now=now, srtt=SRTT)
    # §4.4.1: cwnd = (max(pipeACK 4000, LossFlightSize 6000) - R 2000) / 2 = 2000.
    assert (cc.cwnd, cc.ssthresh) == (2 * MSS, 2 * MSS)
    assert cwv.pipe_ack(now, SRTT) is None  # undefined again: validated
    assert not cwv.non_validated


def test_loss_in_the_validated_phase_is_the_algorithms_own() -> None:
    cc = NewReno(MSS)
    cc.cwnd, cc.ssthresh = 20 * MSS, 10 * MSS
    cwv = CwndValidation()
    cwv.on_enter_recovery(20 * MSS)  # pipeACK undefined: validated
    cc.on_enter_recovery(20 * MSS, sack=True)
    cwv.retransmitted += 2 * MSS
    cc.on_exit_recovery(15 * MSS)
    cwv.on_exit_recovery(cc, now=1.0, srtt=SRTT)
    assert (cc.cwnd, cc.ssthresh) == (10 * MSS, 10 * MSS)  # NewReno's (RFC 6582)


def test_loss_recovery_counts_what_it_retransmits() -> None:
    rec = LossRecovery("newreno", MSS, cwnd_validation=True)
    cwv = rec.cwv
    assert cwv is not None
    rec.note_retransmission(0, 5000, 1000)
    rec.note_retransmission(1000, 5000, 500)
    assert cwv.retransmitted == 1500
    assert LossRecovery("newreno", MSS).cwv is None


def _idle_then_send(cwnd_validation: bool) -> tuple[int, int]:
    """cwnd of a client that sent 100 kB, before and after it idled 5 s (> RTO) and sent again."""
    net = Network(seed=1)
    config = TcpConfig(cwnd_validation=cwnd_validation)
    client = net.add_host("client", "192.0.2.1", config=config)
    server = net.add_host("server", "192.0.2.2", app=DiscardApp())
    net.link(client, server, delay=0.01)
    server.stack.listen(9)
    conn = client.stack.connect("192.0.2.2", 9, now=0.0)
    net.at(0.1, lambda: conn.send(b"x" * 100_000, now=net.now))
    net.run(until=3.0)
    before = conn.cwnd
    assert conn.in_flight == 0
    net.at(8.0, lambda: conn.send(b"y" * 1000, now=net.now))
    net.run(until=8.0)
    return before, conn.cwnd


def test_idle_restart_is_replaced_by_validation() -> None:
    # RFC 5681 §4.1 restarts from at most IW (3 * 1460) after idle; RFC 7661
    # keeps the cwnd (the non-validated period has only begun).
    before, after = _idle_then_send(False)
    assert before > 20_000 and after == 3 * 1460
    before, after = _idle_then_send(True)
    assert before > 20_000 and after == before
