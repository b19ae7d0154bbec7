"""`tcpstack demo NAME` as a user types it, for every scenario under the links of issue 9:
`--loss 0.9`, `--delay 5`, `--jitter 2`, seeds 1 to 20. Each run exits 0 with the
explanation and the ladder on stdout and nothing on stderr, and with seed 1 it also
writes every picture (`--svg`, `--mermaid`, `--html`, `--pcap`, `--trace`)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcpstack.cli import main
from tcpstack.scenarios import SCENARIOS, get_scenario

LINKS = {"loss 0.9": ["--loss", "0.9"], "delay 5": ["--delay", "5"],
         "jitter 2": ["--jitter", "2"]}


@pytest.mark.parametrize("link", list(LINKS))
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_demo_runs_on_every_link_and_seed(name: str, link: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    question = get_scenario(name).question
    for seed in range(1, 21):
        lang = "zh" if seed % 2 else "en"
        argv = ["demo", name, *LINKS[link], "--seed", str(seed), "--width", "80",
                "--lang", lang]
        if seed == 1:
            argv += ["--svg", str(tmp_path / "l.svg"), "--mermaid", str(tmp_path / "l.mmd"),
                     "--html", str(tmp_path / "l.html"), "--pcap", str(tmp_path / "l.pcapng"),
                     "--trace", str(tmp_path / "l.jsonl")]
        code = main(argv)
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), (seed, err)
        squeezed = "".join(out.split()).replace("│", "")
        assert "".join(question.get(lang).split()) in squeezed, seed
        assert re.search(r"\d+ (segments?|个报文段)  ·", out), seed  # the ladder's summary
    ET.parse(tmp_path / "l.svg")
    assert (tmp_path / "l.mmd").read_text(encoding="utf-8").count("sequenceDiagram") == 1
    assert 'data-testid="ladder"' in (tmp_path / "l.html").read_text(encoding="utf-8")
    assert (tmp_path / "l.pcapng").read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    lines = (tmp_path / "l.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(line)["event"] for line in lines)
