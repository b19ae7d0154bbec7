"""The symbolic names drill scripts use, with their Linux values.

packetdrill resolves a word in a system call (``SOL_SOCKET``, ``MSG_PEEK``,
``ECONNREFUSED``) with the C headers of the machine it runs on; drill keeps
the Linux values here (from ``<sys/socket.h>``, ``<netinet/tcp.h>``,
``<asm-generic/errno.h>``, ``<sys/epoll.h>``, ``<linux/sockios.h>``) so that
both targets read a script the same way.

:data:`UNSUPPORTED_SYMBOLS` names the symbols whose feature drill does not
run (zero-copy receive, MD5, receive timestamps...): the parser reports a script using one
as ``DrillUnsupported`` with the construct given here. TCP Fast Open's names
(``MSG_FASTOPEN``, ``TCP_FASTOPEN``, ``TCP_FASTOPEN_CONNECT``,
``TCP_FASTOPEN_KEY``, ``TCP_FASTOPEN_NO_COOKIE``) are ordinary symbols: the
Linux target runs Fast Open, the tcpstack target declines it (see
:mod:`~tcpstack.harness.drill.features`).
:data:`NON_LINUX_SYMBOLS` are names of other systems' headers (the FreeBSD
tcp-testsuite uses some): a script using one cannot mean the same on Linux.
"""

from __future__ import annotations

__all__ = ["ERRNOS", "NON_LINUX_SYMBOLS", "SYMBOLS", "UNSUPPORTED_SYMBOLS",
           "unsupported_construct"]

ERRNOS: dict[str, int] = {
    "EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5, "ENXIO": 6, "E2BIG": 7,
    "ENOEXEC": 8, "EBADF": 9, "ECHILD": 10, "EAGAIN": 11, "EWOULDBLOCK": 11, "ENOMEM": 12,
    "EACCES": 13, "EFAULT": 14, "EBUSY": 16, "EEXIST": 17, "EXDEV": 18, "ENODEV": 19,
    "ENOTDIR": 20, "EISDIR": 21, "EINVAL": 22, "ENFILE": 23, "EMFILE": 24, "ENOTTY": 25,
    "EFBIG": 27, "ENOSPC": 28, "ESPIPE": 29, "EROFS": 30, "EMLINK": 31, "EPIPE": 32,
    "EDOM": 33, "ERANGE": 34, "EDEADLK": 35, "ENAMETOOLONG": 36, "ENOLCK": 37,
    "ENOSYS": 38, "ENOTEMPTY": 39, "ELOOP": 40, "ENOMSG": 42, "ENODATA": 61, "ETIME": 62,
    "EPROTO": 71, "EBADMSG": 74, "EOVERFLOW": 75, "EILSEQ": 84, "ENOTSOCK": 88,
    "EDESTADDRREQ": 89, "EMSGSIZE": 90, "EPROTOTYPE": 91, "ENOPROTOOPT": 92,
    "EPROTONOSUPPORT": 93, "ESOCKTNOSUPPORT": 94, "EOPNOTSUPP": 95, "ENOTSUP": 95,
    "EPFNOSUPPORT": 96, "EAFNOSUPPORT": 97, "EADDRINUSE": 98, "EADDRNOTAVAIL": 99,
    "ENETDOWN": 100, "ENETUNREACH": 101, "ENETRESET": 102, "ECONNABORTED": 103,
    "ECONNRESET": 104, "ENOBUFS": 105, "EISCONN": 106, "ENOTCONN": 107, "ESHUTDOWN": 108,
    "ETOOMANYREFS": 109, "ETIMEDOUT": 110, "ECONNREFUSED": 111, "EHOSTDOWN": 112,
    "EHOSTUNREACH": 113, "EALREADY": 114, "EINPROGRESS": 115, "ECANCELED": 125,
}
"""Errno names drill accepts after ``= -1``, with their Linux values."""

