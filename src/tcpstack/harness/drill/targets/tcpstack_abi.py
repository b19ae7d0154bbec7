"""Linux ABI values and argument shapes the tcpstack target needs beyond ``parse.SYMBOLS``.

Values are Linux's (x86-64 ``<sys/socket.h>``, ``<sys/epoll.h>``,
``<linux/sockios.h>``, ``<netinet/tcp.h>``). Arguments arrive as the raw
strings of the script (packetdrill's notation); the helpers here read the
iovec and msghdr shapes the parser leaves as text:
``[{..., 1000}, {..., 500}]`` and
``{msg_name(...)=..., msg_iov(1)=[{..., 40}], msg_flags=0}``.
"""

from __future__ import annotations

from ..parse import SYMBOLS, int_arg

MSG = {
    "MSG_OOB": 0x1,
    "MSG_PEEK": 0x2,
    "MSG_DONTROUTE": 0x4,
    "MSG_TRUNC": 0x20,
    "MSG_DONTWAIT": 0x40,
    "MSG_EOR": 0x80,
    "MSG_WAITALL": 0x100,
    "MSG_ERRQUEUE": 0x2000,
    "MSG_NOSIGNAL": 0x4000,
    "MSG_MORE": 0x8000,
    "MSG_ZEROCOPY": 0x4000000,
    "MSG_FASTOPEN": 0x20000000,
}
"""send/recv flags."""

EPOLL = {
    "EPOLLIN": 0x1,
    "EPOLLPRI": 0x2,
    "EPOLLOUT": 0x4,
    "EPOLLERR": 0x8,
    "EPOLLHUP": 0x10,
    "EPOLLRDNORM": 0x40,
    "EPOLLRDBAND": 0x80,
    "EPOLLWRNORM": 0x100,
    "EPOLLWRBAND": 0x200,
    "EPOLLRDHUP": 0x2000,
    "EPOLLEXCLUSIVE": 1 << 28,
    "EPOLLWAKEUP": 1 << 29,
    "EPOLLONESHOT": 1 << 30,
    "EPOLLET": 1 << 31,
    "EPOLL_CTL_ADD": 1,
    "EPOLL_CTL_DEL": 2,
    "EPOLL_CTL_MOD": 3,
    "EPOLL_CLOEXEC": 0o2000000,
}
"""epoll event bits, epoll_ctl operations and epoll_create1 flags."""

IOCTLS = {
    "SIOCINQ": 0x541B,
    "FIONREAD": 0x541B,
    "SIOCOUTQ": 0x5411,
    "TIOCOUTQ": 0x5411,
    "SIOCOUTQNSD": 0x894B,
    "FIONBIO": 0x5421,
}
"""ioctl requests on a TCP socket."""

OTHER = {
    "AF_INET6": 10,
    "PF_INET": 2,
    "PF_INET6": 10,
    "AF_UNSPEC": 0,
    "SOCK_CLOEXEC": 0o2000000,
    "IPPROTO_IP": 0,
    "IPPROTO_IPV6": 41,
    "SO_TYPE": 3,
    "SO_RCVLOWAT": 18,
    "SO_SNDLOWAT": 19,
    "TCP_MAXSEG": 2,
    "TCP_CORK": 3,
    "TCP_INFO": 11,
    "TCP_QUICKACK": 12,
    "TCP_CONGESTION": 13,
    "TCP_NOTSENT_LOWAT": 25,
    "NULL": 0,
}
"""Other symbols the calls of TCP scripts use."""

_TABLE = {**SYMBOLS, **MSG, **EPOLL, **IOCTLS, **OTHER}


def sym(text: str) -> int:
    """An integer argument that may use the symbols above (``MSG_PEEK|MSG_DONTWAIT``).

    Raises:
        ValueError: neither a number nor a known symbol.
    """
    value = 0
    for word in text.split("|"):
        word = word.strip()
        if word in _TABLE:
            value |= _TABLE[word]
        else:
            value |= int_arg(word)
    return value
