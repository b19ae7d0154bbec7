"""asyncio streams over tcpstack in the simulator: what a socket programmer relies on."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from pathlib import Path

from aio_helpers import CLIENT, SERVER, flagged, retransmissions, run_sim, segments, states

import tcpstack.aio


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_echo_is_byte_exact_through_loss_reordering_and_duplication() -> None:
    payload = random.Random(1).randbytes(300_000)

    async def main() -> bytes:
        server = await asyncio.start_server(_echo, SERVER, 7)
        reader, writer = await asyncio.open_connection(SERVER, 7)

        async def send() -> None:
            for i in range(0, len(payload), 7000):
                writer.write(payload[i:i + 7000])
                await writer.drain()
            writer.write_eof()

        sender = asyncio.create_task(send())
        echoed = await reader.read()
        await sender
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return echoed

    echoed, net = run_sim(main, loss=0.05, reorder=0.05, duplicate=0.02, delay=0.02, seed=7)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
    # The loss was real: both ends retransmitted.
    assert retransmissions(net, CLIENT) > 0 and retransmissions(net, SERVER) > 0


def test_read_returns_empty_bytes_once_the_peers_fin_arrives() -> None:
    async def main() -> tuple[bytes, bytes, bool]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"bye")
            writer.close()

        server = await asyncio.start_server(serve, SERVER, 80)
        reader, writer = await asyncio.open_connection(SERVER, 80)
        first = await reader.read()  # everything up to the FIN
        again = await reader.read(100)  # "recv() returns 0"
        at_eof = reader.at_eof()
        writer.close()
        server.close()
        return first, again, at_eof

    (first, again, at_eof), net = run_sim(main)
    assert (first, again, at_eof) == (b"bye", b"", True)
    assert flagged(net, SERVER, "FIN")


def test_write_eof_half_closes_while_the_peer_keeps_sending() -> None:
    """The client sends its request and a FIN; the server answers for a long time after."""
    chunks = [bytes([i]) * 10_000 for i in range(20)]

    async def main() -> tuple[bytes, bytes]:
        got_request = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            got_request.set_result(await reader.read())  # up to the client's FIN
            for chunk in chunks:  # still sending after the peer's FIN
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0.05)
            writer.close()

        server = await asyncio.start_server(serve, SERVER, 80)
        reader, writer = await asyncio.open_connection(SERVER, 80)
        assert writer.can_write_eof()
        writer.write(b"request")
        writer.write_eof()
        reply = await reader.read()
        writer.close()
        await writer.wait_closed()
        server.close()
        return await got_request, reply

    (request, reply), net = run_sim(main)
    assert request == b"request"
    assert reply == b"".join(chunks)
    # On the wire: the client's FIN went first, then the server's data followed it.
    client_fin = flagged(net, CLIENT, "FIN")[0]
    server_data = [r for r in segments(net, SERVER) if r.data["len"] > 0]
    assert server_data and all(r.time > client_fin.time for r in server_data)
    assert server_data[-1].time > client_fin.time + 0.5
    # The client kept acknowledging after its FIN: it was in FIN-WAIT-2, reading.
    entered = states(net, CLIENT)
    assert entered.index("FIN-WAIT-2") < entered.index("TIME-WAIT")


def test_close_flushes_the_write_buffer_then_sends_fin() -> None:
    payload = random.Random(2).randbytes(600_000)

    async def main() -> bytes:
        received = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.set_result(await reader.read())
            writer.close()

        server = await asyncio.start_server(serve, SERVER, 80)
        _reader, writer = await asyncio.open_connection(SERVER, 80)
        writer.write(payload)  # more than the send buffer (256 KiB) holds
        assert writer.transport.get_write_buffer_size() > 0
        writer.close()  # no drain: close still sends it all, then a FIN
        await writer.wait_closed()
        data = await received
        server.close()
        return data

    data, net = run_sim(main, loss=0.02, seed=3)
    assert data == payload
    # The FIN takes the sequence number after the last byte of the payload.
    iss = flagged(net, CLIENT, "SYN")[0].data["seq"]
    fin = flagged(net, CLIENT, "FIN")[0]
    assert (fin.data["seq"] + fin.data["len"]) % 2**32 == (iss + 1 + len(payload)) % 2**32
    assert not flagged(net, CLIENT, "RST")


def test_close_sends_fin_and_abort_sends_rst() -> None:
    async def main(abort: bool) -> bytes | BaseException:
        outcome = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                outcome.set_result(await reader.read())
            except ConnectionError as exc:
                outcome.set_result(exc)
            writer.close()

        server = await asyncio.start_server(serve, SERVER, 80)
        _reader, writer = await asyncio.open_connection(SERVER, 80)
        writer.write(b"partial")
        await writer.drain()
        await asyncio.sleep(0.1)
        if abort:
            writer.transport.abort()
        else:
            writer.close()
        result = await outcome
        server.close()
        return result

    closed, net = run_sim(lambda: main(False))
    assert closed == b"partial"
    assert flagged(net, CLIENT, "FIN") and not flagged(net, CLIENT, "RST")

    reset, net = run_sim(lambda: main(True))
    assert isinstance(reset, ConnectionResetError)
    assert flagged(net, CLIENT, "RST") and not flagged(net, CLIENT, "FIN")


def test_many_concurrent_clients() -> None:
    async def main() -> list[bytes]:
        server = await asyncio.start_server(_echo, SERVER, 7)

        async def client(i: int) -> bytes:
            reader, writer = await asyncio.open_connection(SERVER, 7)
            message = f"client {i} ".encode() * (i + 1)
            writer.write(message)
            writer.write_eof()
            reply = await reader.read()
            writer.close()
            return reply if reply == message else b"mismatch"

        replies = await asyncio.gather(*(client(i) for i in range(50)))
        server.close()
        await server.wait_closed()
        return replies

    replies, _net = run_sim(main, loss=0.03, seed=11)
    assert replies == [f"client {i} ".encode() * (i + 1) for i in range(50)]


def test_ipv6_hosts() -> None:
    async def main() -> tuple[bytes, tuple[object, ...]]:
        server = await asyncio.start_server(_echo, "2001:db8::2", 7)
        reader, writer = await asyncio.open_connection("2001:db8::2", 7)
        writer.write(b"over IPv6")
        writer.write_eof()
        reply = await reader.read()
        writer.close()
        server.close()
        return reply, writer.get_extra_info("sockname")

    net = tcpstack.aio.SimulatedNetwork(["2001:db8::1", "2001:db8::2"], loss=0.1, seed=2)
    reply, sockname = tcpstack.aio.run(main(), network=net)
    assert reply == b"over IPv6"
    assert sockname[0] == "2001:db8::1" and len(sockname) == 4


def test_the_trace_draws_and_the_pcap_parses(tmp_path: Path) -> None:
    from rich.console import Console
    from scapy.all import TCP, rdpcap

    from tcpstack.tools.html import render_html
    from tcpstack.tools.ladder import render_ladder

    async def main() -> None:
        server = await asyncio.start_server(_echo, SERVER, 7)
        reader, writer = await asyncio.open_connection(SERVER, 7)
        writer.write(b"draw me")
        writer.write_eof()
        await reader.read()
        writer.close()
        server.close()

    _, net = run_sim(main)
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(render_ladder(net.trace))
    ladder = console.export_text()
    assert "SYN" in ladder and "FIN" in ladder and "TIME-WAIT" in ladder
    assert "<svg" in render_html(net.trace.records)
    count = net.write_pcap(str(tmp_path / "run.pcap"))
    packets = rdpcap(str(tmp_path / "run.pcap"))
    assert len(packets) == count == len([r for r in net.trace if r.event == "segment_sent"])
    assert all(TCP in p for p in packets)
