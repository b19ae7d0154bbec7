"""Whole sequences: the final ACK of the three-way handshake is lost."""

from __future__ import annotations

from tcpstack.drivers.sim import Network, PacketInfo
from tcpstack.events import Connected, ConnectionClosed
from tcpstack.state import State
from tcpstack.wire import Flags


def first_pure_ack(p: PacketInfo) -> bool:
    return p.src == "client" and p.segment.flags == Flags.ACK and not p.segment.payload


def pair() -> tuple[Network, object, object]:
    net = Network(seed=1)
    client = net.add_host("client", "192.0.2.1")
    server = net.add_host("server", "192.0.2.2")
    net.link(client, server, delay=0.01)
    server.stack.listen(80)
    return net, client, server


def test_lost_final_ack_with_an_idle_client() -> None:
    """The server retransmits its SYN-ACK; the client answers the duplicate with an ACK."""
    net, client, _server = pair()
    net.drop_first(first_pure_ack)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 80, now=net.now))  # type: ignore[attr-defined]
    net.run(until=5.0)
    server_sent = [r for r in net.trace if r.host == "server" and r.event == "segment_sent"]
    assert [r.data["flags"] for r in server_sent] == [["SYN", "ACK"], ["SYN", "ACK"]]
    assert server_sent[1].time - server_sent[0].time == 1.0  # RTO
    established = [r for r in net.trace if r.host == "server" and r.event == "state_updated"
                   and r.data["new"] == "ESTABLISHED"]
    assert len(established) == 1 and established[0].time == server_sent[1].time + 0.02
    client_acks = [r for r in net.trace if r.host == "client" and r.event == "segment_sent"
                   and r.data["flags"] == ["ACK"]]
    assert len(client_acks) == 2  # the lost one and the answer to the duplicate SYN-ACK


def test_lost_final_ack_data_completes_the_handshake() -> None:
    """The client's first data segment carries the ACK and completes the handshake."""
    net, client, server = pair()
    net.drop_first(first_pure_ack)
    got = bytearray()

    def server_app(conn, event):  # type: ignore[no-untyped-def]
        got.extend(conn.read())
        if conn.at_eof and conn.state is State.CLOSE_WAIT:
            conn.close()

    def client_app(conn, event):  # type: ignore[no-untyped-def]
        if isinstance(event, Connected):
            conn.set_nodelay()
            conn.send(b"hello")
            conn.close()

    server.app = server_app  # type: ignore[attr-defined]
    client.app = client_app  # type: ignore[attr-defined]
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 80, now=net.now))  # type: ignore[attr-defined]
    net.run()
    assert bytes(got) == b"hello"
    states = [r.data["new"] for r in net.trace if r.host == "server" and r.event == "state_updated"]
    assert states[:2] == ["SYN-RECEIVED", "ESTABLISHED"]
    first_data = next(r for r in net.trace if r.host == "server" and r.event == "segment_received"
                      and r.data["len"])
    established = next(r for r in net.trace if r.host == "server" and r.event == "state_updated"
                       and r.data["new"] == "ESTABLISHED")
    assert established.time == first_data.time < 1.0  # no SYN-ACK retransmission needed
    assert any(isinstance(e, ConnectionClosed) for _, _, e in server.events)  # type: ignore[attr-defined]
    assert all(c.state is State.CLOSED for c in server.stack.connections)  # type: ignore[attr-defined]