SYMBOLS: dict[str, int] = {
    "NULL": 0,
    # socket(): domains, types, protocols
    "AF_UNSPEC": 0, "AF_INET": 2, "AF_INET6": 10, "PF_INET": 2, "PF_INET6": 10,
    "SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3, "SOCK_NONBLOCK": 0o4000,
    "SOCK_CLOEXEC": 0o2000000,
    "IPPROTO_IP": 0, "IPPROTO_TCP": 6, "IPPROTO_UDP": 17, "IPPROTO_IPV6": 41,
    # levels
    "SOL_SOCKET": 1, "SOL_IP": 0, "SOL_TCP": 6, "SOL_UDP": 17, "SOL_IPV6": 41,
    # SOL_SOCKET options
    "SO_DEBUG": 1, "SO_REUSEADDR": 2, "SO_TYPE": 3, "SO_ERROR": 4, "SO_DONTROUTE": 5,
    "SO_BROADCAST": 6, "SO_SNDBUF": 7, "SO_RCVBUF": 8, "SO_KEEPALIVE": 9,
    "SO_OOBINLINE": 10, "SO_PRIORITY": 12, "SO_LINGER": 13, "SO_REUSEPORT": 15,
    "SO_RCVLOWAT": 18, "SO_SNDLOWAT": 19, "SO_RCVTIMEO": 20, "SO_SNDTIMEO": 21,
    "SO_BINDTODEVICE": 25, "SO_TIMESTAMP": 29, "SO_ACCEPTCONN": 30, "SO_SNDBUFFORCE": 32,
    "SO_RCVBUFFORCE": 33, "SO_MARK": 36, "SO_TIMESTAMPING": 37, "SO_PROTOCOL": 38,
    "SO_DOMAIN": 39, "SO_MAX_PACING_RATE": 47, "SO_INCOMING_CPU": 49, "SO_ZEROCOPY": 60,
    "SO_TXTIME": 61,
    # SO_TIMESTAMPING flags (<linux/net_tstamp.h>), its control message and the
    # sock_extended_err values of the error queue (<linux/errqueue.h>)
    **{f"SOF_TIMESTAMPING_{name}": 1 << bit for bit, name in enumerate((
        "TX_HARDWARE", "TX_SOFTWARE", "RX_HARDWARE", "RX_SOFTWARE", "SOFTWARE",
        "SYS_HARDWARE", "RAW_HARDWARE", "OPT_ID", "TX_SCHED", "TX_ACK", "OPT_CMSG",
        "OPT_TSONLY", "OPT_STATS", "OPT_PKTINFO", "OPT_TX_SWHW", "BIND_PHC", "OPT_ID_TCP"))},
    "SCM_TIMESTAMPING": 37, "SCM_TSTAMP_SND": 0, "SCM_TSTAMP_SCHED": 1, "SCM_TSTAMP_ACK": 2,
    "SO_EE_ORIGIN_NONE": 0, "SO_EE_ORIGIN_LOCAL": 1, "SO_EE_ORIGIN_ICMP": 2,
    "SO_EE_ORIGIN_ICMP6": 3, "SO_EE_ORIGIN_TXSTATUS": 4, "SO_EE_ORIGIN_TIMESTAMPING": 4,
    "SO_EE_ORIGIN_ZEROCOPY": 5, "SO_EE_ORIGIN_TXTIME": 6, "SO_EE_CODE_ZEROCOPY_COPIED": 1,
    "SO_EE_CODE_TXTIME_INVALID_PARAM": 1, "SO_EE_CODE_TXTIME_MISSED": 2,
    # IPPROTO_TCP options
    "TCP_NODELAY": 1, "TCP_MAXSEG": 2, "TCP_CORK": 3, "TCP_KEEPIDLE": 4,
    "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 6, "TCP_SYNCNT": 7, "TCP_LINGER2": 8,
    "TCP_DEFER_ACCEPT": 9, "TCP_WINDOW_CLAMP": 10, "TCP_INFO": 11, "TCP_QUICKACK": 12,
    "TCP_CONGESTION": 13, "TCP_MD5SIG": 14, "TCP_THIN_LINEAR_TIMEOUTS": 16,
    "TCP_THIN_DUPACK": 17, "TCP_USER_TIMEOUT": 18, "TCP_REPAIR": 19, "TCP_FASTOPEN": 23,
    "TCP_TIMESTAMP": 24, "TCP_NOTSENT_LOWAT": 25, "TCP_CC_INFO": 26, "TCP_SAVE_SYN": 27,
    "TCP_SAVED_SYN": 28, "TCP_FASTOPEN_CONNECT": 30, "TCP_ULP": 31,
    "TCP_FASTOPEN_KEY": 33, "TCP_FASTOPEN_NO_COOKIE": 34, "TCP_ZEROCOPY_RECEIVE": 35,
    "TCP_INQ": 36, "TCP_CM_INQ": 36, "TCP_TX_DELAY": 37,
    # tcpi_state values (TCP_INFO), also usable as arguments
    "TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4,
    "TCP_FIN_WAIT2": 5, "TCP_TIME_WAIT": 6, "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8,
    "TCP_LAST_ACK": 9, "TCP_LISTEN": 10, "TCP_CLOSING": 11,
    # IPPROTO_IP / IPPROTO_IPV6 options
    "IP_TOS": 1, "IP_TTL": 2, "IP_MTU_DISCOVER": 10, "IP_MTU": 14, "IP_FREEBIND": 15,
    "IP_PMTUDISC_DONT": 0, "IP_PMTUDISC_WANT": 1, "IP_PMTUDISC_DO": 2,
    "IP_PMTUDISC_PROBE": 3,
    "IPV6_UNICAST_HOPS": 16, "IPV6_MTU_DISCOVER": 23, "IPV6_MTU": 24, "IPV6_V6ONLY": 26,
    "IPV6_TCLASS": 67, "IP_RECVERR": 11, "IPV6_RECVERR": 25,
    "IPTOS_LOWDELAY": 0x10, "IPTOS_THROUGHPUT": 0x08, "IPTOS_RELIABILITY": 0x04,
    **{f"IPTOS_DSCP_CS{n}": n << 5 for n in range(8)},
    # send/recv flags
    "MSG_OOB": 0x1, "MSG_PEEK": 0x2, "MSG_DONTROUTE": 0x4, "MSG_CTRUNC": 0x8,
    "MSG_TRUNC": 0x20, "MSG_DONTWAIT": 0x40, "MSG_EOR": 0x80, "MSG_WAITALL": 0x100,
    "MSG_ERRQUEUE": 0x2000, "MSG_NOSIGNAL": 0x4000, "MSG_MORE": 0x8000,
    "MSG_ZEROCOPY": 0x4000000, "MSG_FASTOPEN": 0x20000000, "MSG_CMSG_CLOEXEC": 0x40000000,
    # shutdown()
    "SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2,
    # fcntl()
    "F_GETFD": 1, "F_SETFD": 2, "F_GETFL": 3, "F_SETFL": 4, "FD_CLOEXEC": 1,
    "O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_NONBLOCK": 0o4000, "O_APPEND": 0o2000,
    "O_CLOEXEC": 0o2000000,
    # splice()
    "SPLICE_F_MOVE": 1, "SPLICE_F_NONBLOCK": 2, "SPLICE_F_MORE": 4, "SPLICE_F_GIFT": 8,
    # ioctl()
    "SIOCINQ": 0x541B, "FIONREAD": 0x541B, "SIOCOUTQ": 0x5411, "TIOCOUTQ": 0x5411,
    "FIONBIO": 0x5421, "SIOCOUTQNSD": 0x894B,
    # poll()
    "POLLIN": 0x1, "POLLPRI": 0x2, "POLLOUT": 0x4, "POLLERR": 0x8, "POLLHUP": 0x10,
    "POLLNVAL": 0x20, "POLLRDNORM": 0x40, "POLLRDBAND": 0x80, "POLLWRNORM": 0x100,
    "POLLWRBAND": 0x200, "POLLRDHUP": 0x2000,
    # epoll
    "EPOLLIN": 0x1, "EPOLLPRI": 0x2, "EPOLLOUT": 0x4, "EPOLLERR": 0x8, "EPOLLHUP": 0x10,
    "EPOLLRDNORM": 0x40, "EPOLLRDBAND": 0x80, "EPOLLWRNORM": 0x100, "EPOLLWRBAND": 0x200,
    "EPOLLMSG": 0x400, "EPOLLRDHUP": 0x2000, "EPOLLEXCLUSIVE": 1 << 28, "EPOLLWAKEUP": 1 << 29,
    "EPOLLONESHOT": 1 << 30, "EPOLLET": 1 << 31,
    "EPOLL_CTL_ADD": 1, "EPOLL_CTL_DEL": 2, "EPOLL_CTL_MOD": 3, "EPOLL_CLOEXEC": 0o2000000,
    # congestion-avoidance states (tcpi_ca_state)
    "TCP_CA_Open": 0, "TCP_CA_Disorder": 1, "TCP_CA_CWR": 2, "TCP_CA_Recovery": 3,
    "TCP_CA_Loss": 4,
}
"""Symbolic constants drill accepts in system call arguments (Linux values)."""

