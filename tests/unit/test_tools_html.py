"""tcpstack.tools.html: the SVG ladder and the self-contained HTML page."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcpstack.scenarios import SCENARIOS, ScenarioOptions
from tcpstack.tools.html import render_html, render_svg
from tcpstack.tools.sample import lifecycle_trace
from tcpstack.trace import TraceRecord

SVG = "{http://www.w3.org/2000/svg}"


def texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def segment_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "seg" in (g.get("class") or "").split()]


def shaft(group: ET.Element) -> ET.Element:
    return next(el for el in group.iter(f"{SVG}line") if el.get("class") == "shaft")


def label_of(group: ET.Element) -> str:
    for el in group.iter(f"{SVG}text"):
        if "label" in (el.get("class") or "") and "abs" not in (el.get("class") or ""):
            return "".join(el.itertext())
    return ""


@pytest.fixture(scope="module")
def svg_root() -> ET.Element:
    return ET.fromstring(render_svg(lifecycle_trace(), title="Lifecycle"))


def test_svg_is_well_formed_with_states_and_labels(svg_root: ET.Element) -> None:
    assert svg_root.tag == f"{SVG}svg"
    words = texts(svg_root)
    for state in ["SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2",
                  "CLOSE-WAIT", "LAST-ACK", "TIME-WAIT", "CLOSED", "LISTEN"]:  # fmt: skip
        assert state in words, state
    joined = "\n".join(words)
    assert "SYN seq=0 len=0 win=65535" in joined
    assert "SYN,ACK seq=0 ack=1 len=0" in joined
    assert "SYN,ACK seq=5000 ack=1001 len=0" in joined  # the absolute variant is there too
    assert "<mss 1460,wscale 7,sackOK>" in joined
    assert "client" in words and "server" in words and "Lifecycle" in words


def test_states_are_beside_their_own_lifeline(svg_root: ET.Element) -> None:
    xs = {}
    for el in svg_root.iter(f"{SVG}text"):
        if el.get("class") == "state":
            xs.setdefault(el.text, []).append(float(el.get("x", "0")))
    mid = float(svg_root.get("width", "0")) / 2
    assert all(x < mid for x in xs["SYN-SENT"] + xs["TIME-WAIT"] + xs["FIN-WAIT-2"])
    assert all(x > mid for x in xs["LISTEN"] + xs["SYN-RECEIVED"] + xs["LAST-ACK"])
    assert sorted(x < mid for x in xs["ESTABLISHED"]) == [False, True]


def test_arrows_slope_down_in_the_right_direction(svg_root: ET.Element) -> None:
    groups = {label_of(g): g for g in segment_groups(svg_root)}
    assert len(segment_groups(svg_root)) == 12
    syn = shaft(groups["SYN seq=0 len=0 win=65535"])
    synack = shaft(groups["SYN,ACK seq=0 ack=1 len=0 win=65535"])
    assert float(syn.get("x1", "0")) < float(syn.get("x2", "0"))
    assert float(synack.get("x1", "0")) > float(synack.get("x2", "0"))
    for line in (syn, synack):
        assert float(line.get("y2", "0")) > float(line.get("y1", "0"))
        assert line.get("marker-end")
    # The SYN-ACK leaves the server where the SYN arrived.
    assert syn.get("y2") == synack.get("y1")


def test_lost_segment_stops_short_with_a_cross(svg_root: ET.Element) -> None:
    lost = [g for g in segment_groups(svg_root) if "lost" in texts(g)]
    assert len(lost) == 1
    line = shaft(lost[0])
    assert line.get("marker-end") is None
    width = float(svg_root.get("width", "0"))
    assert float(line.get("x2", "0")) < width - 250
    assert "✕" in texts(lost[0])


def test_long_gaps_are_cut_not_scaled(svg_root: ET.Element) -> None:
    joined = "\n".join(texts(svg_root))
    assert "239.990 s later" in joined and "1.000 s later" in joined
    assert float(svg_root.get("height", "0")) < 1200


def test_hover_titles_and_relative_absolute_classes(svg_root: ET.Element) -> None:
    g = segment_groups(svg_root)[0]
    title = g.find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert "mss 1460" in title.text and "window=65535" in title.text
    assert "sent 0.000 s, received 0.010 s" in title.text
    classes = (svg_root.get("class") or "").split()
    assert "show-rel" in classes
    absolute = ET.fromstring(render_svg(lifecycle_trace(), absolute=True))
    assert "show-abs" in (absolute.get("class") or "").split()


EVIL = 'ev<il>&"host'


def _evil_trace() -> list[TraceRecord]:
    recs = []
    for r in lifecycle_trace(client=EVIL):
        data = dict(r.data)
        if "options" in data:
            data["options"] = {**data["options"], "note": "</script><b>x</b>"}
        recs.append(TraceRecord(r.time, r.host, r.conn, r.event, data))
    return recs


def test_svg_escapes_host_names_and_option_values() -> None:
    svg = render_svg(_evil_trace(), title="<title> & more")
    root = ET.fromstring(svg)
    assert EVIL in texts(root)
    assert "<il>" not in svg and "<b>" not in svg
    assert "ev&lt;il&gt;&amp;" in svg


def _blob(page: str, name: str) -> str:
    match = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', page, re.S)
    assert match is not None, name
    return match.group(1)


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(_evil_trace(), title="Ladder <of> doom")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Ladder &lt;of&gt; doom</title>" in page
    assert "<il>" not in page and "<b>x" not in page
    # Three JSON blobs (words, configuration, the run) and one script.
    assert page.count("</script>") == 4 and page.count("<script>") == 1
    # Nothing is fetched: no external URL but the SVG namespace, no links or
    # imports, and the content security policy forbids every connection.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}
    assert "<link" not in page and "@import" not in page and " src=" not in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None and "connect-src 'none'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1)
    doc = json.loads(_blob(page, "tv-doc"))
    assert doc["hosts"]["L"]["name"] == EVIL and doc["title"] == "Ladder <of> doom"


def test_html_carries_the_run_and_the_words() -> None:
    page = render_html(lifecycle_trace(), lang="zh")
    assert '<html lang="zh-Hans">' in page
    config = json.loads(_blob(page, "tv-config"))
    assert config["mode"] == "file" and config["lang"] == "zh"
    words = json.loads(_blob(page, "tv-catalog"))
    assert words["state_diagram"]["zh"].startswith("状态转换图")
    doc = json.loads(_blob(page, "tv-doc"))
    segs = doc["segments"]
    assert len(segs) == 12
    syn = segs[0]
    assert syn["flags"] == ["SYN"] and syn["seq"] == 1000 and syn["rel_seq"] == 0
    assert syn["options"] == {"mss": 1460, "wscale": 7, "sack_permitted": True}
    assert syn["window"] == 65535 and syn["sent"] == 0.0 and syn["received"] == 0.01
    assert [s["fate"] for s in segs].count("lost") == 1
    assert [st["kind"] for st in doc["steps"]].count("state") == 12


def test_html_has_every_control_of_the_viewer() -> None:
    page = render_html(lifecycle_trace())
    for testid in ("step-prev", "step-next", "step-index", "ladder", "tcb-client", "tcb-server",
                   "segment-detail", "state-diagram", "explanation", "lang-switch"):
        assert page.count(f'data-testid="{testid}"') == 1, testid
    # The run form is there for `tcpstack ui`, hidden in a file.
    assert re.search(r'<form id="tv-form"[^>]* hidden>', page)


def test_html_escapes_script_breakouts_in_the_data() -> None:
    page = render_html(_evil_trace())
    blob = _blob(page, "tv-doc")
    assert "<" not in blob
    doc = json.loads(blob)
    assert doc["segments"][0]["options"]["note"] == "</script><b>x</b>"


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_page_script_is_valid_javascript(tmp_path: Path) -> None:
    page = render_html(lifecycle_trace())
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    path = tmp_path / "page.js"
    path.write_text(scripts[0], encoding="utf-8")
    proc = subprocess.run(
        ["node", "--check", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_conn_and_errors_are_passed_through() -> None:
    with pytest.raises(ValueError, match="not in the trace"):
        render_svg(lifecycle_trace(), conn="10.0.0.1:1-10.0.0.2:2")
    root = ET.fromstring(render_svg(lifecycle_trace(), conn="192.0.2.2:80-192.0.2.1:40000"))
    assert len(segment_groups(root)) == 12


def test_empty_trace_still_gives_valid_documents() -> None:
    ET.fromstring(render_svg([]))
    page = render_html([])
    assert "<svg" in page and json.loads(_blob(page, "tv-doc"))["steps"] == []


# -- the three fates, calls and annotations in the SVG ------------------------------------------


@pytest.fixture(scope="module")
def lost_final_ack_svg() -> ET.Element:
    result = SCENARIOS["lost-final-ack"].run(ScenarioOptions())
    return ET.fromstring(render_svg(result.records, left="client", right="server"))


def _classes(el: ET.Element) -> list[str]:
    return (el.get("class") or "").split()


def test_svg_draws_three_fates_distinctly(lost_final_ack_svg: ET.Element) -> None:
    root = lost_final_ack_svg
    groups = segment_groups(root)
    fates = [g.get("data-fate") for g in groups]
    assert fates.count("lost") == 1 and fates.count("dropped") == 1
    assert fates.count("processed") == len(groups) - 2
    lost = next(g for g in groups if g.get("data-fate") == "lost")
    assert shaft(lost).get("marker-end") is None and "✕" in texts(lost)
    dropped = next(g for g in groups if g.get("data-fate") == "dropped")
    assert "hollow" in (shaft(dropped).get("marker-end") or "")
    assert "✕" not in texts(dropped) and "lost" not in texts(dropped)
    ok = next(g for g in groups if g.get("data-fate") == "processed")
    assert "head" in (shaft(ok).get("marker-end") or "")
    # What TCP did with the dropped FIN, in words, routine, beside the client.
    mid = float(root.get("width", "0")) / 2
    said = [el for el in root.iter(f"{SVG}text") if "drop" in _classes(el)]
    assert len(said) == 1 and "routine" in _classes(said[0])
    assert "".join(said[0].itertext()) == "↺ retransmitted FIN: re-ACKed"
    assert float(said[0].get("x", "0")) < mid
    assert said[0].get("data-segment") == dropped.get("data-i")


def test_svg_calls_annotations_and_legend(lost_final_ack_svg: ET.Element) -> None:
    root = lost_final_ack_svg
    mid = float(root.get("width", "0")) / 2
    calls: dict[str, set[str]] = {}
    for el in root.iter(f"{SVG}text"):
        if {"call", "return"} & set(_classes(el)):
            side = "L" if float(el.get("x", "0")) < mid else "R"
            calls.setdefault("".join(el.itertext()), set()).add(side)
    assert calls["connect()"] == calls["write(18)"] == calls["read() → 44"] == {"L"}
    assert calls["listen()"] == calls["accept() returns"] == calls["write(44)"] == {"R"}
    assert calls["close()"] == {"L", "R"}
    notes = {el.get("data-kind"): el for el in root.iter(f"{SVG}text")
             if "annotation" in _classes(el) and el.get("data-kind")}
    assert {"syn-consumes", "fin-consumes", "time-wait", "time-wait-restart", "rto"} <= set(notes)
    assert "".join(notes["time-wait"].itertext()) == "↳ TIME-WAIT: 2 MSL = 240 s"
    assert float(notes["time-wait-restart"].get("x", "0")) < mid
    assert float(notes["rto"].get("x", "0")) > mid  # the server's timer
    legend = "\n".join(texts(next(g for g in root.iter(f"{SVG}g")
                                  if "legend" in _classes(g))))
    assert "arrived, processed" in legend and "lost in the network" in legend
    assert "dropped by TCP" in legend


def test_svg_in_chinese() -> None:
    result = SCENARIOS["lost-final-ack"].run(ScenarioOptions())
    root = ET.fromstring(render_svg(result.records, lang="zh"))
    joined = "\n".join(texts(root))
    assert "2 MSL 重新计时" in joined and "重传的 FIN：再次回复 ACK" in joined
    assert "丢失" in joined and "时间（秒）" in joined and root.get("lang") == "zh"


def test_svg_wrapped_annotations_do_not_overlap() -> None:
    result = SCENARIOS["fast-retransmit"].run(ScenarioOptions())
    root = ET.fromstring(render_svg(result.records, lang="zh"))
    spans: dict[float, list[tuple[float, float]]] = {}
    for el in root.iter(f"{SVG}text"):
        if {"annotation", "state", "call", "return", "drop", "note"} & set(_classes(el)):
            if el.get("data-kind") is None and "annotation" in _classes(el):
                continue  # the legend's sign
            n = max(1, len(list(el.iter(f"{SVG}tspan"))))
            y = float(el.get("y", "0"))
            spans.setdefault(float(el.get("x", "0")), []).append((y, y + 14 * (n - 1)))
    for boxes in spans.values():
        boxes.sort()
        for (_, end), (start, _) in itertools.pairwise(boxes):
            assert start - end >= 13.9, boxes
