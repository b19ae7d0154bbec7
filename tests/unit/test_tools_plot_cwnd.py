"""tcpstack.tools.plot: cwnd with bytes in flight, pacing rate and phases when traced."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tcpstack.tools.plot import cwnd_series, phase_spans, plot_cwnd
from tcpstack.trace import TraceRecord

C, S = "10.0.0.1:4000", "10.0.0.2:80"


def records(**extra: list[Any]) -> list[TraceRecord]:
    """A sender of 3000 bytes with four ``metrics_updated``; ``extra`` adds a field to each."""
    recs = [TraceRecord(0.0, "client", f"{C}-{S}", "segment_sent",
                        {"seq": 1, "ack": 1, "flags": ["ACK"], "len": 3000, "window": 1000})]
    cwnds = [(0.0, 2920, 1 << 30), (1.0, 5840, 1 << 30), (2.0, 2920, 2920), (3.0, 4380, 2920)]
    for k, (t, cwnd, ssthresh) in enumerate(cwnds):
        data = {"cwnd": cwnd, "ssthresh": ssthresh, "srtt": 0.1, "rto": 1.0}
        data |= {key: values[k] for key, values in extra.items()}
        recs.append(TraceRecord(t, "client", f"{C}-{S}", "metrics_updated", data))
    return recs


def test_new_fields_are_read_when_present() -> None:
    s = cwnd_series(records(in_flight=[0, 2920, 1460, 4000],
                            pacing_rate=[None, 125000.0, 62500, "fast"],
                            phase=["startup", "startup", "recovery", "probe_bw"],
                            congestion_control=["bbr", "bbr", "bbr", "bbr"]))
    assert s.in_flight == [0, 2920, 1460, 4000]
    assert s.pacing_rate == [None, 125000.0, 62500.0, None]  # a hostile value: skipped
    assert s.phase == ["startup", "startup", "recovery", "probe_bw"]
    assert s.congestion_control == "bbr"


def test_old_traces_have_none_of_them() -> None:
    s = cwnd_series(records())
    assert s.in_flight == s.pacing_rate == s.phase == [None] * 4  # type: ignore[comparison-overlap]
    assert s.congestion_control is None


def test_phase_spans_run_until_the_next_phase() -> None:
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert phase_spans(times, ["slow_start", "slow_start", "recovery", None, "avoidance"],
                       5.0) == [(0.0, 2.0, "slow_start"), (2.0, 3.0, "recovery"),
                                (4.0, 5.0, "avoidance")]
    assert phase_spans(times, [None] * 5, 5.0) == []


def _svg_text(path: Path) -> str:
    root = ET.fromstring(path.read_bytes())
    return " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


def test_the_plot_shows_what_is_there(tmp_path: Path) -> None:
    full = tmp_path / "full.svg"
    plot_cwnd(cwnd_series(records(in_flight=[0, 2920, 1460, 4000],
                                  pacing_rate=[None, 125000.0, 62500, 125000],
                                  phase=["startup", "drain", "recovery", "probe_bw"],
                                  congestion_control=["bbr"] * 4)), full)
    text = _svg_text(full)
    for label in ("BBR startup", "BBR drain", "fast recovery", "BBR probe bandwidth",
                  "bytes in flight", "pacing rate (right axis)", "pacing rate (Mbit/s)",
                  f"cwnd and ssthresh of client ({C}-{S}) [bbr]"):
        assert label in text, label
    old = tmp_path / "old.svg"
    plot_cwnd(cwnd_series(records()), old)
    text = _svg_text(old)
    assert "cwnd" in text and "pacing" not in text and "in flight" not in text
    assert "slow start" not in text and "[" not in text