UNSUPPORTED_SYMBOLS: dict[str, str] = {
    "TCP_ZEROCOPY_RECEIVE": "zero-copy",
    "TCP_MD5SIG": "TCP MD5 option",
    "TCP_MD5SIG_EXT": "TCP MD5 option",
    "SO_TIMESTAMP": "timestamping",
    "SCM_TIMESTAMPING_OPT_STATS": "timestamping statistics",
    "TCP_REPAIR": "TCP repair mode",
    "TCP_ULP": "upper-layer protocols (TCP_ULP)",
    "TCP_SAVE_SYN": "saved SYN",
    "TCP_SAVED_SYN": "saved SYN",
    "TCP_REMOTE_UDP_ENCAPS_PORT": "UDP encapsulation",
}
"""Symbols whose feature drill does not run, with the construct it reports."""

NON_LINUX_SYMBOLS = frozenset({
    "TCP_NOOPT", "TCP_KEEPINIT", "TCP_NOPUSH", "TCP_MAXRXTSHIFT", "TCP_FUNCTION_BLK",
    "TCP_RACK_PACE_RATE_SS", "TCP_RACK_PACE_MAX_SEG", "TCP_RACK_PACE_ALWAYS",
    "TCP_RESOURCE_PROBE_INTERVAL", "TCP_OPTI_SYN_DATA", "IPV6_USE_MIN_MTU", "TCP_NAGLE",
    "SO_NOSIGPIPE", "SO_SETFIB", "SO_USER_COOKIE", "TCP_LOG", "TCP_CCALGOOPT",
})
"""Socket option names of other systems (FreeBSD) that a Linux TCP does not have."""


def unsupported_construct(word: str) -> str | None:
    """The construct drill reports for ``word`` if drill cannot run it, else None.

    ``"TCP_ZEROCOPY_RECEIVE"`` -> ``"zero-copy"``; a FreeBSD-only option name
    (``"TCP_NOOPT"``) -> ``"non-Linux socket option"``.
    """
    if word in UNSUPPORTED_SYMBOLS:
        return UNSUPPORTED_SYMBOLS[word]
    if word in NON_LINUX_SYMBOLS:
        return "non-Linux socket option"
    return None
