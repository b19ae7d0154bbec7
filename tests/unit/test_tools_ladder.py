"""tcpstack.tools.ladder: the terminal ladder diagram, read back as plain text."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tcpstack.scenarios import SCENARIOS, ScenarioOptions
from tcpstack.tools._model import build_model
from tcpstack.tools.ladder import LadderDiagram, print_ladder, render_ladder
from tcpstack.tools.reasons import describe_drop, is_network_reason
from tcpstack.tools.sample import CLIENT_CONN, SERVER_CONN, lifecycle_trace
from tcpstack.trace import TraceRecord

#: What ends an arrow line: processed (▶ ◀), dropped by TCP (▷ ◁), lost (✕),
#: never seen arriving ("? lost?").
ARROWS = ("▶", "◀", "▷", "◁", "✕", "? lost?")


def render_text(records: list[TraceRecord], width: int = 100, **kw: Any) -> str:
    console = Console(record=True, width=width, no_color=True, file=io.StringIO())
    console.print(render_ladder(records, **kw))
    return console.export_text()


def arrow_line(text: str, label: str) -> str:
    """The arrow line of the segment whose label contains ``label``.

    The label is on the arrow line or on the lines just above it.
    """
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if label in line:
            for candidate in lines[i : i + 4]:
                if any(a in candidate for a in ARROWS):
                    return candidate
    raise AssertionError(f"no segment labelled {label!r} in:\n{text}")


def lifeline_columns(line: str) -> tuple[int, int]:
    """Positions of the two lifelines (│ or ⋮) in a line of the diagram."""
    cols = [i for i, ch in enumerate(line) if ch in "│⋮┼"]
    assert len(cols) >= 2, line
    return cols[0], cols[-1]


def side_of(line: str, word: str) -> str:
    left, right = lifeline_columns(line)
    pos = line.index(word)
    if pos < left:
        return "left"
    if pos > right:
        return "right"
    return "middle"


def seg(
    t: float,
    host: str,
    event: str,
    seq: int,
    ack: int,
    flags: list[str],
    length: int = 0,
    conn: str | None = None,
    **extra: Any,
) -> TraceRecord:
    if conn is None:
        conn = CLIENT_CONN if host == "client" else SERVER_CONN
    data = {"seq": seq, "ack": ack, "flags": flags, "len": length, "window": 1000, "options": {}}
    data.update(extra)
    return TraceRecord(t, host, conn, event, data)


# -- the full lifecycle ----------------------------------------------------------


@pytest.fixture(scope="module")
def lifecycle_text() -> str:
    return render_text(lifecycle_trace())


def test_arrows_point_the_right_way(lifecycle_text: str) -> None:
    rightward = ["SYN seq=0 len=0", "ACK seq=1 ack=1 len=0", "FIN,ACK seq=101 ack=51"]
    leftward = ["SYN,ACK seq=0 ack=1", "PSH,ACK seq=1 ack=101 len=50", "FIN,ACK seq=51 ack=102"]
    for label in rightward:
        line = arrow_line(lifecycle_text, label)
        assert "▶" in line and "◀" not in line, line
    for label in leftward:
        line = arrow_line(lifecycle_text, label)
        assert "◀" in line and "▶" not in line, line


def test_sequence_numbers_are_relative_to_each_isn(lifecycle_text: str) -> None:
    for label in [
        "SYN seq=0 len=0 win=65535",
        "SYN,ACK seq=0 ack=1 len=0 win=65535",
        "ACK seq=1 ack=1 len=0 win=64240",
        "PSH,ACK seq=1 ack=1 len=100 win=64240",
        "ACK seq=1 ack=101 len=0",
        "PSH,ACK seq=1 ack=101 len=50",
        "ACK seq=101 ack=51 len=0",
        "FIN,ACK seq=101 ack=51 len=0",
        "ACK seq=51 ack=102 len=0",
        "FIN,ACK seq=51 ack=102 len=0",
        "ACK seq=102 ack=52 len=0",
    ]:
        assert label in lifecycle_text, label
    assert "seq=1000" not in lifecycle_text and "seq=5000" not in lifecycle_text
    assert "<mss 1460,wscale 7,sackOK>" in lifecycle_text


def test_times_show_send_and_arrival(lifecycle_text: str) -> None:
    assert "0.000 → 0.010" in arrow_line(lifecycle_text, "SYN seq=0")
    assert "0.010 → 0.020" in arrow_line(lifecycle_text, "SYN,ACK seq=0")
    assert "1.140 → 1.150" in arrow_line(lifecycle_text, "ACK seq=102 ack=52")


def test_each_state_is_on_its_hosts_side(lifecycle_text: str) -> None:
    lines = lifecycle_text.splitlines()
    expected = {
        "left": ["SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSED"],
        "right": ["LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"],
    }
    for side, states in expected.items():
        found = [
            state
            for line in lines
            if "│" in line
            for state in re.findall(r"[A-Z]+(?:-[A-Z0-9]+)+|LISTEN|ESTABLISHED|CLOSED", line)
            if side_of(line, state) == side
        ]
        assert found == states, (side, found)


def test_states_appear_at_their_time(lifecycle_text: str) -> None:
    lines = lifecycle_text.splitlines()
    fw2 = next(line for line in lines if "FIN-WAIT-2" in line)
    assert fw2.lstrip().startswith("1.120")
    closed = [line for line in lines if "CLOSED" in line]
    assert closed[0].lstrip().startswith("1.150")  # the server, after the last ACK
    assert closed[1].lstrip().startswith("241.140")  # the client, after TIME-WAIT


def test_long_idle_gaps_get_a_marker_line(lifecycle_text: str) -> None:
    lines = lifecycle_text.splitlines()
    marker = next(i for i, line in enumerate(lines) if "239.990 s later" in line)
    assert "⋮" in lines[marker]
    assert "TIME-WAIT" in "".join(lines[:marker])
    assert "241.140" in lines[marker + 1] and "CLOSED" in lines[marker + 1]
    # The RTO wait (1 s) is also cut; the 0.045 s pause before close() is not.
    assert "1.000 s later" in lifecycle_text
    assert "0.045 s later" not in lifecycle_text


def test_lost_segment_ends_in_a_cross(lifecycle_text: str) -> None:
    line = next(line for line in lifecycle_text.splitlines() if "lost" in line and "✕" in line)
    assert "0.030 → ✕" in line
    assert "▶" not in line
    assert line.index("✕ lost") < lifeline_columns(line)[1]
    assert "1 lost" in lifecycle_text


def test_absolute_mode_shows_wire_values() -> None:
    text = render_text(lifecycle_trace(), absolute=True)
    assert "SYN seq=1000 len=0" in text
    assert "SYN,ACK seq=5000 ack=1001" in text
    assert "ACK seq=1102 ack=5052" in text
    assert "seq=0 " not in text
    assert "seq/ack absolute" in text


def test_title_and_hosts_in_header() -> None:
    text = render_text(lifecycle_trace(), title="The lifecycle")
    lines = text.splitlines()
    assert lines[0] == "The lifecycle"
    assert side_of(lines[1], "client") == "left" and side_of(lines[1], "server") == "right"
    assert "192.0.2.1:40000" in lines[2] and "192.0.2.2:80" in lines[2]


# -- width and colour ----------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_width_adapts_to_the_console(width: int) -> None:
    text = render_text(lifecycle_trace(), width=width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "SYN-RECEIVED" in text and "TIME-WAIT" in text
    arrow = arrow_line(text, "ACK seq=1 ack=1 len=0")
    assert "▶" in arrow
    if width >= 120:
        assert max(len(line) for line in lines) > 100


def test_narrow_console_leaves_the_window_out_but_keeps_numbers() -> None:
    text = render_text(lifecycle_trace(), width=80)
    assert "PSH,ACK seq=1 ack=101 len=50" in text
    assert "win omitted" in text


def test_reads_without_colour_and_without_a_tty() -> None:
    out = io.StringIO()
    Console(file=out, width=100).print(render_ladder(lifecycle_trace()))  # not a TTY
    plain = out.getvalue()
    assert "\x1b[" not in plain
    assert "SYN,ACK seq=0 ack=1" in plain and "◀" in plain
    out = io.StringIO()
    Console(file=out, width=100, force_terminal=True, no_color=True).print(
        render_ladder(lifecycle_trace())
    )
    assert not re.search(r"\x1b\[[0-9;]*3[1-6]m", out.getvalue())  # no foreground colours


def test_colours_on_a_colour_terminal() -> None:
    diagram = render_ladder(lifecycle_trace())
    assert isinstance(diagram, LadderDiagram)
    lines = diagram.lines(100)

    def styles_of(label: str) -> set[str]:
        idx = next(i for i, line in enumerate(lines) if label in line.plain)
        arrow = next(ln for ln in lines[idx : idx + 4] if any(a in ln.plain for a in ARROWS))
        return {str(span.style) for span in arrow.spans}

    assert "green" in styles_of("SYN seq=0")
    assert "blue" in styles_of("FIN,ACK seq=101")
    assert "yellow" in styles_of("PSH,ACK seq=1 ack=101")
    out = io.StringIO()
    Console(file=out, width=100, force_terminal=True, color_system="standard").print(diagram)
    assert "\x1b[32m" in out.getvalue()  # green


def test_print_ladder_prints() -> None:
    console = Console(record=True, width=100, file=io.StringIO())
    print_ladder(lifecycle_trace(), console=console, absolute=True)
    assert "seq=1000" in console.export_text()


# -- choosing the connection and the sides -----------------------------------------------


def test_client_is_left_even_if_the_server_speaks_first_in_the_trace() -> None:
    recs = lifecycle_trace(client="zeta", server="alpha")
    recs.sort(key=lambda r: (r.time, r.host != "alpha"))  # server records first at equal times
    text = render_text(recs)
    header = text.splitlines()[0]
    assert side_of(header, "zeta") == "left"
    assert "▶" in arrow_line(text, "SYN seq=0")


def test_left_override_flips_the_drawing() -> None:
    text = render_text(lifecycle_trace(), left="server")
    assert side_of(text.splitlines()[0], "server") == "left"
    assert "◀" in arrow_line(text, "SYN seq=0")
    assert "▶" in arrow_line(text, "SYN,ACK seq=0")


def test_a_named_host_that_never_appears_gets_an_empty_lifeline() -> None:
    # build_model's contract: a named host with no records is drawn (its SYN may
    # all have been lost), and says so; it is not an error.
    text = render_text(lifecycle_trace(), left="client", right="nobody")
    header = text.splitlines()[0]
    assert side_of(header, "nobody") == "right"
    assert "no records of this host" in text
    with pytest.raises(ValueError, match="same host"):
        render_ladder(lifecycle_trace(), left="client", right="client")


def _two_connections() -> list[TraceRecord]:
    other_c, other_s = "192.0.2.1:40001-192.0.2.2:80", "192.0.2.2:80-192.0.2.1:40001"
    recs = [
        seg(0.0, "client", "segment_sent", 7000, 0, ["SYN"], conn=other_c),
        seg(0.01, "server", "segment_received", 7000, 0, ["SYN"], conn=other_s),
        seg(0.01, "server", "segment_sent", 9000, 7001, ["RST", "ACK"], conn=other_s),
        seg(0.02, "client", "segment_received", 9000, 7001, ["RST", "ACK"], conn=other_c),
    ]
    return recs + lifecycle_trace(lose_data=False)


def test_default_connection_is_the_busiest_and_conn_picks_another() -> None:
    recs = _two_connections()
    busiest = render_text(recs)
    assert "192.0.2.1:40000" in busiest and "RST" not in busiest
    for name in ("192.0.2.1:40001-192.0.2.2:80", "192.0.2.2:80-192.0.2.1:40001"):
        text = render_text(recs, conn=name)
        assert "192.0.2.1:40001" in text
        assert "◀" in arrow_line(text, "RST,ACK seq=0 ack=1")
        assert "FIN" not in text
    with pytest.raises(ValueError, match="not in the trace"):
        render_ladder(recs, conn="10.0.0.1:1-10.0.0.2:2")


# -- robustness ---------------------------------------------------------------------------


def test_unmatched_send_and_orphan_receive() -> None:
    recs = [
        seg(0.0, "client", "segment_sent", 100, 0, ["SYN"]),
        seg(0.5, "server", "segment_received", 500, 101, ["ACK"]),  # no send
        seg(0.6, "server", "segment_sent", 500, 101, ["FIN", "ACK"]),  # never received
    ]
    text = render_text(recs)
    syn = arrow_line(text, "SYN seq=0")
    assert "lost?" in syn and "0.000 → ?" in syn
    orphan = arrow_line(text, "ACK seq=")
    assert "? → 0.500" in orphan


def test_retransmitted_duplicates_pair_up_in_order() -> None:
    recs = [
        seg(0.0, "client", "segment_sent", 100, 0, ["SYN"]),
        seg(0.2, "client", "segment_sent", 100, 0, ["SYN"]),
        seg(0.21, "server", "segment_received", 100, 0, ["SYN"]),
        seg(0.22, "server", "segment_received", 100, 0, ["SYN"]),
    ]
    text = render_text(recs)
    assert "0.000 → 0.210" in text and "0.200 → 0.220" in text
    assert "lost" not in text.replace("lost?", "")


def test_reordered_segments_match_by_content() -> None:
    recs = [
        seg(0.0, "client", "segment_sent", 1, 0, ["ACK"], 10),
        seg(0.1, "client", "segment_sent", 11, 0, ["ACK"], 10),
        seg(0.15, "server", "segment_received", 11, 0, ["ACK"], 10),
        seg(0.3, "server", "segment_received", 1, 0, ["ACK"], 10),
    ]
    text = render_text(recs, absolute=True)
    assert "0.000 → 0.300" in arrow_line(text, "ACK seq=1 ")
    assert "0.100 → 0.150" in arrow_line(text, "ACK seq=11 ")


def test_a_one_sided_trace_draws_complete_arrows() -> None:
    only_client = [r for r in lifecycle_trace(lose_data=False) if r.host == "client"]
    text = render_text(only_client)
    header = text.splitlines()
    assert side_of(header[0], "(not traced)") == "right"
    assert side_of(header[1], "192.0.2.2:80") == "right"
    assert "lost" not in text and "✕" not in text
    assert "SYN,ACK seq=0 ack=1" in text and "◀" in arrow_line(text, "SYN,ACK seq=0")
    assert "→ 0.020" in arrow_line(text, "SYN,ACK seq=0")


def test_receiver_drop_is_shown_with_its_reason() -> None:
    # A segment that arrived and that TCP discarded reaches the receiver's
    # lifeline with a hollow head and the reason in words; it is not drawn
    # as a loss (the old drawing's red "✕ bad-checksum" read as one).
    recs = [
        seg(0.0, "client", "segment_sent", 100, 0, ["SYN"]),
        TraceRecord(
            0.01,
            "server",
            SERVER_CONN,
            "segment_dropped",
            {"reason": "bad-checksum", "seq": 100, "ack": 0, "flags": ["SYN"], "len": 0},
        ),
        TraceRecord(0.5, "server", "", "segment_dropped", {"reason": "too-short"}),
    ]
    text = render_text(recs)
    line = arrow_line(text, "SYN seq=0")
    assert "▷│" in line and "lost" not in line and "✕" not in line
    assert "⊘ bad TCP checksum: discarded" in text and "⊘ discarded: too-short" in text
    assert "1 dropped by TCP" in text and "lost" not in text


def test_garbage_data_fields_do_not_crash() -> None:
    recs = [
        TraceRecord(0.0, "a", "x:1-y:2", "segment_sent", {}),
        TraceRecord(0.1, "b", "y:2-x:1", "segment_received", {"seq": "no", "flags": "SYN,ACK"}),
        TraceRecord(0.2, "a", "x:1-y:2", "state_updated", {}),
        TraceRecord(0.3, "a", "x:1-y:2", "metrics_updated", {"cwnd": 1}),
    ]
    text = render_text(recs)
    assert "seq=?" in text


def test_empty_trace() -> None:
    assert "no segments" in render_text([])


def test_relative_numbers_wrap_modulo_2_32() -> None:
    isn = 2**32 - 3
    recs = [
        seg(0.0, "client", "segment_sent", isn, 0, ["SYN"]),
        seg(0.01, "server", "segment_received", isn, 0, ["SYN"]),
        seg(0.01, "server", "segment_sent", 7, isn + 1, ["SYN", "ACK"]),
        seg(0.02, "client", "segment_received", 7, isn + 1, ["SYN", "ACK"]),
        seg(0.02, "client", "segment_sent", (isn + 1 + 10) % 2**32, 8, ["ACK"], 5),
        seg(0.03, "server", "segment_received", (isn + 1 + 10) % 2**32, 8, ["ACK"], 5),
    ]
    text = render_text(recs)
    assert "SYN,ACK seq=0 ack=1" in text
    assert "ACK seq=11 ack=1 len=5" in text
    assert "ACK seq=8 ack=8 len=5" in render_text(recs, absolute=True)


def test_a_very_narrow_console_does_not_break() -> None:
    text = render_text(lifecycle_trace(), width=40)
    assert "SYN-SENT" in text
    assert max(len(line) for line in text.splitlines()) <= 40


def test_long_notes_go_beside_their_lifeline_in_full() -> None:
    recs = [
        seg(0.0, "client", "segment_sent", 100, 0, ["SYN"]),
        seg(0.01, "server", "segment_received", 100, 0, ["SYN"]),
        TraceRecord(
            0.01,
            "server",
            SERVER_CONN,
            "segment_dropped",
            {
                "reason": "retransmitted-syn-received",
                "seq": 100,
                "ack": 0,
                "flags": ["SYN"],
                "len": 0,
            },
        ),
    ]
    text = render_text(recs, width=80)
    line = next(ln for ln in text.splitlines() if "retransmitted" in ln)
    assert "retransmitted-syn-received" in line  # whole, not cut
    left, right = lifeline_columns(line)
    assert left < line.index("retransmitted") < right
    assert line.index("received") > (left + right) // 2  # near the server's lifeline


# -- the three fates, calls and annotations in a real run -------------------------------------


@pytest.fixture(scope="module")
def lost_final_ack() -> tuple[list[TraceRecord], str]:
    result = SCENARIOS["lost-final-ack"].run(ScenarioOptions())
    return result.records, render_text(result.records, width=100)


def test_the_time_wait_re_ack_is_not_drawn_as_a_loss(
    lost_final_ack: tuple[list[TraceRecord], str],
) -> None:
    _, text = lost_final_ack
    lines = text.splitlines()
    fins = [i for i, line in enumerate(lines) if "FIN,ACK seq=45 ack=20" in line]
    assert len(fins) == 2
    first, again = (arrow_line("\n".join(lines[i:]), "FIN,ACK seq=45") for i in fins)
    assert "◀" in first and "✕" not in first
    # The retransmitted FIN reached TIME-WAIT: a hollow head, no cross, and
    # what TCP did in words, beside the client that received it.
    assert "◁" in again and "✕" not in again and "lost" not in again
    after = lines[fins[1] + 1 : fins[1] + 5]
    said = next(line for line in after if "retransmitted FIN: re-ACKed" in line)
    assert "↺ retransmitted FIN" in said and side_of(said, "retransmitted") == "middle"
    assert said.index("↺") < len(said) // 2  # on the client's side of the region
    assert any("2 MSL restarted" in line for line in after)
    # Only the final ACK was lost in the network.
    crossed = [line for line in lines if "✕" in line and "│" in line]
    assert len(crossed) == 1 and "ACK seq=20 ack=46" in text and "✕ lost" in crossed[0]
    assert "1 lost in the network" in text and "1 dropped by TCP" in text


def test_application_calls_stand_on_their_lifelines(
    lost_final_ack: tuple[list[TraceRecord], str],
) -> None:
    _, text = lost_final_ack
    lines = text.splitlines()

    def where(word: str) -> tuple[int, str]:
        i = next(i for i, line in enumerate(lines) if word in line)
        return i, side_of(lines[i], word)

    assert where("connect()")[1] == "left" and where("listen()")[1] == "right"
    assert where("write(18)")[1] == "left" and where("read() → 18")[1] == "right"
    assert where("read() → 44")[1] == "left" and where("write(44)")[1] == "right"
    # close() comes before the state it causes: FIN-WAIT-1 is explained by it.
    close_at, side = where("close()")
    assert side == "left" and close_at < where("FIN-WAIT-1")[0]
    assert "connect() returns" in text and "accept() returns" in text
    assert text.count("shutdown(WR)") == 0  # close() traces its shutdown: one call


def test_half_close_shows_shutdown_and_folded_reads() -> None:
    result = SCENARIOS["half-close"].run(ScenarioOptions())
    text = render_text(result.records, width=100)
    line = next(line for line in text.splitlines() if "shutdown(WR)" in line)
    assert side_of(line, "shutdown(WR)") == "left"
    assert re.search(r"read\(\) → 1448 ×\d+, until", text)


def test_annotations_follow_the_language() -> None:
    result = SCENARIOS["lost-final-ack"].run(ScenarioOptions())
    zh = render_text(result.records, width=100, lang="zh")
    assert "2 MSL 重新计时" in zh and "重传的 FIN：再次回复 ACK" in zh and "✕ 丢失" in zh
    assert "2 MSL restarted" not in zh
    bare = render_text(result.records, width=100, annotations=False, legend=False)
    assert "↳" not in bare and "arrived, processed" not in bare
    assert "↺ retransmitted FIN" in bare  # what TCP did is part of the drawing, not a note


def test_long_names_are_elided_visibly_not_cropped() -> None:
    far = "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:2]:80"
    recs = [TraceRecord(r.time, r.host, r.conn.replace("192.0.2.2:80", far), r.event, r.data)
            for r in lifecycle_trace()]
    text = render_text(recs, width=80, left="client", right="server")
    head = text.splitlines()[:2]
    assert max(len(line) for line in text.splitlines()) <= 80
    assert head[1].rstrip().endswith(":80") and "…" in head[1]


def _shifted(
    recs: list[TraceRecord], dt: float, client_by: int, server_by: int
) -> list[TraceRecord]:
    """The same connection again, ``dt`` s later, with other ISNs (a new incarnation)."""
    out = []
    for r in recs:
        data = dict(r.data)
        sender = r.host if r.event == "segment_sent" else ("server" if r.host == "client"
                                                             else "client")
        by = {"client": client_by, "server": server_by}
        if "seq" in data:
            data["seq"] = (data["seq"] + by[sender]) % 2**32
        if data.get("ack"):
            other = "server" if sender == "client" else "client"
            data["ack"] = (data["ack"] + by[other]) % 2**32
        out.append(TraceRecord(r.time + dt, r.host, r.conn, r.event, data))
    return out


def test_a_new_incarnation_on_the_same_4_tuple_counts_from_its_own_isn() -> None:
    first = lifecycle_trace(lose_data=False)
    again = _shifted(first, 300.0, 123_456, 987_654)
    model_one = build_model(first)
    model_two = build_model(first + again)
    labels = [s.label() for s in model_one.segments]
    assert [s.label() for s in model_two.segments] == labels + labels
    assert model_two.isn == model_one.isn  # the first incarnation's ISNs


def test_every_drop_reason_of_the_trace_contract_has_words() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "trace.md").read_text("utf-8")
    table = doc.split("Reasons, by who drops:", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    network = {"simulated network", "TUN fault injector", "own device"}
    for who, cell in rows:
        for reason in re.findall(r"`([a-z0-9-]+)`", cell):
            if any(n in who for n in network):
                assert is_network_reason(reason), reason
                continue
            drop = describe_drop(reason)
            assert not is_network_reason(reason), reason
            assert reason not in drop.words.en and reason not in drop.words.zh, reason
    assert describe_drop("retransmitted-fin").routine
    assert not describe_drop("bad-checksum").routine
    assert describe_drop("no-such-reason").words.en == "discarded: no-such-reason"
