"""Send and receive buffers, and the one mapping between their coordinate systems.

Three coordinate systems meet in a TCP buffer, and each name here says which
one it is in (``../shared/STYLE.md``):

* ``*_seq``: sequence numbers, modulo 2**32 (RFC 9293 §3.4), compared with
  :mod:`tcpstack.seq` only;
* ``*_off``: stream offsets, Python ints that never wrap: byte 0 is the
  first data byte of the direction (the one after the SYN);
* ``*_index``: positions in the bytes a buffer holds now.

:class:`SendBuffer` holds what the application wrote and the peer has not
acknowledged; :class:`ReceiveBuffer` holds what arrived and the application
has not read, the out-of-order blocks beyond a hole (SHLD-31), and owns
RCV.NXT and the right edge of the window last advertised (RFC 9293 §3.3.1,
§3.8.6). Both allocate their byte storage only while it holds bytes. Sizes
are bytes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from .reassembly import Held, ReassemblyQueue
from .seq import SEQ_HALF, SEQ_MASK, seq_add, seq_diff, seq_le, seq_lt

MAX_UNSCALED_WINDOW = 65535
"""The largest window a 16-bit field holds (RFC 9293 §3.1)."""

# seq_diff(a, b) written inline as ``((a - b + SEQ_HALF) & SEQ_MASK) - SEQ_HALF`` (the
# same signed distance in [-2**31, 2**31)) in the coordinate mappings below,
# which run several times per packet: a Python call fewer each (off, index,
# beyond, end_seq, rcv_wnd: about 8 per sim_bulk packet, 50 per churn lifecycle).
_SACK_ARRIVALS_KEPT = 4
"""Arrivals remembered for the next SACK option (an option holds at most 4 blocks)."""


class _Held:
    """The bytes a :class:`SendBuffer` holds, as immutable chunks and one open tail.

    What it saves: the payload of a segment is a read-only ``memoryview`` of
    one chunk (:meth:`SendBuffer.take`), so a packet's only copy of its
    payload is the join with its headers (:class:`~tcpstack.wire.ip.PacketEncoder`),
    and a ``bytes`` the application writes is kept as it is, not copied in.
    A view of a ``bytearray`` would stop it from growing or shrinking, hence
    immutable chunks: ``bytes`` objects, never changed once held.

    * ``chunks[first:]``: the sealed chunks, oldest first; ``ends[i]`` is the
      stream offset one past ``chunks[i]``, and ``base`` the stream offset of
      ``chunks[0]``'s first byte. Chunks wholly acknowledged are skipped
      (``first``) and cut off once they are as many as the others.
    * ``tail``: small writes gathered in a ``bytearray`` from stream offset
      ``tail_off`` (a chunk per 1-byte write would cost 50 bytes per byte
      held); it is sealed into a chunk when it reaches :data:`TAIL_SEAL`
      bytes or a large write follows it. Takes from the tail are copies.
    * ``end``: the stream offset one past the last byte written.
    """

    __slots__ = ("base", "chunks", "end", "ends", "first", "tail", "tail_off")

    def __init__(self, off: int) -> None:
        self.chunks: list[bytes] = []
        self.ends: list[int] = []
        self.first = 0
        self.base = off
        self.tail = bytearray()
        self.tail_off = off
        self.end = off

    def add(self, data: bytes) -> None:
        """Hold ``data`` (bytes, the caller's own copy or an immutable object) after the rest."""
        size = len(data)
        tail = self.tail
        if size < TAIL_SEAL:
            tail += data
            if len(tail) >= TAIL_SEAL:
                self.seal()
        else:
            if tail:
                self.seal()
            self.chunks.append(data)
            self.ends.append(self.end + size)
            self.tail_off += size
        self.end += size

    def seal(self) -> None:
        """Make the tail a chunk (its one copy) and open an empty one."""
        tail = self.tail
        self.chunks.append(bytes(tail))
        self.tail_off += len(tail)
        self.ends.append(self.tail_off)
        tail.clear()

    def view(self, off: int, end: int) -> bytes | memoryview:
        """The bytes of stream offsets ``[off, end)`` (all held): a read-only view
        of one chunk when they lie in one, else a copy."""
        tail_off = self.tail_off
        if off >= tail_off:
            with memoryview(self.tail) as v:
                return bytes(v[off - tail_off:end - tail_off])
        ends = self.ends
        i = bisect_right(ends, off, self.first)
        start = ends[i - 1] if i else self.base
        stop = ends[i]
        if end <= stop:
            return memoryview(self.chunks[i])[off - start:end - start]
        chunks = self.chunks
        last = len(chunks)
        if i + 1 < last and end <= ends[i + 1]:  # across two chunks: one copy
            return b"".join((memoryview(chunks[i])[off - start:],
                             memoryview(chunks[i + 1])[:end - stop]))
        pieces: list[bytes | memoryview] = []
        while off < end:
            if i == last:
                with memoryview(self.tail) as v:
                    pieces.append(bytes(v[off - tail_off:end - tail_off]))
                break
            stop = min(end, ends[i])
            pieces.append(memoryview(chunks[i])[off - start:stop - start])
            off = start = ends[i]
            i += 1
        return b"".join(pieces)

    def drop(self, head_off: int) -> None:
        """Forget the chunks wholly before stream offset ``head_off`` (acknowledged).
        The tail keeps its acknowledged front (under :data:`TAIL_SEAL` bytes) until
        it is sealed or the buffer empties."""
        ends = self.ends
        first = self.first
        last = len(ends)
        while first < last and ends[first] <= head_off:
            first += 1
        if first and first >= last - first:  # cut skipped chunks off: amortised O(1)
            self.base = ends[first - 1]
            del self.chunks[:first]
            del ends[:first]
            first = 0
        self.first = first


TAIL_SEAL = 1024
"""Bytes (exclusive) below which a write joins the send buffer's open tail
instead of becoming a chunk of its own; the tail is sealed at this size."""


class SendBuffer:
    """Bytes written by the application and not yet acknowledged (RFC 9293 §3.10.2).

    The buffer starts at ``head_seq`` (the sequence number of its first
    byte) and ``head_off`` (that byte's stream offset); acknowledgments move
    both forward. The FIN, once queued, takes the sequence number right
    after the last byte (:attr:`fin_seq`).

    Args:
        head_seq: sequence number of the first data byte: ISS + 1.

    Attributes:
        head_seq: sequence number of the oldest unacknowledged data byte.
        head_off: its stream offset (data bytes acknowledged so far).
        fin_queued: the application closed: a FIN follows the data (§3.10.4).
        short: a ``send()`` was cut short by a full buffer; cleared when the
            application is told there is room again.
        up_off: SND.UP as a stream offset (the first non-urgent byte,
            MUST-62), or None outside urgent mode (§3.8.5).
    """

    __slots__ = ("_data", "_push", "fin_queued", "head_off", "head_seq", "short", "up_off")

    def __init__(self, head_seq: int) -> None:
        self._data: _Held | None = None  # None while empty: no storage held
        self.head_seq = head_seq
        self.head_off = 0
        self.fin_queued = False
        self.short = False
        self.up_off: int | None = None
        self._push: int | None = None  # end of the newest pushed SEND (stream offset)

    def __len__(self) -> int:
        """Bytes held: sent and unacknowledged, plus not yet sent."""
        held = self._data
        return held.end - self.head_off if held is not None else 0

    # (The methods below read the held bytes' end directly rather than through
    # len(self), whose __len__ is a Python call: about 6 calls per packet of a
    # bulk sender, with index() and max() inlined where they were used.)

    @property
    def end_off(self) -> int:
        """Stream offset one past the last byte written."""
        held = self._data
        return held.end if held is not None else self.head_off

    @property
    def end_seq(self) -> int:
        """Sequence number one past the last byte written: our FIN's, once queued."""
        held = self._data
        if held is None:
            return self.head_seq
        return (self.head_seq + held.end - self.head_off) & SEQ_MASK  # seq_add

    @property
    def fin_seq(self) -> int:
        """Our FIN's sequence number, once queued: :attr:`end_seq`."""
        return self.end_seq

    def space(self, capacity: int) -> int:
        """Bytes ``append`` would accept into a buffer of ``capacity`` bytes."""
        held = self._data
        free = capacity - (held.end - self.head_off) if held is not None else capacity
        return free if free > 0 else 0

    def append(self, data: bytes | bytearray | memoryview, capacity: int) -> int:
        """Queue as much of ``data`` as fits in ``capacity`` bytes; return how much.

        Marks the buffer :attr:`short` when ``data`` did not fit. A ``bytes``
        is held as it is (no copy); a mutable buffer is copied, since its owner
        may change it afterwards.
        """
        n = min(len(data), self.space(capacity))
        if n < len(data):
            self.short = True
        if n:
            chunk = data[:n] if n < len(data) else data
            if type(chunk) is not bytes:  # a mutable buffer of the caller's: copy it
                chunk = bytes(chunk)
            held = self._data
            if held is None:
                held = self._data = _Held(self.head_off)
            held.add(chunk)
        return n

    def mark_push(self) -> None:
        """The data written so far was SENT with the PUSH flag (§3.9.1.2): the segment
        that carries its last byte gets PSH. Successive push points collapse into
        the newest (SHLD-27; RFC 1122 §4.2.2.2: the PSH bit is no record marker)."""
        self._push = self.end_off

    def pushes(self, start_off: int, end_off: int) -> bool:
        """Whether the data ``[start_off, end_off)`` ends the newest pushed SEND."""
        push = self._push
        return push is not None and start_off < push <= end_off

    def pushed_beyond(self, off: int) -> bool:
        """Whether pushed data lies beyond stream offset ``off``."""
        push = self._push
        return push is not None and push > off

    def off(self, seq: int) -> int:
        """Stream offset of sequence number ``seq``."""
        return self.head_off + ((seq - self.head_seq + SEQ_HALF) & SEQ_MASK) - SEQ_HALF

    def seq(self, off: int) -> int:
        """Sequence number of stream offset ``off``."""
        return seq_add(self.head_seq, off - self.head_off)

    def index(self, seq: int) -> int:
        """Buffer index of sequence number ``seq`` (negative before the head)."""
        return ((seq - self.head_seq + SEQ_HALF) & SEQ_MASK) - SEQ_HALF

    def beyond(self, seq: int) -> int:
        """Bytes held from sequence number ``seq`` on: ``len(self) - self.index(seq)``
        (more than ``len(self)`` before the head), in one call instead of three."""
        held = self._data
        end = held.end - self.head_off if held is not None else 0
        return end - (((seq - self.head_seq + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)

    def take(self, index: int, n: int) -> bytes | memoryview:
        """Up to ``n`` bytes from buffer index ``index`` (fewer at the end of the data).

        A read-only ``memoryview`` of the held bytes when they lie in one chunk
        (no copy: see :class:`_Held`), else ``bytes``; both compare equal to
        the ``bytes`` they hold. ``bytes(...)`` of the result is a copy that
        outlives nothing: the view keeps only its immutable chunk alive.
        """
        held = self._data
        if held is None or n <= 0:
            return b""
        off = self.head_off + index
        end = min(off + n, held.end)
        if off >= end:
            return b""
        return held.view(off, end)

    def unsent(self, snd_nxt: int) -> int:
        """Bytes held beyond SND.NXT (written, never sent or to be sent again)."""
        beyond = self.beyond(snd_nxt)  # len(self) - index, without the held bytes' clamps
        if beyond <= 0:
            return 0
        held = self._data
        size = held.end - self.head_off if held is not None else 0
        return beyond if beyond < size else size

    def acknowledge(self, ack_seq: int) -> int:
        """SND.UNA moved to ``ack_seq``: drop the acknowledged bytes; return how many.

        Urgent mode ends once SND.UP is acknowledged (§3.8.5).
        """
        held = self._data
        if held is None:
            return 0
        n = seq_diff(ack_seq, self.head_seq)  # index(), clamped to [0, len(self)]
        if n <= 0:
            return 0
        if n > held.end - self.head_off:
            n = held.end - self.head_off
        if n:
            head_off = self.head_off + n
            if head_off == held.end:
                self._data = None  # hold no storage while empty
            else:
                held.drop(head_off)
            self.head_seq = seq_add(self.head_seq, n)
            self.head_off = head_off
            if self.up_off is not None and self.head_off >= self.up_off:
                self.up_off = None
            if self._push is not None and self._push <= self.head_off:
                self._push = None
        return n

    def urgent_pointer(self, off: int) -> int:
        """The urgent pointer for a segment starting at stream offset ``off``.

        The offset from the segment's first byte to SND.UP, at most 65535;
        0 when the segment carries no urgent data (§3.8.5, MUST-30/31).
        """
        if self.up_off is None or off >= self.up_off:
            return 0
        return min(self.up_off - off, 0xFFFF)


class ReceiveBuffer:
    """Received data not yet read, RCV.NXT and the advertised window (RFC 9293 §3.8.6).

    The stream offset of RCV.NXT is :attr:`rcv_off`; in-order bytes not yet
    read lie just below it. Bytes beyond a hole wait in a
    :class:`~tcpstack.reassembly.ReassemblyQueue` (created when first needed).

    Args:
        rcv_nxt: RCV.NXT when the peer's SYN is taken: IRS + 1.

    Attributes:
        rcv_nxt: RCV.NXT, the next sequence number expected (§3.3.1).
        rcv_adv: the right edge of the window last advertised: RCV.NXT + RCV.WND.
        rcv_off: stream offset of RCV.NXT (bytes received in order).
        fin_off: stream offset of the peer's FIN once seen and not yet
            reached (a FIN beyond a hole waits for it), else None.
        fin_received: RCV.NXT has passed the peer's FIN.
        eof_read: the application's read found the end of the stream.
        up_off: RCV.UP as a stream offset: urgent data ends before it (§3.8.5).
        urgent_signaled: the application was told of the current urgent data.
    """

    __slots__ = (
        "_data",
        "_ooo",
        "_sack_arrivals",
        "_sack_recent",
        "eof_read",
        "fin_off",
        "fin_received",
        "rcv_adv",
        "rcv_nxt",
        "rcv_off",
        "up_off",
        "urgent_signaled",
    )

    def __init__(self, rcv_nxt: int) -> None:
        self.rcv_nxt = rcv_nxt
        self.rcv_adv = rcv_nxt
        self.rcv_off = 0
        self._data: bytearray | None = None
        self._ooo: ReassemblyQueue | None = None
        # For the next SACK option (RFC 2018 §4): the offsets of the segments
        # held since the last one, newest first; the blocks it reported, in
        # order, each dropped once an arrival, a delivery or pruning changes it
        # (so those left are exact and need no search).
        self._sack_arrivals: list[int] | None = None
        # An empty tuple until an ACK reports blocks: every connection's receive
        # buffer has one, and an empty list would cost 56 bytes each.
        self._sack_recent: Sequence[tuple[int, int]] = ()
        self.fin_off: int | None = None
        self.fin_received = False
        self.eof_read = False
        self.up_off = 0
        self.urgent_signaled = False

    # -- the application's side -----------------------------------------------

    @property
    def readable(self) -> int:
        """Bytes ready to be read."""
        return len(self._data) if self._data is not None else 0

    @property
    def at_eof(self) -> bool:
        """The peer's FIN arrived and every byte before it was read."""
        return self.fin_received and not self.readable

    @property
    def urgent_pending(self) -> int:
        """Unread bytes that are urgent data (MUST-33)."""
        consumed = self.rcv_off - self.readable
        return max(0, self.up_off - consumed)

    def read(self, max_bytes: int = -1) -> bytes:
        """Take up to ``max_bytes`` bytes (all if negative); b"" if none are buffered."""
        data = self._data
        if data is None:
            return b""
        if max_bytes < 0 or max_bytes >= len(data):
            self._data = None
            out = bytes(data)
        else:
            out = bytes(data[:max_bytes])
            del data[:max_bytes]
        # (urgent_pending == 0, without the property's calls: once per read)
        if out and self.up_off <= self.rcv_off - (len(data) if self._data is not None else 0):
            self.urgent_signaled = False  # the urgent sequence has been read
        return out

    def discard(self) -> None:
        """Throw away unread bytes (the application closed without reading them)."""
        self._data = None

    # -- coordinates -------------------------------------------------------------

    def off(self, seq: int) -> int:
        """Stream offset of sequence number ``seq``."""
        return self.rcv_off + ((seq - self.rcv_nxt + SEQ_HALF) & SEQ_MASK) - SEQ_HALF

    def seq(self, off: int) -> int:
        """Sequence number of stream offset ``off``."""
        return seq_add(self.rcv_nxt, off - self.rcv_off)

    # -- arrivals ----------------------------------------------------------------

    def deliver(self, data: bytes | memoryview) -> int:
        """Append in-order ``data`` at RCV.NXT; return the bytes RCV.NXT advanced."""
        n = len(data)  # (once: three len() calls per data segment before)
        if not n:
            return 0
        if self._data is None:
            self._data = bytearray(data)
        else:
            self._data += data
        self.rcv_off += n
        self.rcv_nxt = (self.rcv_nxt + n) & SEQ_MASK  # seq_add
        return n

    def join(self) -> bytes:
        """Take the held out-of-order bytes that RCV.NXT now reaches (a hole was filled)."""
        ooo = self._ooo
        if ooo is None:
            return b""
        data = ooo.pop_contiguous(self.rcv_off)
        if not ooo:
            self._ooo = None
            self._sack_arrivals = None
            self._sack_recent = ()
        elif self._sack_recent:
            off = self.rcv_off
            self._sack_recent = [b for b in self._sack_recent if b[0] > off]
        return data

    def hold(self, off: int, data: bytes | memoryview, *, sack: bool,
             max_ranges: int | None = None) -> Held:
        """Keep out-of-order ``data`` at stream offset ``off`` (SHLD-31); with
        ``sack``, report its block first in the next SACK option (RFC 2018 §4).

        At most ``max_ranges`` disjoint ranges are held: beyond that, ranges
        are pruned from the top end or the segment is dropped (see
        :meth:`~tcpstack.reassembly.ReassemblyQueue.add`). Returns what was
        done, for the counters.
        """
        ooo = self._ooo
        if ooo is None:
            ooo = self._ooo = ReassemblyQueue()
        held = ooo.add(off, data, max_ranges)
        if self._sack_recent:  # keep the reported blocks this did not touch or prune
            end, top = off + len(data), ooo.end
            self._sack_recent = [b for b in self._sack_recent
                                 if (b[1] < off or b[0] > end) and b[0] < top]
        if sack and held.kept:
            arrivals = self._sack_arrivals
            if arrivals is None:
                self._sack_arrivals = [off]
            else:
                arrivals.insert(0, off)
                del arrivals[_SACK_ARRIVALS_KEPT:]
        if not ooo:  # dropped into an empty queue
            self._ooo = None
            self._sack_arrivals = None
        return held

    @property
    def has_holes(self) -> bool:
        """True while out-of-order data waits beyond a hole."""
        return self._ooo is not None

    def pass_fin(self) -> None:
        """RCV.NXT advances over the peer's FIN (§3.10.7.4 eighth step)."""
        self.fin_off = None
        self.fin_received = True
        self.rcv_nxt = seq_add(self.rcv_nxt, 1)
        if seq_lt(self.rcv_adv, self.rcv_nxt):
            self.rcv_adv = self.rcv_nxt

    # -- the window we advertise (RFC 9293 §3.8.6, RFC 7323 §2) --------------------

    @property
    def rcv_wnd(self) -> int:
        """RCV.WND: the window last advertised, bytes."""
        wnd = ((self.rcv_adv - self.rcv_nxt + SEQ_HALF) & SEQ_MASK) - SEQ_HALF
        return wnd if wnd > 0 else 0

    def window_edge(self, capacity: int, rcv_wscale: int) -> int:
        """RCV.NXT + free space: the right edge a buffer of ``capacity`` bytes supports."""
        free = max(0, capacity - self.readable)
        return seq_add(self.rcv_nxt, min(free, MAX_UNSCALED_WINDOW << rcv_wscale))

    def open_window(self, capacity: int) -> None:
        """Advertise the whole free space, unscaled (the window of a SYN, RFC 7323 §2.2)."""
        free = max(0, capacity - self.readable)
        self.rcv_adv = seq_add(self.rcv_nxt, min(free, MAX_UNSCALED_WINDOW))

    def advertise(self, capacity: int, rcv_wscale: int, sws_step: int) -> int:
        """The window to put in a segment now, bytes.

        The right edge never moves left (SHLD-14) and only moves right by at
        least ``sws_step`` bytes at a time (receiver SWS avoidance, MUST-39).
        """
        # (Once per segment sent: each distance is computed once and its sign
        # tested, rather than a seq_* call per comparison; window_edge inlined.)
        rcv_nxt = self.rcv_nxt
        data = self._data
        free = capacity - len(data) if data is not None else capacity
        edge = seq_add(rcv_nxt, min(max(0, free), MAX_UNSCALED_WINDOW << rcv_wscale))
        growth = seq_diff(edge, self.rcv_adv)  # > 0: seq_gt(edge, rcv_adv)
        if growth > 0 and (growth >= sws_step or (
                seq_le(self.rcv_adv, rcv_nxt) and seq_diff(edge, rcv_nxt) >= sws_step)):
            self.rcv_adv = edge
        window = seq_diff(self.rcv_adv, rcv_nxt)
        if window < 0:  # seq_lt(rcv_adv, rcv_nxt)
            self.rcv_adv = rcv_nxt
            return 0
        return window

    def window_update_worth(self, capacity: int, rcv_wscale: int, sws_step: int) -> bool:
        """Whether the supported right edge lies at least ``sws_step`` bytes beyond
        the advertised one (receiver SWS avoidance, MUST-39) and at least RCV.WND
        beyond it (as Linux: the window at least doubles), bytes.

        How far :meth:`window_edge` lies beyond RCV.ADV, and :attr:`rcv_wnd`, in
        one call with both inlined: after every read of a bulk transfer's data
        (``Connection.read``), 8 calls fewer per read.
        """
        rcv_nxt = self.rcv_nxt
        data = self._data
        free = capacity - len(data) if data is not None else capacity
        if free < 0:
            free = 0
        largest = MAX_UNSCALED_WINDOW << rcv_wscale
        edge = (rcv_nxt + (free if free < largest else largest)) & SEQ_MASK
        grown = seq_diff(edge, self.rcv_adv)  # the growth of the window
        if grown < sws_step:
            return False
        wnd = seq_diff(self.rcv_adv, rcv_nxt)
        return grown >= (wnd if wnd > 0 else 0)  # rcv_wnd

    # -- SACK (RFC 2018 §4) ---------------------------------------------------------

    def sack_blocks(self, limit: int) -> tuple[tuple[int, int], ...]:
        """Up to ``limit`` SACK blocks, as ``(left_seq, right_seq)``.

        The block holding the newest segment first, then "the most recently
        reported SACK blocks", then the highest other blocks held. Only held
        bytes are reported: a block pruned since it was last reported is not
        (RFC 2018 §8). Costs O(limit * log pages), whatever the number of holes.
        """
        ooo = self._ooo
        if ooo is None:
            return ()
        chosen: list[tuple[int, int]] = []
        for off in self._sack_arrivals or ():
            if len(chosen) >= limit:
                break
            block = ooo.run_at(off)
            if block is not None and block not in chosen:
                chosen.append(block)
        for block in self._sack_recent:
            if len(chosen) >= limit:
                break
            if block not in chosen:
                chosen.append(block)
        if len(chosen) < limit:
            below = ooo.end
            while len(chosen) < limit:
                block = ooo.run_below(below)
                if block is None:
                    break
                if block not in chosen:
                    chosen.append(block)
                below = block[0]
        self._sack_arrivals = None
        self._sack_recent = chosen  # what this ACK reports, in order
        base = self.rcv_nxt - self.rcv_off  # seq = off + base, modulo 2**32
        return tuple([((a + base) & SEQ_MASK, (b + base) & SEQ_MASK) for a, b in chosen])
