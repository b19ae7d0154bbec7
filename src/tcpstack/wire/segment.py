"""The TCP segment: header format, encoding and strict decoding (RFC 9293 §3.1).

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          Source Port          |       Destination Port        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                        Sequence Number                        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                    Acknowledgment Number                      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Data |       |C|E|U|A|P|R|S|F|                               |
    | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
    |       |       |R|E|G|K|H|T|N|N|                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Checksum            |         Urgent Pointer        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           [Options]                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                             Data                              :
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from tcpstack.errors import MalformedPacket
from tcpstack.wire.checksum import folded_sum, internet_checksum, ones_sum, pseudo_header_sum
from tcpstack.wire.options import (
    NOP,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    encode_options,
    options_length,
    parse_options,
)

__all__ = ["FLAGS_BY_VALUE", "HEADER_LENGTH", "PROTO_TCP", "Flags", "IPAddress", "Segment"]

IPAddress = IPv4Address | IPv6Address
"""An IPv4 or IPv6 address."""

PROTO_TCP = 6
"""The IP protocol number of TCP."""

HEADER_LENGTH = 20
"""Length of the fixed TCP header in bytes (data offset 5)."""

_HEADER = struct.Struct("!HHIIBBHHH")
_SYN_FIN_LEN = (0, 1, 1, 2)
"""Sequence numbers the SYN and FIN bits occupy, by ``flags & 0x03`` (FIN 0x01, SYN 0x02)."""
_U32 = 0xFFFFFFFF


class Flags(enum.IntFlag):
    """The TCP control bits (RFC 9293 §3.1; ECE and CWR from RFC 3168 §6.1).

    The four reserved bits of the header are not flags: they are ignored on
    receipt and sent as zero.
    """

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80

    # Bitwise operators by table lookup: enum.Flag's own ``&``, ``|`` and ``^``
    # build a new member through ``Flag.__call__`` each time (about 0.5 µs),
    # and the per-segment processing tests flags a dozen times per packet.
    # Values 0..255 are looked up; anything else falls back to enum's rule.

    def __and__(self, other: object) -> Flags:
        if isinstance(other, int) and 0 <= (value := int.__and__(self, other)) < 256:
            return FLAGS_BY_VALUE[value]
        return enum.IntFlag.__and__(self, other)  # type: ignore[operator]

    def __rand__(self, other: object) -> Flags:  # a def, not an alias: mypyc compiles it
        return self.__and__(other)

    def __or__(self, other: object) -> Flags:
        if isinstance(other, int) and 0 <= (value := int.__or__(self, other)) < 256:
            return FLAGS_BY_VALUE[value]
        return enum.IntFlag.__or__(self, other)  # type: ignore[operator]

    def __ror__(self, other: object) -> Flags:
        return self.__or__(other)

    def names(self) -> list[str]:
        """Return the set flags' names in the order SYN, FIN, RST, PSH, ACK, URG, ECE, CWR.

        Example: ``(Flags.SYN | Flags.ACK).names() == ["SYN", "ACK"]``; no flag gives ``[]``.
        """
        return list(_NAMES_BY_VALUE[int(self)])

    def letters(self) -> str:
        """Return tcpdump's flag letters, e.g. ``"S."`` for SYN+ACK, ``"none"`` for no flag.

        tcpdump's order and letters: F S R P . U E W (ACK is ``.``, ECE ``E``, CWR ``W``).
        """
        value = int(self)
        return "".join(letter for bit, letter in _TCPDUMP_ORDER if value & bit) or "none"


_NAME_ORDER: tuple[tuple[int, str], ...] = (
    (0x02, "SYN"),
    (0x01, "FIN"),
    (0x04, "RST"),
    (0x08, "PSH"),
    (0x10, "ACK"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
)
_TCPDUMP_ORDER: tuple[tuple[int, str], ...] = (
    (0x01, "F"),
    (0x02, "S"),
    (0x04, "R"),
    (0x08, "P"),
    (0x10, "."),
    (0x20, "U"),
    (0x40, "E"),
    (0x80, "W"),
)
_NAMES_BY_VALUE: tuple[tuple[str, ...], ...] = tuple(
    tuple(name for bit, name in _NAME_ORDER if value & bit) for value in range(256))
FLAGS_BY_VALUE: tuple[Flags, ...] = tuple(Flags(v) for v in range(256))
"""``Flags(v)`` for every byte value ``v``: a lookup where calling the enum costs."""


def _check(value: int, bits: int, what: str) -> None:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value} out of range 0..{(1 << bits) - 1}")


@dataclass(frozen=True, slots=True, init=False)
class Segment:
    """One TCP segment: header fields, options and payload (RFC 9293 §3.1).

    A frozen value; build a changed copy with :func:`dataclasses.replace`.
    The checksum and data offset are not fields: :meth:`encode` computes them
    and :meth:`decode` checks them.

    Attributes:
        src_port, dst_port: ports, 0..65535.
        seq: sequence number, 0..2**32-1 (modulo 2**32, see :mod:`tcpstack.seq`).
        ack: acknowledgment number, 0..2**32-1 (meaningful when ACK is set;
            kept as on the wire otherwise).
        flags: the control bits.
        window: the window field as sent, 0..65535, *unscaled* (RFC 7323 §2.2:
            the receiver applies the scale).
        urgent: the urgent pointer, 0..65535 (kept even without URG).
        options: the TCP options in wire order.
        payload: the segment data: ``bytes``, or for segments a stack builds
            from its send buffer a read-only ``memoryview`` of it (zero-copy,
            :meth:`~tcpstack.buffers.SendBuffer.take`), which compares,
            hashes, prints and pickles as the bytes it holds; ``bytes(...)``
            gives a copy. Decoded segments carry ``bytes``.
        ecn: the ECN codepoint of the IP packet that carries it, 0..3
            (:mod:`tcpstack.wire.ecn`, RFC 3168 §5): set by the sender on
            ECN-capable data (ECT(0)), read from the IP header on receipt
            (:func:`~tcpstack.wire.ip.decode_tcp_packet`); 0 (Not-ECT) for a
            segment decoded on its own. Not part of the TCP header: the TCP
            checksum does not cover it, and segments that differ only in it
            are equal.
    """

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: Flags
    window: int
    urgent: int = 0
    options: tuple[TcpOption, ...] = ()
    payload: bytes | memoryview = b""
    ecn: int = field(default=0, compare=False)

    def __init__(self, src_port: int, dst_port: int, seq: int, ack: int, flags: Flags,
                 window: int, urgent: int = 0, options: tuple[TcpOption, ...] = (),
                 payload: bytes | memoryview = b"", ecn: int = 0) -> None:
        # The dataclass's own __init__ of a frozen class goes through
        # object.__setattr__ by name for each field (1.1 µs, two segments per
        # packet: the one sent and the one received); the slots' own setters
        # do the same in 0.6 µs. Assigning to a field afterwards still raises
        # FrozenInstanceError (the dataclass's __setattr__).
        _set_src_port(self, src_port)
        _set_dst_port(self, dst_port)
        _set_seq(self, seq)
        _set_ack(self, ack)
        _set_flags(self, flags)
        _set_window(self, window)
        _set_urgent(self, urgent)
        _set_options(self, options)
        _set_payload(self, payload)
        _set_ecn(self, ecn)

    def __repr__(self) -> str:
        # The dataclass's repr, with a payload that is a view of a send buffer
        # (zero-copy, see SendBuffer.take) shown as the bytes it holds.
        return (f"Segment(src_port={self.src_port!r}, dst_port={self.dst_port!r}, "
                f"seq={self.seq!r}, ack={self.ack!r}, flags={self.flags!r}, "
                f"window={self.window!r}, urgent={self.urgent!r}, options={self.options!r}, "
                f"payload={bytes(self.payload)!r}, ecn={self.ecn!r})")

    def __reduce__(self) -> tuple[type[Segment], tuple[object, ...]]:
        # Pickles (process pools, the fuzzer's saved worlds) take a view's bytes.
        return (Segment, (self.src_port, self.dst_port, self.seq, self.ack, self.flags,
                          self.window, self.urgent, self.options, bytes(self.payload),
                          self.ecn))

    # ----------------------------------------------------------------- queries

    @property
    def seg_len(self) -> int:
        """SEG.LEN: sequence space the segment occupies, payload + SYN + FIN (RFC 9293 §3.4)."""
        # (The SYN and FIN bits looked up as an int: Flags' ``&`` is a Python
        # method, two calls per use; 3 uses per segment on the eight steps.)
        return len(self.payload) + _SYN_FIN_LEN[int(self.flags) & 0x03]

    def has(self, flag: Flags) -> bool:
        """True if every bit of ``flag`` is set."""
        # int.__and__ avoids building an enum member per test (hot path).
        return int.__and__(self.flags, flag) == flag

    @property
    def mss(self) -> int | None:
        """The first MSS option's value in bytes, or None (RFC 9293 §3.7.1)."""
        for option in self.options:
            if isinstance(option, Mss):
                return option.value
        return None

    @property
    def wscale(self) -> int | None:
        """The first Window Scale option's shift count as sent (0..255), or None (RFC 7323 §2)."""
        for option in self.options:
            if isinstance(option, WindowScale):
                return option.shift
        return None

    @property
    def sack_permitted(self) -> bool:
        """True if a SACK-Permitted option is present (RFC 2018 §2)."""
        return any(isinstance(option, SackPermitted) for option in self.options)

    # The two option layouts of nearly every segment after the handshake are
    # none and NOP, NOP, Timestamps (RFC 7323 Appendix A): what our sender
    # builds and what the fast IPv4 decoder (wire/ip.py _decode_v4) makes, with
    # the shared NOP. ``timestamps`` and ``sack_blocks`` (each once per received
    # segment) recognise them by identity and exact type, without the scan's
    # isinstance call per option (6 calls per received segment); any other
    # layout is scanned as before. tests/unit/test_rxpath.py compares both.

    @property
    def timestamps(self) -> Timestamps | None:
        """The first Timestamps option, or None (RFC 7323 §3)."""
        options = self.options
        if not options:
            return None
        if len(options) == 3 and options[0] is NOP and options[1] is NOP:
            ts = options[2]
            if type(ts) is Timestamps:
                return ts
        for option in options:
            if isinstance(option, Timestamps):
                return option
        return None

    @property
    def sack_blocks(self) -> tuple[tuple[int, int], ...]:
        """The ``(left, right)`` blocks of the first SACK option, or ``()`` (RFC 2018 §3)."""
        options = self.options
        if not options or (len(options) == 3 and options[0] is NOP and options[1] is NOP
                           and type(options[2]) is Timestamps):
            return ()
        for option in options:
            if isinstance(option, Sack):
                return option.blocks
        return ()

    @property
    def header_length(self) -> int:
        """Header length in bytes: 20 + the padded option area (data offset × 4)."""
        return HEADER_LENGTH + options_length(self.options)

    # ------------------------------------------------------------ wire format

    def encode(self, src: IPAddress, dst: IPAddress) -> bytes:
        """Encode the segment: TCP header + options + payload, checksum filled in.

        Args:
            src, dst: the IP source and destination addresses (both IPv4 or
                both IPv6), needed for the pseudo-header of the checksum
                (RFC 9293 §3.1, RFC 8200 §8.1).

        Returns:
            The TCP segment bytes (no IP header); see
            :func:`tcpstack.wire.ip.encode_packet` for a whole packet.

        Raises:
            ValueError: a field out of range (ports, window, urgent > 65535;
                seq or ack >= 2**32; flags > 0xFF; negative values), an
                option that does not encode (see
                :func:`~tcpstack.wire.options.encode_options`), a segment too
                long for an IPv4 pseudo-header (> 65535 bytes), or mixed
                address families.
        """
        header = self.encode_header(pseudo_header_sum(src, dst, PROTO_TCP, 0))
        total = len(header) + len(self.payload)
        if isinstance(src, IPv4Address) and total > 0xFFFF:
            raise ValueError(f"IPv4 pseudo-header length {total} out of range 0..65535")
        header += self.payload
        return bytes(header)

    def encode_header(self, pseudo_sum: int, prefix: bytes = b"", *,
                      partial: bool = False) -> bytearray:
        """``prefix`` followed by this segment's TCP header and options, checksum filled in.

        The one place a TCP header is written (:meth:`encode`, and
        :class:`~tcpstack.wire.ip.PacketEncoder` with the IP header as
        ``prefix``). The payload is summed but not copied: the caller appends it.

        Args:
            pseudo_sum: the pseudo-header's partial sum *without* the TCP
                length (:func:`~tcpstack.wire.checksum.pseudo_header_sum` with
                length 0); the length (header + payload, bytes) is added here.
            prefix: bytes to put before the header (an IP header), or nothing.
            partial: leave the checksum to the device (checksum offload): the
                field holds the pseudo-header sum folded to 16 bits
                (:func:`~tcpstack.wire.checksum.folded_sum`, what Linux's
                ``tcp_v4_send_check`` leaves for ``CHECKSUM_PARTIAL``), and
                neither the header nor the payload is summed here.

        Raises:
            ValueError: a field or option out of range (see :meth:`encode`).
        """
        opts = encode_options(self.options) if self.options else b""
        header_len = HEADER_LENGTH + len(opts)
        payload = self.payload
        at = len(prefix)
        out = bytearray(prefix)
        out += bytes(header_len)
        try:
            _HEADER.pack_into(out, at, self.src_port, self.dst_port, self.seq, self.ack,
                              (header_len // 4) << 4, self.flags, self.window, 0, self.urgent)
        except struct.error:
            self._check_fields()  # raises the ValueError that names the field
            raise
        out[at + HEADER_LENGTH:] = opts
        if partial:
            checksum = folded_sum(pseudo_sum + header_len + len(payload))
        else:
            # The header has an even length, so its partial sum and the payload's add up.
            checksum = internet_checksum(
                payload, pseudo_sum + header_len + len(payload) + ones_sum(memoryview(out)[at:]))
        out[at + 16] = checksum >> 8
        out[at + 17] = checksum & 0xFF
        return out

    def _check_fields(self) -> None:
        """Raise ValueError naming the first header field out of range."""
        _check(self.src_port, 16, "source port")
        _check(self.dst_port, 16, "destination port")
        _check(self.seq, 32, "sequence number")
        _check(self.ack, 32, "acknowledgment number")
        _check(int(self.flags), 8, "flags")
        _check(self.window, 16, "window")
        _check(self.urgent, 16, "urgent pointer")

    @classmethod
    def decode(
        cls,
        data: bytes | bytearray | memoryview,
        src: IPAddress,
        dst: IPAddress,
        *,
        verify_checksum: bool = True,
        ecn: int = 0,
    ) -> Segment:
        """Decode a TCP segment strictly (RFC 9293 §3.1).

        Args:
            data: the TCP segment (header + payload, no IP header), exactly as
                long as the IP layer says: every byte after the header is payload.
            src, dst: the IP addresses from the IP header, for the
                pseudo-header checksum (both of one family).
            verify_checksum: check the checksum (turn off only for tests or
                for checksum offload).
            ecn: the ECN codepoint of the IP packet that carried it, 0..3
                (becomes :attr:`ecn`).

        Returns:
            The segment. The four reserved header bits are ignored.

        Raises:
            MalformedPacket: with reason

                * ``"truncated-tcp"``: fewer than 20 bytes;
                * ``"bad-data-offset"``: data offset < 5 words, or a header
                  longer than ``data``;
                * ``"bad-checksum"``: the checksum does not verify (including a
                  segment over 65535 bytes with IPv4 addresses, which no IPv4
                  pseudo-header can describe);
                * ``"bad-option-length"``: a malformed option (see
                  :func:`~tcpstack.wire.options.parse_options`).

            Checks are made in that order. Nothing else is raised for any
            ``data`` (mixed address families are the caller's error:
            ValueError).
        """
        if isinstance(data, memoryview) and (
            data.format != "B" or data.ndim != 1 or not data.c_contiguous
        ):
            data = data.tobytes()
        pseudo = None
        if verify_checksum:
            if isinstance(src, IPv4Address) and len(data) > 0xFFFF:
                cls.decode_checked(data, None)  # the header's own faults come first
                raise MalformedPacket(
                    "bad-checksum", f"{len(data)}-byte segment does not fit an IPv4 pseudo-header"
                )
            pseudo = pseudo_header_sum(src, dst, PROTO_TCP, 0)
        return cls.decode_checked(data, pseudo, ecn)

    @classmethod
    def decode_checked(cls, data: bytes | bytearray | memoryview,
                       pseudo_sum: int | None, ecn: int = 0) -> Segment:
        """:meth:`decode` with the pseudo-header already summed: the one TCP parser.

        Args:
            data: the TCP segment, a contiguous byte buffer (``bytes``,
                ``bytearray`` or a ``"B"`` memoryview); the payload is copied out.
            pseudo_sum: the pseudo-header's partial sum without the length
                (:func:`~tcpstack.wire.checksum.pseudo_header_sum` with length
                0), or None not to verify the checksum.
            ecn: the IP packet's ECN codepoint, 0..3 (:attr:`ecn`).

        Raises:
            MalformedPacket: the reasons of :meth:`decode`, in its order.
        """
        n = len(data)
        if n < HEADER_LENGTH:
            raise MalformedPacket("truncated-tcp", f"{n} bytes, a TCP header needs 20")
        (src_port, dst_port, seq, ack, offset_byte, flag_byte, window, _csum, urgent) = (
            _HEADER.unpack_from(data)
        )
        header_len = (offset_byte >> 4) * 4
        if header_len < HEADER_LENGTH:
            raise MalformedPacket(
                "bad-data-offset", f"data offset {header_len // 4} words is below 5"
            )
        if header_len > n:
            raise MalformedPacket(
                "bad-data-offset", f"header of {header_len} bytes in a {n}-byte segment"
            )
        if pseudo_sum is not None and internet_checksum(data, pseudo_sum + n) != 0:
            raise MalformedPacket("bad-checksum", f"checksum 0x{_csum:04x} does not verify")
        options = parse_options(data[HEADER_LENGTH:header_len]) if header_len > 20 else ()
        return cls(
            src_port,
            dst_port,
            seq,
            ack,
            FLAGS_BY_VALUE[flag_byte],
            window,
            urgent,
            options,
            bytes(data[header_len:]),
            ecn,
        )

    # ------------------------------------------------------------- rendering

    def options_dict(self) -> dict[str, object]:
        """Return the options as a JSON-ready dict for the trace (DESIGN.md "The trace").

        Keys, present only when the segment carries the option (first
        occurrence wins, except ``unknown`` which lists all):
        ``"mss"`` (int bytes), ``"wscale"`` (int shift), ``"sack_permitted"``
        (True), ``"sack"`` (list of ``[left, right]``), ``"ts"``
        (``[tsval, tsecr]``), ``"unknown"`` (list of ``[kind, hex data]``).
        NOPs are not shown.
        """
        options = self.options
        if len(options) == 3 and options[0] is NOP and options[1] is NOP \
                and type(options[2]) is Timestamps:
            ts = options[2]  # NOP, NOP, Timestamps: nearly every segment's options
            return {"ts": [ts.tsval, ts.tsecr]}
        out: dict[str, object] = {}
        unknown: list[list[object]] = []
        for option in options:
            if isinstance(option, Mss):
                out.setdefault("mss", option.value)
            elif isinstance(option, WindowScale):
                out.setdefault("wscale", option.shift)
            elif isinstance(option, SackPermitted):
                out["sack_permitted"] = True
            elif isinstance(option, Sack):
                out.setdefault("sack", [[left, right] for left, right in option.blocks])
            elif isinstance(option, Timestamps):
                out.setdefault("ts", [option.tsval, option.tsecr])
            elif isinstance(option, UnknownOption):
                unknown.append([option.kind, option.data.hex()])
        if unknown:
            out["unknown"] = unknown
        return out

    def summary(self, relative_to: tuple[int, int] | None = None) -> str:
        """Return a tcpdump-like one-line description.

        Example: ``"Flags [S.], seq 0, ack 1, win 65535, options [mss 1460], length 0"``.

        As tcpdump: ``seq`` is shown when the segment has data or SYN, FIN or
        RST (as ``first:last+1`` with data), ``ack`` only with ACK, ``urg``
        only with URG, ``options [...]`` only when there are options;
        ``length`` is the payload length in bytes; ``win`` is the raw field.

        Args:
            relative_to: ``(seq_base, ack_base)``; when given, ``seq`` is
                shown as ``(seq - seq_base) mod 2**32`` and ``ack`` and SACK
                edges as ``(x - ack_base) mod 2**32``.
        """
        seq_base, ack_base = relative_to if relative_to is not None else (0, 0)
        flags = self.flags
        parts = [f"Flags [{flags.letters()}]"]
        length = len(self.payload)
        if length or flags & (Flags.SYN | Flags.FIN | Flags.RST):
            rel = (self.seq - seq_base) & _U32
            parts.append(f"seq {rel}:{(rel + length) & _U32}" if length else f"seq {rel}")
        if flags & Flags.ACK:
            parts.append(f"ack {(self.ack - ack_base) & _U32}")
        parts.append(f"win {self.window}")
        if flags & Flags.URG:
            parts.append(f"urg {self.urgent}")
        if self.options:
            shown = ",".join(_option_text(o, ack_base) for o in self.options)
            parts.append(f"options [{shown}]")
        parts.append(f"length {length}")
        return ", ".join(parts)


# The slot setters Segment.__init__ uses (member descriptors: they bypass the
# frozen class's __setattr__, as object.__setattr__ does, without its lookup by name).
_set_src_port = vars(Segment)["src_port"].__set__
_set_dst_port = vars(Segment)["dst_port"].__set__
_set_seq = vars(Segment)["seq"].__set__
_set_ack = vars(Segment)["ack"].__set__
_set_flags = vars(Segment)["flags"].__set__
_set_window = vars(Segment)["window"].__set__
_set_urgent = vars(Segment)["urgent"].__set__
_set_options = vars(Segment)["options"].__set__
_set_payload = vars(Segment)["payload"].__set__
_set_ecn = vars(Segment)["ecn"].__set__


def _option_text(option: TcpOption, ack_base: int) -> str:
    if isinstance(option, Nop):
        return "nop"
    if isinstance(option, Mss):
        return f"mss {option.value}"
    if isinstance(option, WindowScale):
        return f"wscale {option.shift}"
    if isinstance(option, SackPermitted):
        return "sackOK"
    if isinstance(option, Sack):
        edges = "".join(
            f"{{{(left - ack_base) & _U32}:{(right - ack_base) & _U32}}}"
            for left, right in option.blocks
        )
        return f"sack {len(option.blocks)} {edges}"
    if isinstance(option, Timestamps):
        return f"TS val {option.tsval} ecr {option.tsecr}"
    return f"opt-{option.kind}:{option.data.hex()}"
