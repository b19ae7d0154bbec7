"""Zero-copy send payloads: a segment's payload is a view of the send buffer,
and the packet's join with its headers is the payload's only copy.

:class:`~tcpstack.buffers.SendBuffer` holds immutable chunks (the ``bytes``
an application wrote, kept as they are) and gathers small writes in an open
tail; :meth:`SendBuffer.take` returns a read-only ``memoryview`` of one
chunk, or a copy when the bytes span chunks or lie in the tail. Checked
here: against a plain ``bytes`` model, for the identity of the bytes
segments carry, for copies of mutable input, and for segments whose
payload is a view behaving as one whose payload is ``bytes`` (equality,
hash, repr, pickling, every encoder).
"""

from __future__ import annotations

import pickle
from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st
from tcp_script import Script

from tcpstack.buffers import TAIL_SEAL, SendBuffer
from tcpstack.wire import (
    NOP,
    Flags,
    Mss,
    PacketEncoder,
    PartialChecksumEncoder,
    Sack,
    Segment,
    Timestamps,
    decode_packet,
)

SIZES = st.sampled_from([1, 7, TAIL_SEAL - 1, TAIL_SEAL, TAIL_SEAL + 1, 1448, 20_000, 70_000])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), SIZES, st.booleans(), st.integers(0, 2**20)),
                max_size=60),
       st.integers(0, 2**32 - 1))
def test_send_buffer_matches_a_bytes_model(actions: list[tuple[int, int, bool, int]],
                                           head_seq: int) -> None:
    """Appends (``bytes`` and ``bytearray``, sizes around the tail's seal),
    acknowledgments and takes: the buffer holds exactly the unacknowledged bytes,
    and every take (view or copy) equals the model's slice."""
    buf = SendBuffer(head_seq=head_seq)
    model = b""
    written = 0
    counter = 0
    for kind, size, mutable, pick in actions:
        if kind == 0:
            counter += 1
            data = bytes((counter + i) & 0xFF for i in range(size))
            n = buf.append(bytearray(data) if mutable else data, capacity=200_000)
            assert n == min(size, 200_000 - len(model))
            model += data[:n]
            written += n
        elif kind == 1 and model:
            n = pick % len(model) + 1
            assert buf.acknowledge(buf.seq(buf.head_off + n)) == n
            model = model[n:]
        elif model:
            index = pick % len(model)
            got = buf.take(index, size)
            assert got == model[index:index + size]
            assert bytes(got) == model[index:index + size]
        assert len(buf) == len(model) and buf.end_off == written
        assert buf.end_seq == (head_seq + written) & 0xFFFFFFFF
    restored = pickle.loads(pickle.dumps(buf))  # the fuzzer pickles whole stacks
    assert restored.take(0, len(model)) == model and len(restored) == len(model)
    assert buf.acknowledge(buf.end_seq) == len(model)
    assert len(buf) == 0 and buf.take(0, 10) == b""


def test_a_large_write_is_held_as_written_and_sent_as_views() -> None:
    """The bytes object written is the one the segments' payloads look into."""
    buf = SendBuffer(head_seq=1)
    data = bytes(range(256)) * 64  # 16 KiB, above the tail's seal
    assert buf.append(data, 1 << 20) == len(data)
    view = buf.take(1460, 1460)
    assert isinstance(view, memoryview) and view.readonly
    assert view.obj is data and view == data[1460:2920]


def test_mutable_input_is_copied_once_at_append() -> None:
    """A bytearray (or a writable view) the application reuses after send() must
    not change what the buffer holds."""
    buf = SendBuffer(head_seq=1)
    data = bytearray(b"x" * 10_000)
    buf.append(data, 1 << 20)
    buf.append(memoryview(data)[:TAIL_SEAL + 10], 1 << 20)
    data[:] = b"y" * 10_000
    assert buf.take(0, 20_000) == b"x" * (10_000 + TAIL_SEAL + 10)


def test_small_writes_gather_in_the_tail_and_span_chunks() -> None:
    """Writes below the seal are gathered (one chunk per TAIL_SEAL bytes, not one
    per write), and takes across chunk and tail boundaries are exact."""
    buf = SendBuffer(head_seq=1)
    model = bytearray()
    for i in range(3 * TAIL_SEAL + 5):
        byte = bytes([i & 0xFF])
        buf.append(byte, 1 << 20)
        model += byte
    big = bytes(range(200)) * 30
    buf.append(big, 1 << 20)
    model += big
    for start in range(0, len(model), 997):
        assert buf.take(start, 3000) == bytes(model[start:start + 3000])
    whole = buf.take(0, len(model))
    assert whole == bytes(model)


def test_connection_segments_carry_views_of_what_the_application_wrote(
        established: Script) -> None:
    """End to end in ESTABLISHED: the data segments a connection sends look into
    the application's bytes; the packet built from them is byte-identical to one
    built from a bytes copy of the payload."""
    conn = established.conn
    data = bytes(range(251)) * 40  # 10,040 bytes
    assert conn.send(data, 0.2) == len(data)
    out = conn.packets_to_send(0.2)
    payloads = [seg.payload for seg in out if seg.payload]
    assert payloads and b"".join(payloads) == data[:sum(len(p) for p in payloads)]
    views = [p for p in payloads if isinstance(p, memoryview)]
    assert views and all(v.obj is data for v in views)
    encoder = PacketEncoder(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"))
    for seg in out:
        copy = Segment(seg.src_port, seg.dst_port, seg.seq, seg.ack, seg.flags, seg.window,
                       seg.urgent, seg.options, bytes(seg.payload), seg.ecn)
        assert encoder.encode(seg) == encoder.encode(copy)


def _segments(payload: bytes | memoryview) -> list[Segment]:
    ts = (NOP, NOP, Timestamps(123456, 654321))
    return [
        Segment(1000, 80, 1, 2, Flags.ACK | Flags.PSH, 512, payload=payload),
        Segment(1000, 80, 1, 2, Flags.ACK, 512, options=ts, payload=payload),
        Segment(1000, 80, 1, 2, Flags.ACK, 512, options=(*ts, NOP, NOP, Sack(((5, 9),))),
                payload=payload, ecn=2),
        Segment(1000, 80, 1, 2, Flags.SYN, 512, options=(Mss(1460),), payload=payload),
    ]


def test_a_view_payload_behaves_as_its_bytes() -> None:
    """Equality, hash, repr and pickling of a segment whose payload is a view are
    those of the same segment with ``bytes``; every encoder gives the same packet
    (and it decodes to the same segment)."""
    raw = bytes(range(256)) * 6 + b"odd"
    view = memoryview(raw)[3:1001]
    pairs = list(zip(_segments(view), _segments(raw[3:1001]), strict=True))
    addresses = [(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")),
                 (IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2"))]
    for seg, plain in pairs:
        assert seg == plain and hash(seg) == hash(plain) and repr(seg) == repr(plain)
        back = pickle.loads(pickle.dumps(seg))
        assert back == plain and type(back.payload) is bytes
        for src, dst in addresses:
            assert seg.encode(src, dst) == plain.encode(src, dst)
            for encoder in (PacketEncoder(src, dst), PartialChecksumEncoder(src, dst)):
                packet = encoder.encode(seg)
                assert packet == encoder.encode(plain)
            decoded = decode_packet(PacketEncoder(src, dst).encode(seg))[1]
            assert decoded == plain
