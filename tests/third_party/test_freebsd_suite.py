"""The FreeBSD network group's TCP test suite, unchanged, against tcpstack and Linux.

Every script of ``tests/third_party/tcp-testsuite`` (IPv4 and IPv6) is parsed
and, when drill runs it, run on the tcpstack target with packetdrill's rule
for unlisted packets (``--unexpected defer``). Its outcome must match the line
for it in ``tcp-testsuite.expect``::

    state-event-engine/rcv-ack-closed/rcv-ack-closed-ipv4.pkt  pass
    fast-open/...-ipv4.pkt  unsupported  TCP Fast Open
    snd-syn/...-ipv6.pkt  fail  FreeBSD's SYN option layout (...)

``fail`` lines name why the script differs on tcpstack; the reason is the
category of the first difference, from :data:`REASONS` (a failure no category
describes is recorded with its own message, numbers masked). A script that
starts passing, or fails for another reason, makes this test fail: update the
file with ``TCPSTACK_UPDATE_GOLDEN=1`` and review the change.

On the Linux target every script is matched against ``tcp-testsuite.linux.expect``
the same way. Every script of the suite sets FreeBSD's sysctls (``net.inet.*``,
``kern.ipc.*``), which Linux does not have (packetdrill on Linux stops at that
line), so the Linux target reports each as ``unsupported  FreeBSD sysctls``
without starting a namespace; a script that would run needs root and TUN (the
test then skips, or fails under ``TCPSTACK_REQUIRE_TUN=1``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tcpstack.harness.drill.model import DrillUnsupported
from tcpstack.harness.drill.runner import run_script
from tcpstack.harness.drill.suite import load
from tcpstack.harness.drill.targets import create_target
from tcpstack.harness.drill.targets.linux import linux_unavailable_reason

HERE = Path(__file__).parent
SUITE = HERE / "tcp-testsuite"
EXPECT = HERE / "tcp-testsuite.expect"
EXPECT_LINUX = HERE / "tcp-testsuite.linux.expect"

REASONS: list[tuple[str, str]] = [
    (r"sockstat", "FreeBSD-only command: sockstat"),
    (r"flags \[S\.?\], expected \[S\.?EW\]|flags \[S\.?\], expected \[S\.?E\]",
     "ECN negotiation (net.inet.tcp.ecn.enable): tcpstack has no ECN"),
    (r"options <mss \d+,sackOK,TS val \d+ ecr \d+,nop,wscale \d+>, expected <mss \d+,nop,wscale",
     "FreeBSD's SYN option layout (mss,nop,wscale,sackOK,TS); tcpstack sends Linux's"),
    (r"options <mss \d+,nop,nop,sackOK>, expected <mss \d+,sackOK>",
     "FreeBSD's option layout without padding (mss,sackOK); tcpstack pads as Linux does"),
    (r"name 'TCPI_[A-Z_]+' is not defined",
     "%{ }% uses FreeBSD's TCPI_* state names"),
    (r"getsockopt\(\) optval is \d+, expected \d+.*SO_(RCV|SND)BUF",
     "FreeBSD's socket buffer sizes (SO_RCVBUF/SO_SNDBUF as FreeBSD rounds them)"),
    (r"options <none>, expected <nop,nop,sack",
     "no SACK block where FreeBSD sends one"),
    (r"differs: win \d+, expected \d+",
     "receive window differs from FreeBSD's: tcpstack keeps the right edge fixed for "
     "small gains (receiver SWS avoidance, RFC 9293 §3.8.6.2.2), FreeBSD advertises "
     "its whole free buffer"),
    (r"options <[^>]*>, expected <",
     "TCP option layout differs from FreeBSD's"),
]
"""Categories of the first difference: (regular expression on the failure, reason)."""

SCRIPT_REASONS: list[tuple[str, str, str]] = [
    (r"-insecure-", r"expected \[R\.?\]",
     "RFC 793 variant (net.inet.tcp.insecure_syn=1): FreeBSD resets on an in-window SYN; "
     "tcpstack answers with a challenge ACK (RFC 5961 §4, RFC 9293 §3.10.7.4)"),
    (r"-insecure-", r"expected ECONNRESET",
     "RFC 793 variant (net.inet.tcp.insecure_rst=1): FreeBSD accepts any in-window RST; "
     "tcpstack resets only at RCV.NXT and otherwise sends a challenge ACK (RFC 5961 §3)"),
    (r"right-edge", r"none was sent|expected \[\.\]",
     "a RST or SYN at FreeBSD's right edge (its 65700-byte buffer) lies beyond the 65535 "
     "bytes tcpstack advertised: tcpstack drops it silently (RFC 5961 §3.2, §4.2)"),
    (r"-closing/|/closing-|via-closing", r"flags \[\.\], expected \[F\.\]",
     "FreeBSD repeats its unacknowledged FIN on the ACK of the peer's FIN (CLOSING); "
     "tcpstack sends a pure ACK at SND.NXT (RFC 9293 §3.10.7.4)"),
    (r"syn-fin-.*dropping-enabled", r"",
     "FreeBSD drops a SYN carrying FIN (net.inet.tcp.drop_synfin=1); tcpstack answers "
     "it as a SYN (RFC 9293 has no such rule)"),
]
"""Categories that depend on the script as well: (regular expression on its path, on the
failure, reason); tried before :data:`REASONS`."""


def reason_of(message: str, path: str = "") -> str:
    """The category of a failure message (of the script at ``path``), or the message
    with its numbers masked."""
    for path_pattern, pattern, reason in SCRIPT_REASONS:
        if re.search(path_pattern, path) and re.search(pattern, message):
            return reason
    for pattern, reason in REASONS:
        if re.search(pattern, message):
            return reason
    return re.sub(r"\d+(\.\d+)?", "N", message.split(" (")[0])[:160]


def _may_run_linux() -> None:
    """Return if a script may run on the Linux target here; else skip, or fail under
    TCPSTACK_REQUIRE_TUN=1."""
    reason = linux_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("TCPSTACK_REQUIRE_TUN") == "1":
        pytest.fail(f"TCPSTACK_REQUIRE_TUN=1 but a FreeBSD script would run on Linux: {reason}")
    pytest.skip(f"a FreeBSD script would run on the Linux target: {reason}")


def outcomes(target: str = "tcpstack") -> dict[str, tuple[str, str]]:
    """``{relative path: (outcome, reason)}`` for every script of the suite."""
    out: dict[str, tuple[str, str]] = {}
    for loaded in load([str(SUITE)]):
        rel = Path(loaded.path).relative_to(SUITE).as_posix()
        if loaded.script is None:
            construct = loaded.construct
            out[rel] = ("unsupported" if loaded.unsupported else "not-parsed", construct)
            continue
        try:
            if target == "linux":
                # Declined in prepare() (no namespace yet), or run for real.
                create_target("linux").prepare(loaded.script)
                _may_run_linux()
            result = run_script(loaded.script, create_target(target), unexpected="defer")
        except DrillUnsupported as exc:  # a feature the tcpstack target lacks (features.py)
            out[rel] = ("unsupported", exc.construct)
            continue
        failure = result.failure
        if result.passed or failure is None:
            out[rel] = ("pass", "")
        else:
            out[rel] = ("fail", reason_of(f"{failure.message} {failure.expected}", rel))
    return out


def render(results: dict[str, tuple[str, str]], target: str = "tcpstack") -> str:
    lines = [
        f"# tcpstack drill --target {target} on the FreeBSD TCP test suite: the expected "
        "outcome per script.",
        "# <script>  pass | fail <why> | unsupported <construct> | not-parsed",
        "# Regenerate: TCPSTACK_UPDATE_GOLDEN=1 pytest tests/third_party/test_freebsd_suite.py",
    ]
    for rel in sorted(results):
        outcome, why = results[rel]
        lines.append(f"{rel}  {outcome}" + (f"  {why}" if why else ""))
    return "\n".join(lines) + "\n"


def read_expectations(path: Path = EXPECT) -> dict[str, tuple[str, str]]:
    expected: dict[str, tuple[str, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("  ", 2)
        expected[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return expected


@pytest.mark.parametrize(("target", "path"), [("tcpstack", EXPECT), ("linux", EXPECT_LINUX)])
def test_every_script_matches_its_expectation(target: str, path: Path) -> None:
    results = outcomes(target)
    assert len(results) == len(list(SUITE.rglob("*.pkt"))) > 1000
    if os.environ.get("TCPSTACK_UPDATE_GOLDEN") == "1":
        path.write_text(render(results, target), encoding="utf-8")
    expected = read_expectations(path)
    assert set(expected) == set(results), "scripts added or removed: update the file"
    changed = {rel: (expected[rel], got) for rel, got in results.items() if expected[rel] != got}
    assert not changed, f"{len(changed)} scripts changed, e.g. {sorted(changed.items())[:5]}"


def test_both_ip_versions_run() -> None:
    expected = read_expectations()
    for version in ("ipv4", "ipv6"):
        ran = [rel for rel, (outcome, _) in expected.items()
               if rel.endswith(f"-{version}.pkt") and outcome in ("pass", "fail")]
        assert len(ran) > 300, version
