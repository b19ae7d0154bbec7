"""The ladder never crashes and never hides: any trace draws, in the terminal and as SVG.

Every scenario under the links a user may ask for (``--loss 0.9``,
``--delay 5``, ``--jitter 2``, seeds 1 to 20), synthetic odd traces, and
random ones (hypothesis) render without an exception; at 80 columns no line
is wider than the console, no number is split across lines and no
annotation or mark is left out; a closed stdout ends ``tcpstack demo``
quietly.
"""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from tcpstack.cli import main
from tcpstack.scenarios import SCENARIOS, ScenarioOptions
from tcpstack.tools._model import build_model
from tcpstack.tools.annotate import annotate
from tcpstack.tools.html import render_svg
from tcpstack.tools.ladder import LadderDiagram, render_ladder
from tcpstack.tools.sample import CLIENT_CONN, SERVER_CONN, lifecycle_trace
from tcpstack.trace import EVENT_NAMES, TraceRecord

SVG = "{http://www.w3.org/2000/svg}"
LINKS = {"loss 0.9": {"loss": 0.9}, "delay 5": {"delay": 5.0}, "jitter 2": {"jitter": 2.0}}


def terminal(records: list[TraceRecord], width: int = 80, **kw: Any) -> str:
    console = Console(record=True, width=width, no_color=True, file=io.StringIO())
    console.print(render_ladder(records, **kw))
    return console.export_text()


def draw_both(records: list[TraceRecord], **kw: Any) -> tuple[str, ET.Element]:
    """The terminal lines at 80 columns (checked to fit) and the parsed SVG."""
    diagram = render_ladder(records, **kw)
    assert isinstance(diagram, LadderDiagram)
    lines = [line.plain for line in diagram.lines(80)]
    assert max(cell_len(line) for line in lines) <= 80
    return "\n".join(lines), ET.fromstring(render_svg(records, **kw))


@pytest.mark.parametrize("link", list(LINKS))
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_draws_on_every_link_and_seed(name: str, link: str) -> None:
    for seed in range(1, 21):
        result = SCENARIOS[name].run(ScenarioOptions(seed=seed, **LINKS[link]))
        text, root = draw_both(result.records, left=result.client, right=result.server)
        model = build_model(result.records, left=result.client, right=result.server)
        assert f"{len(model.segments)} segments" in text
        groups = [g for g in root.iter(f"{SVG}g") if "seg" in (g.get("class") or "").split()]
        assert len(groups) == len(model.segments)
        assert {g.get("data-fate") for g in groups} <= {"lost", "dropped", "processed", "unknown"}


def test_a_connection_that_never_opened_shows_its_lost_syns() -> None:
    # Before: ValueError: right host 'server' is not part of the connection.
    for seed in range(1, 21):
        result = SCENARIOS["lost-syn"].run(ScenarioOptions(seed=seed, loss=0.9))
        model = build_model(result.records, left="client", right="server")
        if any(s.fate != "lost" for s in model.segments):
            continue
        text, root = draw_both(result.records, left="client", right="server")
        header = text.splitlines()[0]
        assert "client" in header and "server" in header
        assert "".join(_region_lines(text)).count("✕ lost") == len(model.segments) > 1
        assert "connect() fails" in text and "listen()" in text
        assert "RTO fired, backoff to 2 s" in text
        assert len([g for g in root.iter(f"{SVG}g") if g.get("data-fate") == "lost"]) == len(
            model.segments)
        return
    pytest.fail("no seed lost every SYN")


# -- odd traces --------------------------------------------------------------------------


def rec(t: float, host: Any, conn: Any, event: Any, data: Any) -> TraceRecord:
    return TraceRecord(t, host, conn, event, data)


ODD: dict[str, list[TraceRecord]] = {
    "empty": [],
    "one record": [rec(0.0, "a", "x:1-y:2", "segment_sent", {"seq": 1, "flags": ["SYN"]})],
    "only a listener": [
        rec(0.0, "server", "192.0.2.2:80-*", "app", {"call": "listen", "port": 80})],
    "only host-level drops": [
        rec(0.0, "h", "", "segment_dropped", {"reason": "bad-checksum", "detail": "x",
                                             "bytes": "00ff"}),
        rec(0.1, "h", "", "segment_dropped", {})],
    "unparseable data": [
        rec(0.0, "a", "x:1-y:2", "segment_sent", "garbage"),
        rec(0.1, "b", "y:2-x:1", "segment_received", ["SYN"]),
        rec(0.2, "a", "x:1-y:2", "state_updated", None),
        rec(0.3, "a", "x:1-y:2", "app", {"call": 7, "bytes": "many"}),
        rec(0.4, "a", "x:1-y:2", "segment_received", {"seq": 1e300, "ack": -5, "len": True,
                                                      "flags": 3, "options": [1, 2]}),
        rec(0.5, "a", "x:1-y:2", "timer_set", {"timer": "time_wait", "at": float("inf")})],
    "bad times and names": [
        rec(float("nan"), "a", "x:1-y:2", "segment_sent", {"seq": 1}),
        rec(math.inf, "a", "x:1-y:2", "segment_sent", {"seq": 2}),
        rec(0.1, None, "x:1-y:2", "segment_sent", {"seq": 3}),
        rec(0.2, "a", None, "segment_sent", {"seq": 4}),
        rec(0.3, "a", "x:1-y:2", None, {"seq": 5})],
    "times out of order": list(reversed(lifecycle_trace())),
    "a one-sided TUN trace": [
        r for r in lifecycle_trace(lose_data=False) if r.host == "client"] + [
        rec(9.0, "client", CLIENT_CONN, "segment_dropped",
            {"reason": "fault-loss", "direction": "from-kernel", "seq": 9, "ack": 1,
             "flags": ["ACK"], "len": 0})],
    "only the server's side": [r for r in lifecycle_trace() if r.host == "server"],
    "two connections, no segments": [
        rec(0.0, "a", "x:1-y:2", "state_updated", {"old": "CLOSED", "new": "SYN-SENT"}),
        rec(0.0, "a", "x:3-y:2", "app", {"call": "connect"})],
    "drops for a connection that closed": [
        *lifecycle_trace(),
        rec(300.0, "client", "", "segment_dropped", {"reason": "link-down", "to": "server",
                                                    "seq": 1, "ack": 0, "flags": ["RST"]}),
        rec(301.0, "server", SERVER_CONN, "segment_dropped",
            {"reason": "connection-closed", "seq": 77, "ack": 0, "flags": ["ACK"], "len": 0})],
}


