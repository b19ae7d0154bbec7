"""The ECN field of an IP packet (RFC 3168 §5): read it, and mark a packet CE as a router does.

The two low bits of the IPv4 TOS byte (RFC 791, RFC 2474) or of the IPv6
traffic class (RFC 8200 §7) carry the ECN codepoint:

======  ===========  =========================================
bits    name         meaning
======  ===========  =========================================
``00``  Not-ECT      the sender does not use ECN
``01``  ECT(1)       ECN-capable transport
``10``  ECT(0)       ECN-capable transport (what TCP sends)
``11``  CE           congestion experienced (set by a router)
======  ===========  =========================================

A router that would drop an ECT packet to signal congestion may set CE
instead (RFC 3168 §5); it never marks a Not-ECT packet. Changing the TOS
byte of an IPv4 packet changes its header checksum, updated here
incrementally (RFC 1624 eqn. 3); IPv6 has no header checksum, and the TCP
checksum does not cover either field.
"""

from __future__ import annotations

NOT_ECT = 0b00
"""Not ECN-capable transport."""
ECT_1 = 0b01
"""ECN-capable transport, codepoint ECT(1)."""
ECT_0 = 0b10
"""ECN-capable transport, codepoint ECT(0): what an ECN TCP sender sets on data."""
CE = 0b11
"""Congestion experienced."""

ECN_MASK = 0b11
"""The ECN bits of the TOS byte / traffic class."""


def ecn_codepoint(packet: bytes | bytearray | memoryview) -> int:
    """The ECN codepoint (0..3) of an IPv4 or IPv6 packet; :data:`NOT_ECT` for
    anything shorter than an IP version nibble and TOS byte or of another version."""
    if len(packet) < 2:
        return NOT_ECT
    version = packet[0] >> 4
    if version == 4:
        return packet[1] & ECN_MASK
    if version == 6:
        return (packet[1] >> 4) & ECN_MASK
    return NOT_ECT


def mark_ce(packet: bytes) -> bytes:
    """``packet`` with its ECN field set to CE (RFC 3168 §5), the IPv4 header
    checksum updated (RFC 1624); unchanged if it is Not-ECT, already CE, too
    short or not IPv4/IPv6."""
    codepoint = ecn_codepoint(packet)
    if codepoint in (NOT_ECT, CE):
        return packet
    out = bytearray(packet)
    if out[0] >> 4 == 4:
        if len(out) < 20:
            return packet
        old_word = (out[0] << 8) | out[1]
        out[1] |= CE
        new_word = (out[0] << 8) | out[1]
        # RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), in ones' complement arithmetic.
        total = (~((out[10] << 8) | out[11]) & 0xFFFF) + (~old_word & 0xFFFF) + new_word
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        checksum = ~total & 0xFFFF
        out[10], out[11] = checksum >> 8, checksum & 0xFF
    else:
        out[1] |= CE << 4
    return bytes(out)


ECN_NAMES: tuple[str, str, str, str] = ("Not-ECT", "ECT(1)", "ECT(0)", "CE")
"""The codepoints' names, indexed by codepoint (RFC 3168 §5): what the trace shows."""
