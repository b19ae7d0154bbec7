"""``tcpstack drill``: output, exit status, JUnit XML, the two-target table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcpstack.cli import drill as drill_cli
from tcpstack.cli import main
from tcpstack.config import TcpConfig
from tcpstack.harness.drill.model import DrillError
from tcpstack.harness.drill.report import comparison_table, junit_xml, outcome, result_lines
from tcpstack.harness.drill.runner import DrillResult, Failure
from tcpstack.harness.drill.target import Target
from tcpstack.harness.drill.targets.tcpstack import TcpstackTarget

HANDSHAKE = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 32792
+0 accept(3, ..., ...) = 4
"""
# Passes when ACKs are delayed 40 ms (tcpstack), fails when they are immediate.
DELAYED_ACK = HANDSHAKE + "+0 < P. 1:11(10) ack 1 win 32792\n+.04 > . 1:1(0) ack 11\n"
BROKEN = HANDSHAKE + "+0 > R 1:1(0)\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class ImmediateAckLinux(TcpstackTarget):
    """Stands in for the Linux target: ACKs at once."""

    name = "linux"

    def __init__(self) -> None:
        super().__init__(TcpConfig.linux(delayed_ack=0.0))


@pytest.fixture
def fake_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    def create(name: str) -> Target:
        return ImmediateAckLinux() if name == "linux" else TcpstackTarget()

    monkeypatch.setattr(drill_cli, "create_target", create)


