"""TCP Fast Open in drill scripts (RFC 7413): the options on the wire, and cookies.

A script writes Fast Open options as packetdrill does (:mod:`.packets`):
``FO`` / ``FO abcd1234`` (kind 34) and ``FOEXP`` / ``FOEXP abcd1234`` (kind
254 with the magic 0xF989 of RFC 6994). :func:`wire_option` builds the
option to send, :func:`option_matches` compares one the TCP sent, and
:func:`option_text` shows one the way a script writes it.

Cookies. A Linux server issues the cookie
``SipHash-2-4(key, saddr || daddr)`` of the SYN's addresses (IPv4: 8 bytes,
IPv6: 32), with its 16-byte primary key, as 8 bytes little-endian
(``net/ipv4/tcp_fastopen.c``, ``__tcp_fastopen_cookie_gen_cipher``):
:func:`kernel_cookie`. So a cookie in a script holds only for the addresses
it was written for; drill's addresses differ from packetdrill's, and a target
that runs Fast Open (:class:`CookieTranslator`) maps the script's cookies to
the ones its kernel issues:

* a cookie written as a name (``FO TFO_COOKIE``) is looked up in the script's
  ``--define NAME=hex`` (packetdrill's ``-D``); ``TFO_COOKIE`` left undefined
  is the cookie the kernel issues to the script's peer now (packetdrill's
  ``run_all.py`` passes it with ``-D``);
* a cookie the kernel would issue for the script's own addresses
  (:func:`script_addresses`: ``--local_ip``/``--remote_ip``, else those
  ``run_all.py`` gives) with a key in force becomes the cookie for drill's
  addresses with that key; any other cookie is sent and compared as written.

Keys are written as the kernel shows them in
``/proc/sys/net/ipv4/tcp_fastopen_key`` (``a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4``,
a backup key after a comma): :func:`parse_keys`.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from ...wire import TcpOption, UnknownOption
from .model import DrillError, TcpOptionSpec
from .packets import FASTOPEN_EXP_MAGIC

__all__ = [
    "COOKIE_DEFINE",
    "KIND_EXPERIMENTAL",
    "KIND_FASTOPEN",
    "CookieTranslator",
    "defines",
    "kernel_cookie",
    "option_matches",
    "option_text",
    "parse_keys",
    "resolve_cookie",
    "script_addresses",
    "siphash24",
    "translate_cookie",
    "wire_option",
]

KIND_FASTOPEN = 34
"""TCP option kind of Fast Open (RFC 7413)."""
KIND_EXPERIMENTAL = 254
"""The experimental option kind ``FOEXP`` uses, with :data:`FASTOPEN_EXP_MAGIC`."""
COOKIE_DEFINE = "TFO_COOKIE"
"""The name packetdrill's scripts write for the cookie the server under test issues."""

_MAGIC = struct.pack("!H", FASTOPEN_EXP_MAGIC)
_MASK = (1 << 64) - 1

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# ----------------------------------------------------------------------
# SipHash-2-4 and Linux's cookie
# ----------------------------------------------------------------------


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def _rounds(v: list[int], n: int) -> None:
    for _ in range(n):
        v[0] = (v[0] + v[1]) & _MASK
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & _MASK
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & _MASK
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & _MASK
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)


def siphash24(key: bytes, message: bytes) -> int:
    """SipHash-2-4 (Aumasson and Bernstein, 2012) of ``message`` with a 16-byte ``key``.

    Returns:
        the 64-bit result as an int (the reference implementation writes it
        little-endian).

    Raises:
        ValueError: ``key`` is not 16 bytes.
    """
    if len(key) != 16:
        raise ValueError(f"a SipHash key has 16 bytes, not {len(key)}")
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    tail = len(message) % 8
    body = len(message) - tail
    for i in range(0, body, 8):
        (m,) = struct.unpack_from("<Q", message, i)
        v[3] ^= m
        _rounds(v, 2)
        v[0] ^= m
    last = (len(message) & 0xFF) << 56 | int.from_bytes(message[body:], "little")
    v[3] ^= last
    _rounds(v, 2)
    v[0] ^= last
    v[2] ^= 0xFF
    _rounds(v, 4)
    result: int = v[0] ^ v[1] ^ v[2] ^ v[3]
    return result


def kernel_cookie(key: bytes, source: Address, destination: Address) -> bytes:
    """The 8-byte cookie Linux issues for a SYN from ``source`` to ``destination``
    with the 16-byte primary ``key`` (``__tcp_fastopen_cookie_gen_cipher``)."""
    return siphash24(key, source.packed + destination.packed).to_bytes(8, "little")


def parse_keys(text: str) -> tuple[bytes, ...]:
    """The keys of ``/proc/sys/net/ipv4/tcp_fastopen_key`` (primary first, then the
    backup): ``"a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4"`` -> one 16-byte key. The kernel
    shows each 32-bit word of a key in hex and keeps it little-endian.

    Raises:
        ValueError: not in that form.
    """
    keys = []
    for item in text.strip().split(","):
        words = item.strip().split("-")
        if len(words) != 4 or not all(re.fullmatch(r"[0-9a-fA-F]{1,8}", w) for w in words):
            raise ValueError(f"not a Fast Open key: {item.strip()!r}")
        keys.append(b"".join(struct.pack("<I", int(w, 16)) for w in words))
    return tuple(keys)


# ----------------------------------------------------------------------
# Addresses and names
# ----------------------------------------------------------------------

