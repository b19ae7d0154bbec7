"""`tcpstack demo` and `tcpstack scenarios` in English and Chinese, and the faults the
viewer needs (`--drop N`, `--drop-final-ack`)."""

from __future__ import annotations

import json

import pytest

from tcpstack.cli import main
from tcpstack.scenarios import SCENARIOS, get_scenario


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def squeeze(text: str) -> str:
    """The output without the panel's borders and line breaks (to find wrapped text)."""
    return "".join(ch for line in text.splitlines() for ch in line.strip("│ ") if ch != " ")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_demo_explains_in_the_chosen_language(lang: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["demo", "lost-final-ack", "--lang", lang], capsys)
    assert code == 0
    sc = get_scenario("lost-final-ack")
    other = "zh" if lang == "en" else "en"
    assert squeeze(sc.question.get(lang)) in squeeze(out)
    assert squeeze(sc.answer.get(lang)) in squeeze(out)
    assert squeeze(sc.question.get(other)) not in squeeze(out)


def test_demo_language_from_the_locale(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    _, out, _ = run_cli(["demo", "close-wait-leak"], capsys)
    assert "为什么会有大量连接堆积在 CLOSE-WAIT" in out
    assert "时间（秒）" in out  # the ss table of the run, in Chinese too
    monkeypatch.setenv("LANG", "C.UTF-8")
    _, out, _ = run_cli(["demo", "close-wait-leak"], capsys)
    assert "Why do connections pile up in CLOSE-WAIT" in out


def test_chinese_is_wrapped_within_the_width(capsys: pytest.CaptureFixture[str]) -> None:
    from tcpstack.tools.wrap import cell_width

    _, out, _ = run_cli(["demo", "time-wait-old-duplicate", "--lang", "zh"], capsys)
    panel = out.split("\n╰")[0].splitlines()
    assert all(cell_width(line) <= 80 for line in panel)
    # No line of the panel is mostly empty: Chinese breaks between characters.
    body = [line.strip("│ ") for line in panel[1:]]
    assert sum(cell_width(line) < 40 for line in body if line) <= 3


def test_scenarios_lists_every_scenario_in_each_language(
        capsys: pytest.CaptureFixture[str]) -> None:
    for lang in ("en", "zh"):
        code, out, _ = run_cli(["scenarios", "--lang", lang], capsys)
        assert code == 0
        lines = out.splitlines()
        assert len(lines) == len(SCENARIOS)
        for line, sc in zip(lines, SCENARIOS.values(), strict=True):
            assert line.split()[0] == sc.name
            assert line.endswith(sc.summary.get(lang))


def test_scenarios_name_prints_question_and_answer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["scenarios", "syn-fin-consume-sequence", "--lang", "zh"], capsys)
    assert code == 0
    assert "为什么 SYN 和 FIN 各占用一个序列号？" in out
    assert squeeze(get_scenario("syn-fin-consume-sequence").answer.zh) in squeeze(out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--lang", "fr"], "--lang: unknown language 'fr'"),
        (["scenarios", "--lang", "klingon"], "--lang: unknown language"),
        (["scenarios", "no-such-thing"], "unknown scenario 'no-such-thing'"),
        (["demo", "--drop", "0"], "--drop: packet numbers start at 1"),
        (["demo", "--drop", "two"], "--drop: not a packet number: 'two'"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(argv: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"tcpstack: error: {message}")
    assert "Traceback" not in err


def dropped(out: str) -> list[dict[str, object]]:
    objs = [json.loads(line) for line in out.splitlines()]
    return [o["data"] for o in objs if o["event"] == "segment_dropped"]


def test_drop_flags(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(["demo", "--json", "--drop", "1"], capsys)
    (first,) = dropped(out)
    assert first["flags"] == ["SYN"] and first["reason"] == "scripted-drop"
    # Packet 2 is the SYN sent again after 1 s; packet 3 the SYN,ACK answering it.
    _, out, _ = run_cli(["demo", "--json", "--drop", "1", "--drop", "3"], capsys)
    assert [d["flags"] for d in dropped(out)] == [["SYN"], ["SYN", "ACK"]]
    _, with_flag, _ = run_cli(["demo", "lifecycle", "--json", "--drop-final-ack"], capsys)
    _, scenario, _ = run_cli(["demo", "lost-final-ack", "--json"], capsys)
    assert with_flag == scenario
