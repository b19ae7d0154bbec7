"""The trace holds the TCB after every step (``metrics_updated``) and the end of stream
(``read`` returning 0): what the viewer's TCB panels and lifelines are drawn from."""

from __future__ import annotations

from typing import Any

from tcpstack.drivers.apps import EchoApp, SendClient
from tcpstack.drivers.sim import Network
from tcpstack.tcb import TRACED_TCB
from tcpstack.trace import TraceRecord


def _echo_run(data: bytes = b"x" * 5000, *, loss: float = 0.0) -> tuple[Network, SendClient]:
    net = Network(seed=4)
    app = SendClient(data)
    client = net.add_host("client", "192.0.2.1", app=app)
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    net.link(client, server, delay=0.01, loss=loss)
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 7, now=net.now))
    net.run(until=500.0)
    return net, app


def _tcb_before(records: list[TraceRecord], index: int, host: str) -> dict[str, Any]:
    """The latest metrics_updated of ``host`` before record ``index``."""
    for r in reversed(records[:index]):
        if r.host == host and r.event == "metrics_updated":
            return r.data
    raise AssertionError(f"no TCB traced on {host} before record {index}")


def test_every_metrics_record_carries_every_tcb_variable() -> None:
    net, _ = _echo_run()
    metrics = net.trace.select("metrics_updated")
    assert metrics
    assert all(tuple(r.data) == TRACED_TCB for r in metrics)


def test_the_latest_tcb_record_matches_each_segment_sent() -> None:
    """Every segment leaves with SEQ <= SND.NXT and carries ACK = RCV.NXT of the
    latest traced TCB of its sender (the record follows the transmission)."""
    net, app = _echo_run(b"y" * 60_000, loss=0.05)
    assert app.received == b"y" * 60_000
    records = net.trace.records
    checked = 0
    for i, r in enumerate(records):
        if r.event != "segment_sent" or "ACK" not in r.data["flags"] or "RST" in r.data["flags"]:
            continue
        # The TCB record that follows this batch of transmissions, if any came later.
        after = next((x for x in records[i + 1:] if x.host == r.host
                      and x.event in ("metrics_updated", "segment_received")), None)
        tcb = after.data if after is not None and after.event == "metrics_updated" \
            else _tcb_before(records, i, r.host)
        assert r.data["ack"] == tcb["rcv_nxt"], r
        checked += 1
    assert checked > 20


def test_snd_una_follows_the_acks_received() -> None:
    net, _ = _echo_run()
    records = net.trace.records
    client = [(i, r) for i, r in enumerate(records) if r.host == "client"]
    last_ack = max(r.data["ack"] for _, r in client if r.event == "segment_received"
                   and "ACK" in r.data["flags"])
    final = [r for _, r in client if r.event == "metrics_updated"][-1]
    assert final.data["snd_una"] == last_ack == final.data["snd_nxt"]


def test_read_returning_end_of_stream_is_traced_once() -> None:
    net, app = _echo_run(b"hello")
    assert app.received == b"hello"
    eof = [r for r in net.trace.select("app", host="client")
           if r.data.get("call") == "read" and r.data.get("eof")]
    assert len(eof) == 1 and eof[0].data["bytes"] == 0
    fin_in = next(r for r in net.trace.select("segment_received", host="client")
              if "FIN" in r.data["flags"])
    assert eof[0].time >= fin_in.time
