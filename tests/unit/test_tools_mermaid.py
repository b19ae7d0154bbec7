"""tcpstack.tools.mermaid: the ladder as a Mermaid sequenceDiagram, read back by Mermaid itself.

Mermaid's parser (the npm package ``mermaid`` 11, with ``jsdom``) reads every
diagram here: ``tests/unit/mermaid_parse.mjs`` prints what it understood
(participants, messages with their arrow types and decoded text), and the
tests compare that with the ladder model. ``.ci/run`` installs the packages
and sets ``TCPSTACK_REQUIRE_MERMAID=1``, so there the parser tests never
skip. Golden files: ``tests/golden/mermaid/NAME.mmd``; run with
``TCPSTACK_UPDATE_GOLDEN=1`` to rewrite them after a deliberate change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tcpstack.cli import main
from tcpstack.scenarios import SCENARIOS, ScenarioOptions, ScenarioResult, get_scenario
from tcpstack.tools._model import LadderModel, SegmentView, build_model
from tcpstack.tools.mermaid import (
    ARROWS,
    escape,
    render_mermaid,
    segment_fate,
)
from tcpstack.trace import TraceRecord

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "golden" / "mermaid"
PARSER = HERE / "mermaid_parse.mjs"
#: Mermaid's sequence line types (``db.LINETYPE``) of our arrows and notes.
#: Mermaid 11's line types (``-)`` is SOLID_POINT, 24; 5 is ``->``, which we never draw).
LINETYPE = {"->>": 0, "-->>": 1, "NOTE": 2, "-x": 3, "-)": 24}
LOSSY = ScenarioOptions(seed=3, loss=0.3, duplicate=0.1, reorder=0.1, jitter=0.01)


def _node_modules() -> Path | None:
    """Where the npm packages mermaid and jsdom are, if anywhere."""
    if shutil.which("node") is None:
        return None
    roots = []
    if os.environ.get("TCPSTACK_NODE_MODULES"):
        roots.append(Path(os.environ["TCPSTACK_NODE_MODULES"]))
    if shutil.which("npm"):
        out = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True,
                             timeout=60, check=False).stdout.strip()
        if out:
            roots.append(Path(out))
    for root in roots:
        if (root / "mermaid" / "package.json").is_file() and (root / "jsdom").is_dir():
            return root
    return None


@pytest.fixture(scope="module")
def mermaid_parse(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``parse({name: text}) -> {name: what Mermaid understood}`` (one node process per call)."""
    root = _node_modules()
    if root is None:
        if os.environ.get("TCPSTACK_REQUIRE_MERMAID") == "1":
            pytest.fail("TCPSTACK_REQUIRE_MERMAID=1 but node, mermaid or jsdom is missing "
                        "(npm install -g mermaid@11 jsdom@26)")
        pytest.skip("node with the npm packages mermaid and jsdom is not installed")
    tmp = tmp_path_factory.mktemp("mermaid")

    def parse(texts: dict[str, str]) -> dict[str, dict[str, Any]]:
        paths = {}
        for i, (name, text) in enumerate(texts.items()):
            paths[name] = tmp / f"{i}.mmd"
            paths[name].write_text(text, encoding="utf-8")
        proc = subprocess.run(["node", str(PARSER), str(root), *map(str, paths.values())],
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        by_file = {json.loads(line)["file"]: json.loads(line) for line in proc.stdout.splitlines()}
        return {name: by_file[str(path)] for name, path in paths.items()}

    return parse


def _run(name: str, options: ScenarioOptions | None = None) -> ScenarioResult:
    return get_scenario(name).run(options or ScenarioOptions())


def _diagram(result: ScenarioResult, lang: str = "en") -> str:
    return render_mermaid(result.records, left=result.client, right=result.server,
                          title=f"tcpstack: {result.name}", lang=lang)  # type: ignore[arg-type]


def _expected_messages(
    model: LadderModel, lang: str, actors: list[list[str]]
) -> list[tuple[str, str, int, str]]:
    """``(from, to, line type, text)`` of every segment, in send order; ``actors``
    are Mermaid's ``[id, description]`` of the left and the right host."""
    ids = {model.left: actors[0][0], model.right: actors[1][0]}
    lost = {"en": " ✕ lost", "zh": " ✕ 丢失"}[lang]
    out = []
    for seg in sorted(model.segments, key=lambda s: (s.time, s.order)):
        fate = segment_fate(seg)
        text = seg.label() + (lost if fate == "lost" else "")
        out.append((ids[seg.src], ids[seg.dst], LINETYPE[ARROWS[fate]], text))
    return out


# -- golden files --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_golden(name: str) -> None:
    text = _diagram(_run(name))
    path = GOLDEN / f"{name}.mmd"
    if os.environ.get("TCPSTACK_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}: run with TCPSTACK_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name}: the Mermaid diagram changed; if on purpose, rerun with TCPSTACK_UPDATE_GOLDEN=1"
    )


# -- what Mermaid reads --------------------------------------------------------------


def test_mermaid_reads_every_scenario_as_drawn(mermaid_parse: Any) -> None:
    """Every scenario, clean and lossy, in both languages: Mermaid parses it and sees one
    message per segment with the arrow of its fate and the ladder's label."""
    cases: dict[str, tuple[ScenarioResult, str]] = {}
    for name in SCENARIOS:
        for tag, options in (("clean", None), ("lossy", LOSSY)):
            result = _run(name, options)
            for lang in ("en", "zh"):
                cases[f"{name}/{tag}/{lang}"] = (result, lang)
    parsed = mermaid_parse({k: _diagram(r, lang) for k, (r, lang) in cases.items()})
    for key, (result, lang) in cases.items():
        got = parsed[key]
        assert got["ok"], f"{key}: {got.get('error')}"
        assert got["type"] == "sequence" and got["title"] == f"tcpstack: {result.name}"
        model = build_model(result.records, left=result.client, right=result.server)
        assert [a[0] for a in got["actors"]] == [model.left, model.right]
        messages = [(m["from"], m["to"], m["type"], m["message"])
                    for m in got["messages"] if m["type"] != LINETYPE["NOTE"]]
        assert messages == _expected_messages(model, lang, got["actors"]), key
        notes = [m["message"] for m in got["messages"] if m["type"] == LINETYPE["NOTE"]]
        states = [mk.text for mk in model.marks if mk.kind == "state"]
        assert [n for n in notes if n in states] == states, key


def test_hostile_names_and_text_survive_mermaid(mermaid_parse: Any) -> None:
    """Host names that are Mermaid keywords or not words, and text with ``; # < > %``."""
    records = [
        TraceRecord(0.0, "end", "10.0.0.1:1-10.0.0.2:2", "segment_sent",
                    {"seq": 5, "ack": 0, "flags": ["SYN"], "len": 0, "window": 9,
                     "options": {"mss": 1460, "unknown": [[99, "#;<b>%%"]]}}),
        TraceRecord(0.001, "9-lives;x", "10.0.0.2:2-10.0.0.1:1", "segment_received",
                    {"seq": 5, "ack": 0, "flags": ["SYN"], "len": 0, "window": 9,
                     "options": {"mss": 1460, "unknown": [[99, "#;<b>%%"]]}}),
        TraceRecord(0.001, "9-lives;x", "10.0.0.2:2-10.0.0.1:1", "state_updated",
                    {"old": "LISTEN", "new": "SYN-RECEIVED", "cause": "rcv SYN"}),
    ]
    model = build_model(records)
    text = render_mermaid(model, title="a; b # c <d> 50%: e")
    got = mermaid_parse({"x": text})["x"]
    assert got["ok"], got.get("error")
    assert got["title"] == "a b c d 50 : e"  # a title cannot carry them
    assert [a[1] for a in got["actors"]] == ["end 10.0.0.1:1", "9-lives;x 10.0.0.2:2"]
    (message,) = [m for m in got["messages"] if m["type"] != LINETYPE["NOTE"]]
    assert message["message"] == model.segments[0].label()
    assert "#;<b>%%" in message["message"]


def test_a_run_that_never_opens_is_still_a_diagram(mermaid_parse: Any) -> None:
    empty = render_mermaid([])
    never = _run("lost-syn", ScenarioOptions(loss=1.0))
    lossy = render_mermaid(never.records)
    got = mermaid_parse({"empty": empty, "all-lost": lossy})
    assert got["empty"]["ok"] and got["all-lost"]["ok"], got
    assert [m["message"] for m in got["empty"]["messages"]] == ["no segments in the trace"]
    sent = [m for m in got["all-lost"]["messages"] if m["type"] != LINETYPE["NOTE"]]
    model = build_model(never.records)
    assert [(m["from"], m["to"], m["type"], m["message"]) for m in sent] == _expected_messages(
        model, "en", got["all-lost"]["actors"])
    assert len(sent) > 1 and all(m["message"].startswith("SYN seq=0") for m in sent)
    assert [a[1] for a in got["all-lost"]["actors"]][1] == "192.0.2.2:80 (not traced)"


# -- the text itself ---------------------------------------------------------------------


def test_escape_uses_mermaid_entity_codes() -> None:
    assert escape("a;b#c<d>e%f\ng  h") == "a#59;b#35;c#60;d#62;e#37;f g h"
    assert escape("#59;") == "#35;59#59;"  # once, not again inside its own codes
    assert escape("seq=1 ack=2: ok") == "seq=1 ack=2: ok"


def test_fates_pick_the_arrows_and_a_drop_gets_its_reason_once() -> None:
    result = _run("lost-final-ack")
    text = _diagram(result)
    lines = [line for line in text.splitlines() if not line.startswith("%%")]
    model = build_model(result.records, left=result.client, right=result.server)
    lost = [s for s in model.segments if segment_fate(s) == "lost"]
    assert len(lost) == 1 and lost[0].src == "client" and lost[0].flags == {"ACK"}
    assert sum(" -x " in line for line in lines) == 1
    # The retransmitted FIN reaches TIME-WAIT, which drops it, ACKs it, restarts 2 MSL.
    reason = [i for i, line in enumerate(lines) if "[retransmitted-fin]" in line]
    assert len(reason) == 1
    note = lines[reason[0]]
    assert note.startswith("    Note over client: dropped on arrival: a retransmitted FIN")
    assert "FIN,ACK" in lines[reason[0] - 1] and " client: " in lines[reason[0] - 1]
    assert "    Note over client,server: ⋮ 239.990 s later" in lines
    zh = _diagram(result, "zh")
    assert "收到后丢弃：重传的 FIN" in zh and "⋮ 239.990 秒后" in zh and "✕ 丢失" in zh


def test_segment_fate_prefers_the_models_fate() -> None:
    seg = SegmentView(index=0, src="a", dst="b", seq=1, ack=0, flags=frozenset({"SYN"}),
                      length=0, window=1, options={}, order=0)
    for status, fate in [("delivered", "processed"), ("orphan", "processed"), ("lost", "lost"),
                         ("dropped", "dropped"), ("unmatched", "unknown"),
                         ("one-sided", "unknown"), ("pending", "unknown")]:
        seg.status = status
        assert segment_fate(seg) == fate

    with_fate = SegmentView(**{**seg.__dict__, "status": "delivered", "fate": "dropped"})
    assert segment_fate(with_fate) == "dropped"


def test_one_sided_trace_draws_dotted_arrows() -> None:
    """A TUN trace: only our host is traced; the kernel's side is unknown."""
    records = [
        TraceRecord(0.0, "tcpstack", "10.0.0.1:4000-10.0.0.2:80", "segment_sent",
                    {"seq": 100, "ack": 0, "flags": ["SYN"], "len": 0, "window": 10}),
        TraceRecord(0.001, "tcpstack", "10.0.0.1:4000-10.0.0.2:80", "segment_received",
                    {"seq": 7, "ack": 101, "flags": ["SYN", "ACK"], "len": 0, "window": 10}),
    ]
    lines = [line for line in render_mermaid(records).splitlines() if not line.startswith("%%")]
    assert "    participant tcpstack as tcpstack 10.0.0.1:4000" in lines
    assert sum("(not traced)" in line for line in lines) == 1
    # The SYN's arrival is not traced; the SYN,ACK arrived at tcpstack, which processed it.
    assert sum(" -->> " in line for line in lines) == 1
    assert sum(" ->> " in line for line in lines) == 1


# -- the command line -------------------------------------------------------------------


def test_demo_writes_the_mermaid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.mmd"
    assert main(["demo", "lost-final-ack", "--mermaid", str(path), "--quiet"]) == 0
    assert path.read_text(encoding="utf-8") == _diagram(_run("lost-final-ack"))
    capsys.readouterr()
    assert main(["demo", "--mermaid", str(tmp_path / "missing" / "x.mmd")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write --mermaid" in err[0]