_RUN_ALL_ADDRESSES = {
    "ipv4": ("192.0.2.1", "192.168.0.1"),
    "ipv6": ("fd3d:fa7b:d17d::1", "fd3d:a0b:17d6::1"),
}
"""(peer, side under test) as packetdrill's ``run_all.py`` gives them (``--remote_ip``,
``--local_ip``); ``ipv4-mapped-ipv6`` puts the IPv4 ones on the wire."""


def script_addresses(options: Mapping[str, str]) -> tuple[Address, Address]:
    """(the peer's address, the tested side's) a script's cookies were computed for:
    its ``--remote_ip`` and ``--local_ip``, else those of packetdrill's ``run_all.py``
    for its ``--ip_version`` (an address of the other family is possible: a script
    written for IPv4 run with ``--ip_version=ipv6``; its cookies then mean nothing
    on the wire)."""
    version = "ipv6" if options.get("ip_version") == "ipv6" else "ipv4"
    defaults = _RUN_ALL_ADDRESSES[version]
    remote = ipaddress.ip_address(options.get("remote_ip", defaults[0]).split("/")[0])
    local = ipaddress.ip_address(options.get("local_ip", defaults[1]).split("/")[0])
    return remote, local


def defines(options: Mapping[str, str]) -> dict[str, str]:
    """The names a script's ``--define`` gives (packetdrill's ``-D``):
    ``"TFO_COOKIE=3021b9d889017eeb CODE=1"`` -> ``{"TFO_COOKIE": "3021b9d889017eeb",
    "CODE": "1"}`` (items separated by spaces or commas)."""
    found: dict[str, str] = {}
    for item in re.split(r"[\s,]+", options.get("define", "").strip()):
        name, equals, value = item.partition("=")
        if name and equals:
            found[name] = value
    return found


@runtime_checkable
class CookieTranslator(Protocol):
    """A target that runs Fast Open and maps a script's cookies to its own."""

    def fastopen_cookie(self, written: bytes | None) -> bytes:
        """The cookie to send or expect for ``written``: None for ``TFO_COOKIE``
        (the cookie the server under test issues to the script's peer now), else
        ``written`` translated to the target's addresses if it is the cookie of the
        script's addresses with a key in force, else ``written`` itself."""


def resolve_cookie(option: TcpOptionSpec, options: Mapping[str, str],
                   translator: CookieTranslator | None) -> bytes:
    """The cookie bytes of a ``FO``/``FOEXP`` option at run time (see the module).

    Raises:
        DrillError: a name that is not defined (and not ``TFO_COOKIE`` on a target
            that computes it), or defined as something that is not hex.
    """
    written: bytes | None = bytes(option.values)
    if option.name is not None:
        text = defines(options).get(option.name)
        if text is None:
            if option.name != COOKIE_DEFINE or translator is None:
                raise DrillError(f"{option.kind} {option.name}: {option.name} is not defined "
                                 f"(give it with --option define={option.name}=HEX)")
            written = None
        else:
            try:
                written = bytes.fromhex(text)
            except ValueError:
                raise DrillError(f"{option.kind} {option.name}: {option.name}={text} is not "
                                 "a hex string with an even number of digits") from None
    if translator is None:
        assert written is not None
        return written
    return translator.fastopen_cookie(written)


def translate_cookie(written: bytes | None, keys: Sequence[bytes],
                     script: tuple[Address, Address] | None,
                     target: tuple[Address, Address]) -> bytes:
    """What a target running Linux sends or expects for a script's cookie.

    Args:
        written: the script's cookie; None for ``TFO_COOKIE`` undefined.
        keys: the Fast Open keys in force (16 bytes each), the one the server
            issues cookies with first.
        script: (peer, side under test) the script's cookies were computed for;
            None, or addresses of another family than ``target``'s: no cookie is
            translated.
        target: (peer, side under test) on the target's wire.

    Returns:
        for None, the cookie ``keys[0]`` gives for ``target``; for a cookie one
        of ``keys`` gives for ``script``, the cookie that key gives for
        ``target``; any other cookie unchanged.

    Raises:
        DrillError: None and no key.
    """
    if written is None:
        if not keys:
            raise DrillError(f"{COOKIE_DEFINE}: no Fast Open key is in force")
        return kernel_cookie(keys[0], *target)
    if script is None or script[0].version != target[0].version:
        return written
    for key in keys:
        if written == kernel_cookie(key, *script):
            return kernel_cookie(key, *target)
    return written


# ----------------------------------------------------------------------
# The option on the wire
# ----------------------------------------------------------------------


def wire_option(kind: str, cookie: bytes) -> TcpOption:
    """The option ``FO``/``FOEXP`` with ``cookie`` as :class:`UnknownOption`."""
    if kind == "FO":
        return UnknownOption(KIND_FASTOPEN, cookie)
    return UnknownOption(KIND_EXPERIMENTAL, _MAGIC + cookie)


def option_matches(kind: str, cookie: bytes, option: TcpOption) -> bool:
    """True when ``option`` (decoded from a sent packet) is ``kind`` with ``cookie``."""
    return option == wire_option(kind, cookie)


def option_text(option: TcpOption) -> str | None:
    """``"FO abcd1234"`` / ``"FOEXP"`` for a Fast Open option, else None."""
    if not isinstance(option, UnknownOption):
        return None
    if option.kind == KIND_FASTOPEN:
        return f"FO {option.data.hex()}".rstrip()
    if option.kind == KIND_EXPERIMENTAL and option.data[:2] == _MAGIC:
        return f"FOEXP {option.data[2:].hex()}".rstrip()
    return None