@pytest.mark.parametrize("name", list(ODD))
def test_odd_traces_draw(name: str) -> None:
    records = ODD[name]
    for width in (60, 80, 200):
        text = terminal(records, width=width)
        assert max((cell_len(line) for line in text.splitlines()), default=0) <= max(width, 60)
    ET.fromstring(render_svg(records))
    ET.fromstring(render_svg(records, lang="zh"))
    model = build_model(records)
    annotate(model, records)


def test_a_connection_that_is_not_in_the_trace_is_the_only_error() -> None:
    with pytest.raises(ValueError, match="not in the trace"):
        render_ladder(lifecycle_trace(), conn="10.0.0.1:1-10.0.0.2:2")
    with pytest.raises(ValueError, match="not in the trace"):
        render_svg(ODD["only a listener"], conn="192.0.2.2:80-*")


_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**33), 2**33), st.floats(allow_nan=True),
    st.text(max_size=12), st.lists(st.integers(0, 5), max_size=3),
    st.sampled_from(["SYN", "ACK", "FIN", "RST", "rto", "time_wait", "read", "send", "close",
                     "ESTABLISHED", "TIME-WAIT", "retransmitted-fin", "lost-in-network"]),
)
_fields = st.sampled_from(["seq", "ack", "flags", "len", "window", "options", "reason", "to",
                           "direction", "new", "old", "cause", "timer", "at", "call", "bytes",
                           "eof", "snd_una", "snd_nxt", "snd_wnd", "rto", "detail"])
_records = st.builds(
    TraceRecord,
    time=st.one_of(st.floats(0, 1000), st.just(math.nan)),
    host=st.sampled_from(["a", "b", "c"]),
    conn=st.sampled_from(["x:1-y:2", "y:2-x:1", "y:2-*", "", "nonsense", "x:1-z:3"]),
    event=st.sampled_from([*sorted(EVENT_NAMES), "unknown"]),
    data=st.dictionaries(_fields, _values, max_size=6),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_records, max_size=25))
def test_random_traces_never_raise(records: list[TraceRecord]) -> None:
    model = build_model(records)
    annotate(model, records)
    for lang in ("en", "zh"):
        text = terminal(records, width=80, lang=lang)
        assert max((cell_len(line) for line in text.splitlines()), default=0) <= 80
        ET.fromstring(render_svg(records, lang=lang))


# -- 80 columns: nothing broken, nothing dropped ----------------------------------------------


def _region_lines(text: str) -> list[str]:
    """The part of each diagram line between the two lifelines."""
    out = []
    for line in text.splitlines():
        bars = [i for i, ch in enumerate(line) if ch in "│⋮"]
        if len(bars) >= 2:
            out.append(line[bars[0] + 1 : bars[-1]])
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_at_80_columns_no_number_is_split_and_nothing_is_left_out(name: str, lang: str) -> None:
    result = SCENARIOS[name].run(ScenarioOptions())
    kw: dict[str, Any] = {"left": result.client, "right": result.server}
    model = build_model(result.records, **kw)
    for absolute in (False, True):
        text = terminal(result.records, lang=lang, absolute=absolute, **kw)
        numbers = set(re.findall(r"\d+", text))
        for seg in model.segments:
            # The window may be left out, and the summary then says "win omitted".
            for n in re.findall(r"\d+", " ".join(seg.label_parts(absolute, window=False))):
                assert n in numbers, (seg.label(absolute), n)
    text = terminal(result.records, lang=lang, **kw)
    squeezed = "".join(part.strip() for part in _region_lines(text)).replace(" ", "")
    flat = squeezed + text.replace(" ", "")
    for note in annotate(model, result.records):
        assert ("↳" + note.text.get(lang)).replace(" ", "") in squeezed, note
    for mark in model.marks:
        assert mark.display(lang).replace(" ", "") in flat, mark


def test_width_option_and_its_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "lost-final-ack", "--quiet", "--width", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(cell_len(line) for line in lines) <= 100
    assert max(cell_len(line) for line in lines) > 80
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--width", "30"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "at least 60 columns" in err and "Traceback" not in err


def test_demo_under_heavy_loss_draws(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "lifecycle", "--loss", "0.9", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "✕ lost" in out and "client" in out and "server" in out


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_a_closed_stdout_ends_the_demo_quietly(extra: list[str]) -> None:
    # The reader goes away before the first line (tcpstack demo | head -0).
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcpstack", "demo", "fast-retransmit", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    proc.stderr.close()
    assert err == ""
    assert code in (0, 141)
