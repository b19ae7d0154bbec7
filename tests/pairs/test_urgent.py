"""Urgent data (RFC 9293 §3.8.5, MUST-30..33, MUST-62): sent with URG, signalled once, inline."""

from __future__ import annotations

from tcpstack.drivers.sim import Network
from tcpstack.events import Connected, DataReceived, UrgentDataReceived


def run(chunks: list[tuple[bytes, bool]]) -> tuple[Network, bytearray, list[int]]:
    net = Network(seed=1)
    got = bytearray()
    pending_seen: list[int] = []
    signals: list[int] = []

    def client_app(conn, event):  # type: ignore[no-untyped-def]
        if isinstance(event, Connected):
            conn.set_nodelay()
            for data, urgent in chunks:
                conn.send(data, urgent=urgent)

    def server_app(conn, event):  # type: ignore[no-untyped-def]
        if isinstance(event, UrgentDataReceived):
            signals.append(event.pending)
        if isinstance(event, DataReceived):
            pending_seen.append(conn.urgent_pending)
            got.extend(conn.read())

    client = net.add_host("client", "192.0.2.1", app=client_app)
    server = net.add_host("server", "192.0.2.2", app=server_app)
    net.link(client, server, delay=0.01)
    server.stack.listen(9)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 9, now=net.now))
    net.run(until=5.0)
    return net, got, signals


def test_urgent_pointer_names_the_first_non_urgent_octet() -> None:
    net, got, signals = run([(b"normal ", False), (b"URGENT", True)])
    assert bytes(got) == b"normal URGENT"  # inline, in order (MUST-31)
    data = [r for r in net.trace if r.host == "client" and r.event == "segment_sent"
            and r.data["len"]]
    assert len(data) == 1
    (seg,) = data
    assert "URG" in seg.data["flags"]
    # The segment's payload ends with the urgent bytes: the pointer is SEG.SEQ + 13.
    received = [r for r in net.trace if r.host == "server" and r.event == "segment_received"
                and r.data["len"]]
    assert received and signals == [13]  # everything up to the pointer is unread urgent data


def test_signalled_once_per_urgent_sequence() -> None:
    net, got, signals = run([(b"x" * 3000, True)])  # spans three segments, all with URG
    urg_segments = [r for r in net.trace if r.host == "client" and r.event == "segment_sent"
                    and "URG" in r.data["flags"]]
    assert len(urg_segments) == 3
    assert len(signals) == 1  # MUST-32: signal, but not again for the same urgent data
    assert bytes(got) == b"x" * 3000


def test_no_urg_after_the_urgent_data_is_acknowledged() -> None:
    net, got, signals = run([(b"!", True)])
    later = [r for r in net.trace if r.host == "client" and r.event == "segment_sent"
             and r.time > 0.5]
    assert all("URG" not in r.data["flags"] for r in later)
    assert signals == [1] and bytes(got) == b"!"
