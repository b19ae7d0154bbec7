"""What the core reports to a congestion control algorithm, pinned with recording
fake algorithms; choosing the algorithm per connection; the metrics it adds."""

from __future__ import annotations

import pytest

from tcpstack import congestion
from tcpstack.config import TcpConfig
from tcpstack.congestion import AckSample, NewReno
from tcpstack.connection import Connection
from tcpstack.drivers.apps import DiscardApp, SendClient
from tcpstack.drivers.sim import Host, Network
from tcpstack.recovery import LossRecovery
from tcpstack.tcb import TRACED_TCB

SEG = 1000
SIZE = 200 * SEG
BANDWIDTH = 8_000_000  # bits/s: 1,000,000 bytes/s


class Recorder(NewReno):
    """NewReno that keeps every AckSample (no samples asked for)."""

    name = "recorder-test"

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.samples: list[AckSample] = []

    def on_ack(self, sample: AckSample) -> None:
        self.samples.append(sample)
        super().on_ack(sample)


class Sampler(Recorder):
    """The same, asking for per-ACK RTTs and delivery-rate samples."""

    name = "sampler-test"
    needs_samples = True

    @property
    def phase(self) -> str:
        return "sampling"


class Gentle(NewReno):
    """Another multiplicative decrease (beta 0.7, as CUBIC) and its own exit rule."""

    name = "gentle-test"

    def on_enter_recovery(self, flight_size: int, *, sack: bool) -> None:
        self.ssthresh = max(flight_size * 7 // 10, 2 * self.mss)
        self.cwnd = self.ssthresh

    def on_partial_ack(self, acked: int) -> None:
        pass

    def on_exit_recovery(self, flight_size: int) -> None:
        self.cwnd = self.ssthresh + 123  # nothing NewReno would compute


@pytest.fixture(autouse=True)
def _register(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (Recorder, Sampler, Gentle):
        monkeypatch.setitem(congestion.ALGORITHMS, cls.name, cls)


def _run(algorithm: str, *, loss: float = 0.0, seed: int = 5, sack: bool = True,
         ) -> tuple[Network, Host, Connection]:
    net = Network(seed=seed)
    config = TcpConfig(mss=SEG, timestamps=False, congestion_control=algorithm, sack=sack)
    client = net.add_host("client", "192.0.2.1", config=config, app=SendClient(b"d" * SIZE))
    server = net.add_host("server", "192.0.2.2", config=TcpConfig(mss=SEG, timestamps=False),
                          app=DiscardApp())
    net.link(client, server, delay=0.02, bandwidth=BANDWIDTH, queue_limit=100, loss=loss)
    server.stack.listen(9)
    conn = client.stack.connect("192.0.2.2", 9, now=0.0)
    net.run(until=60.0)
    return net, client, conn


def test_newreno_pays_for_no_samples() -> None:
    _, _, conn = _run(Recorder.name, loss=0.02)
    cc = conn.recovery.cc
    assert isinstance(cc, Recorder)
    assert conn.recovery.ext is None  # no per-segment records, no extras at all
    samples = cc.samples
    assert samples and all(s.acked > 0 and s.rate is None for s in samples)  # SACK-only: none
    # delivered = SND.UNA's offset + SACKed above it: never back, all in the end
    # (the FIN's octet too).
    delivered = [s.delivered for s in samples]
    assert delivered == sorted(delivered) and delivered[-1] == SIZE + 1
    # RTT: the RFC 6298 samples, about one per round trip.
    rtts = [s.rtt for s in samples if s.rtt is not None]
    assert 0 < len(rtts) < len(samples) / 2
    assert all(0.04 <= r < 1.0 for r in rtts)
    assert any(s.sacked > 0 for s in samples)


def test_sampling_algorithm_gets_rtt_delivered_and_rate_per_ack() -> None:
    _, _, conn = _run(Sampler.name, loss=0.02)
    cc = conn.recovery.cc
    assert isinstance(cc, Sampler)
    samples = cc.samples
    sack_only = [s for s in samples if s.acked == 0]
    assert sack_only and all(s.sacked > 0 for s in sack_only)  # SACK-only ACKs reach it
    delivered = [s.delivered for s in samples]
    assert delivered == sorted(delivered) and delivered[-1] == SIZE  # data bytes only
    # Nearly every ACK has an RTT (not only those of retransmitted data).
    assert sum(s.rtt is not None for s in samples) > 0.8 * len(samples)
    assert all(s.rtt >= 0.04 for s in samples if s.rtt is not None)  # 2 x 20 ms at least
    rates = [s.rate for s in samples if s.rate is not None]
    assert len(rates) > 0.5 * len(samples)
    # No sample beats the bottleneck (1,000,000 bytes/s) by more than a packet's
    # worth of timing error.
    assert max(r.delivery_rate for r in rates) <= 1.05 * BANDWIDTH / 8
    assert all(r.interval > 0 and r.delivered > 0 and r.prior_in_flight >= 0 for r in rates)


def test_app_limited_samples_are_reported() -> None:
    # The client sends 200 kB and stops: the last round trips are application-limited.
    _, _, conn = _run(Sampler.name)
    cc = conn.recovery.cc
    assert isinstance(cc, Sampler)
    rates = [s.rate for s in cc.samples if s.rate is not None]
    assert any(r.app_limited for r in rates) and not all(r.app_limited for r in rates)
    # Without loss slow start fills the path: the best samples measure the
    # bottleneck (1,000,000 bytes/s), none beats it by more than timing error.
    best = max(r.delivery_rate for r in rates if not r.app_limited)
    assert 0.8 * BANDWIDTH / 8 <= best <= 1.05 * BANDWIDTH / 8


def test_recovery_hooks_carry_the_algorithms_own_numbers() -> None:
    rec = LossRecovery(Gentle.name, SEG)
    rec.cc.cwnd = 20 * SEG
    for _ in range(3):
        rec.on_duplicate_ack(una_off=0, high_data_off=20 * SEG, in_flight=20 * SEG,
                             unsent=0, mss=SEG, dupthresh=3)
    assert rec.in_recovery and (rec.cc.ssthresh, rec.cc.cwnd) == (14 * SEG, 14 * SEG)
    rec.on_new_ack(acked=20 * SEG, una_off=20 * SEG, in_flight=0, now=1.0,
                   high_data_off=20 * SEG)
    assert not rec.in_recovery and rec.cc.cwnd == 14 * SEG + 123


def test_metrics_fields_in_a_run() -> None:
    net, _, _ = _run("newreno", loss=0.02)
    records = net.trace.select("metrics_updated", host="client")
    assert all(tuple(r.data) == TRACED_TCB for r in records)
    phases = {r.data["phase"] for r in records}
    assert {"slow_start", "recovery"} <= phases <= {"slow_start", "avoidance", "recovery", "loss"}
    assert {r.data["congestion_control"] for r in records} == {"newreno"}
    assert all(r.data["pacing_rate"] is None and r.data["delivery_rate"] is None
               for r in records)
    # in_flight is SND.MAX - SND.UNA: never above what the windows allowed.
    assert max(r.data["in_flight"] for r in records) > 10 * SEG
    assert records[-1].data["in_flight"] == 0


def test_metrics_of_a_sampling_algorithm() -> None:
    net, _, _ = _run(Sampler.name)
    records = net.trace.select("metrics_updated", host="client")
    assert {r.data["phase"] for r in records} == {"sampling"}
    rates = [r.data["delivery_rate"] for r in records if r.data["delivery_rate"] is not None]
    assert rates and max(rates) <= 1.05 * BANDWIDTH / 8


def test_set_congestion_control() -> None:
    net, _, conn = _run("newreno")
    cwnd, ssthresh = conn.cwnd, conn.ssthresh
    conn.set_congestion_control(Sampler.name)
    assert isinstance(conn.recovery.cc, Sampler)
    assert (conn.cwnd, conn.ssthresh) == (cwnd, ssthresh)
    assert conn.config.congestion_control == Sampler.name
    assert conn.recovery.rate is not None  # samples from now on
    with pytest.raises(ValueError, match=r"unknown congestion control 'nope'; known: newreno"):
        conn.set_congestion_control("nope")
    assert isinstance(conn.recovery.cc, Sampler)
    last = net.trace.select("metrics_updated", host="client")[-1]
    assert last.data["congestion_control"] == Sampler.name
    assert net.trace.select("app", host="client")[-1].data == {
        "call": "set_congestion_control", "name": Sampler.name}


def test_switch_mid_transfer_keeps_going() -> None:
    net = Network(seed=2)
    config = TcpConfig(mss=SEG, timestamps=False)
    app = SendClient(b"s" * SIZE)
    client = net.add_host("client", "192.0.2.1", config=config, app=app)
    server = net.add_host("server", "192.0.2.2", config=TcpConfig(mss=SEG, timestamps=False),
                          app=DiscardApp())
    net.link(client, server, delay=0.02, bandwidth=BANDWIDTH, queue_limit=100)
    server.stack.listen(9)
    conn = client.stack.connect("192.0.2.2", 9, now=0.0)
    net.at(0.3, lambda: conn.set_congestion_control(Sampler.name))
    net.run(until=60.0)
    cc = conn.recovery.cc
    assert isinstance(cc, Sampler) and cc.samples
    assert app.sent == SIZE and conn.stats.get("retrans_segs", 0) == 0
    assert [s.rate for s in cc.samples if s.rate is not None]