def test_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ok.pkt", HANDSHAKE)
    assert main(["drill", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "ok.pkt" in out and "[tcpstack]" in out


def test_fail_shows_line_expected_and_actual(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "bad.pkt", BROKEN)
    assert main(["drill", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert "line 8: expected a packet at 0.100000 s" in out
    assert "expected: Flags [R], seq 1, win *, length 0" in out
    assert "actual:   (no packet)" in out


def test_timing_error_is_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "late.pkt", DELAYED_ACK.replace("+.04 >", "+.02 >"))
    assert main(["drill", str(path)]) == 1
    out = capsys.readouterr().out
    assert "timing error: +20.000 ms" in out
    assert main(["drill", "--tolerance-usecs", "25000", str(path)]) == 0


def test_directory_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "a.pkt", HANDSHAKE)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "b.pkt", BROKEN)
    write(tmp_path, "notes.txt", "not a script")
    assert main(["drill", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "a.pkt" in out and "b.pkt" in out and "notes.txt" not in out
    assert "1 passed, 1 failed" in out


def test_verbose_prints_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ok.pkt", HANDSHAKE)
    assert main(["drill", "-v", str(path)]) == 0
    out = capsys.readouterr().out
    assert "< Flags [S], seq 0" in out
    assert "accept(3, ..., ...) -> 4" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/x.pkt"], "no such script or directory: /nonexistent/x.pkt"),
        (["EMPTY_DIR"], "no *.pkt scripts under"),
        (["SYNTAX"], "syntax.pkt:2: expected a time"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    syntax = write(tmp_path, "syntax.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                                           "socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n")
    args = [str(tmp_path / "empty") if a == "EMPTY_DIR" else str(syntax) if a == "SYNTAX" else a
            for a in args]
    assert main(["drill", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tcpstack drill: error: ")
    assert message in lines[0]


def test_bad_junit_path_fails_before_any_script_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "ok.pkt", HANDSHAKE)
    junit = tmp_path / "missing" / "j.xml"
    assert main(["drill", "--junit", str(junit), str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no script ran
    assert captured.err == (
        f"tcpstack drill: error: cannot write --junit {junit}: No such file or directory\n"
    )


def test_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["drill", "--tolerance-usecs", "-5", "x.pkt"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["drill", "--target", "bsd", "x.pkt"])
    with pytest.raises(SystemExit):
        main(["drill"])
    assert "Traceback" not in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["drill", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--target both" in out and "--junit" in out


def test_linux_unavailable_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    def create(name: str) -> Target:
        if name == "linux":
            raise DrillError("the linux target needs root")
        return TcpstackTarget()

    monkeypatch.setattr(drill_cli, "create_target", create)
    path = write(tmp_path, "ok.pkt", HANDSHAKE)
    assert main(["drill", "--target", "linux", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == "tcpstack drill: error: the linux target needs root\n"
    # With both targets nothing runs either.
    assert main(["drill", "--target", "both", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "tcpstack drill: error: the linux target needs root\n"


def test_target_start_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    class NoNamespaces(TcpstackTarget):
        name = "linux"

        def start(self) -> None:
            raise DrillError("cannot create a network namespace")

    monkeypatch.setattr(drill_cli, "create_target", lambda name: NoNamespaces())
    path = write(tmp_path, "ok.pkt", HANDSHAKE)
    assert main(["drill", "--target", "linux", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == "tcpstack drill: error: linux target: cannot create a network namespace\n"


def test_both_targets_table(tmp_path: Path, fake_linux: None,
                            capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "same.pkt", HANDSHAKE)
    write(tmp_path, "differs.pkt", DELAYED_ACK)
    assert main(["drill", "--target", "both", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "tcpstack vs linux" in out
    assert "differs.pkt" in out and "same.pkt" in out
    assert "linux line 9" in out
    assert "3 passed, 1 failed" in out


def test_linux_deviation_is_not_a_failure(tmp_path: Path, fake_linux: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "dev.pkt", "// linux-deviation: Linux ACKs at once here\n" + DELAYED_ACK)
    assert main(["drill", "--target", "both", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "DEVIATION" in out
    assert "expected deviation" in out
    assert "Linux ACKs at once here" in out
    assert main(["drill", "--target", "linux", str(tmp_path)]) == 0


def test_junit(tmp_path: Path, fake_linux: None) -> None:
    write(tmp_path, "a_ok.pkt", HANDSHAKE)
    write(tmp_path, "b_bad.pkt", BROKEN)
    write(tmp_path, "c_dev.pkt", "// linux-deviation: because\n" + DELAYED_ACK)
    report = tmp_path / "out" / "drill.xml"
    report.parent.mkdir()
    assert main(["drill", "--target", "both", "--junit", str(report), str(tmp_path)]) == 1
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("6", "2")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"drill.tcpstack", "drill.linux"}
    linux = suites["drill.linux"]
    assert (linux.get("tests"), linux.get("failures"), linux.get("skipped")) == ("3", "1", "1")
    cases = {Path(c.get("name", "")).name: c for c in linux.findall("testcase")}
    assert cases["a_ok.pkt"].find("failure") is None
    failure = cases["b_bad.pkt"].find("failure")
    assert failure is not None
    assert (failure.get("message") or "").startswith("line 8: expected a packet")
    assert "expected: Flags [R]" in (failure.text or "")
    skipped = cases["c_dev.pkt"].find("skipped")
    assert skipped is not None and skipped.get("message") == "expected deviation: because"


def test_junit_unwritable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ok.pkt", HANDSHAKE)
    assert main(["drill", "--junit", str(tmp_path / "no" / "dir" / "x.xml"), str(path)]) == 2
    assert "tcpstack drill: error: " in capsys.readouterr().err


def test_standalone_main(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.pkt", HANDSHAKE)
    assert drill_cli.main([str(path)]) == 0


def test_report_helpers() -> None:
    ok = DrillResult("a.pkt", "tcpstack", True, duration=0.5)
    bad = DrillResult("a.pkt", "linux", False,
                      (Failure(3, "late", "Flags [S]", "Flags [R]", timing_error=0.012),),
                      linux_deviation=None)
    dev = DrillResult("a.pkt", "linux", False, (Failure(3, "x"),), linux_deviation="why")
    assert [outcome(r) for r in (ok, bad, dev)] == ["PASS", "FAIL", "DEVIATION"]
    text = "\n".join(line.plain for line in result_lines(bad))
    assert "line 3: late" in text and "timing error: +12.000 ms" in text
    assert "expected deviation: why" in "\n".join(line.plain for line in result_lines(dev))
    table = comparison_table([(ok, dev)])
    assert table.row_count == 1
    root = junit_xml([ok, bad, dev])
    assert root.get("tests") == "3"
