"""The viewer in a real browser: `tcpstack ui`, and the page `demo --html` writes.

Both show lost-final-ack (RFC 9293 §3.10.7.4): the client's last ACK is lost,
the server in LAST-ACK retransmits its FIN, and the client, in TIME-WAIT,
acknowledges it again and restarts its 2 MSL timer. The tests step to that
FIN and read the client's TCB panel, step back, and switch to Chinese.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tcpstack.cli import main
from tcpstack.state import arcs

CJK = re.compile("[\u4e00-\u9fff]")
MAX_STEPS = 200


def tid(name: str) -> str:
    return f"[data-testid={name}]"


def time_wait_at(page: Any) -> float | None:
    """The client's 2 MSL timer expiry (seconds) in its TCB panel, None when not running."""
    timer = page.locator(f"{tid('tcb-client')} li[data-timer=time_wait]")
    return float(timer.get_attribute("data-at")) if timer.count() else None


def at_retransmitted_fin(page: Any) -> bool:
    """True when the current step is the repeated FIN arriving at the client."""
    index = page.locator(tid("step-index"))
    if (index.get_attribute("data-kind"), index.get_attribute("data-host")) != ("arrive", "client"):
        return False
    detail = page.locator(tid("segment-detail"))
    return ("FIN" in (detail.get_attribute("data-flags") or "")
            and "retransmission" in detail.inner_text())


def step_to_retransmitted_fin(page: Any, forward: Any) -> float:
    """Step forward (with ``forward()``) to the retransmitted FIN; the 2 MSL expiry before it."""
    before = None
    for _ in range(MAX_STEPS):
        if at_retransmitted_fin(page):
            assert before is not None, "TIME-WAIT had no 2 MSL timer before the FIN"
            return before
        before = time_wait_at(page)
        forward()
    raise AssertionError("never reached the retransmitted FIN")


def check_the_fin_step(page: Any, before: float, back: Any) -> None:
    """TIME-WAIT with its 2 MSL timer restarted later; one step back it was as before."""
    client = page.locator(tid("tcb-client"))
    assert client.get_attribute("data-state") == "TIME-WAIT"
    assert client.locator(".state").inner_text() == "TIME-WAIT"
    timer = client.locator("li[data-timer=time_wait]")
    now = float(timer.get_attribute("data-at"))
    assert now > before
    assert "restarted" in (timer.get_attribute("class") or "")
    assert f"was {before:.3f} s" in timer.inner_text()
    # The explanation says what happened, and the ladder's arrow is this segment, which
    # TCP will discard (a drop, not a loss).
    assert "arrives at client" in page.locator(tid("explanation")).inner_text()
    assert "restarted" in page.locator(tid("explanation")).inner_text()
    current = page.locator(f"{tid('ladder')} g.seg.current")
    assert current.get_attribute("data-fate") == "dropped"
    # Each end's state is highlighted in the state diagram.
    diagram = page.locator(tid("state-diagram"))
    assert "current-L" in diagram.locator("[data-node='TIME-WAIT']").get_attribute("class")
    assert "current-R" in diagram.locator("[data-node='LAST-ACK']").get_attribute("class")
    assert diagram.locator("[data-arc]").count() == len(arcs())
    index = page.locator(tid("step-index")).get_attribute("data-step")
    back()
    assert page.locator(tid("step-index")).get_attribute("data-step") == str(int(index) - 1)
    timer = client.locator("li[data-timer=time_wait]")
    assert float(timer.get_attribute("data-at")) == before
    assert "restarted" not in (timer.get_attribute("class") or "")


def switch_to_chinese(page: Any) -> None:
    """The explanation changes language; the step and the TCB stay."""
    explanation = page.locator(tid("explanation"))
    english = explanation.inner_text()
    step = page.locator(tid("step-index")).get_attribute("data-step")
    page.select_option(tid("lang-switch"), "zh")
    page.wait_for_function(
        "(en) => document.querySelector('[data-testid=explanation]').innerText !== en", arg=english)
    chinese = explanation.inner_text()
    assert CJK.search(chinese) and chinese != english
    assert "到达 client" in chinese
    assert page.locator(tid("step-index")).get_attribute("data-step") == step
    assert page.locator(tid("step-next")).inner_text().startswith("下一步")
    assert page.locator(tid("tcb-client")).get_attribute("data-state") == "TIME-WAIT"


def run_in_ui(page: Any, url: str, scenario: str) -> None:
    """Open the ui, pick ``scenario``, press Run and wait for its run to be shown."""
    page.goto(url)
    page.select_option(tid("scenario-select"), scenario)
    page.click(tid("run"))
    page.wait_for_function(
        "(t) => document.querySelector('[data-testid=title]').textContent === t",
        arg=f"tcpstack: {scenario}")


def test_ui_runs_lost_final_ack_and_steps_through_it(page: Any, ui_url: str,
                                                    artifacts: Path) -> None:
    run_in_ui(page, ui_url, "lost-final-ack")
    assert page.locator(tid("step-index")).get_attribute("data-step") == "0"
    before = step_to_retransmitted_fin(page, lambda: page.click(tid("step-next")))
    page.screenshot(path=str(artifacts / "ui-retransmitted-fin-en.png"), full_page=True)
    check_the_fin_step(page, before, lambda: page.click(tid("step-prev")))
    page.keyboard.press("ArrowRight")
    assert at_retransmitted_fin(page)
    switch_to_chinese(page)
    page.screenshot(path=str(artifacts / "ui-retransmitted-fin-zh.png"), full_page=True)
    assert page.errors == []


def test_ui_reports_bad_settings_and_reruns_at_the_same_moment(page: Any, ui_url: str,
                                                               artifacts: Path) -> None:
    run_in_ui(page, ui_url, "lost-syn")
    page.fill(tid("fault-loss"), "1.5")
    page.click(tid("run"))
    error = page.locator(tid("error"))
    error.wait_for(state="visible")
    assert "loss: must be between 0 and 1" in error.inner_text()
    page.screenshot(path=str(artifacts / "ui-error.png"))
    # What if the link were slower? The same scenario, shown at the same moment.
    page.fill(tid("fault-loss"), "0")
    page.click(tid("step-last"))
    end_before = step_time(page)
    meta_before = page.locator("#tv-meta").inner_text()
    page.fill(tid("fault-delay"), "0.05")
    page.click(tid("run"))
    error.wait_for(state="hidden")
    page.wait_for_function(
        "(m) => document.querySelector('#tv-meta').textContent !== m", arg=meta_before)
    assert step_time(page) <= end_before
    # Slower round trips: TIME-WAIT started later, so at that moment it is still running.
    assert page.locator(tid("tcb-client")).get_attribute("data-state") == "TIME-WAIT"
    page.click(tid("step-last"))
    assert step_time(page) > end_before
    # The one error: the browser's note of the 400 answer to the bad setting.
    assert [e for e in page.errors if "status of 400" not in e] == []


def step_time(page: Any) -> float:
    """The time (seconds) the step counter shows."""
    match = re.search(r"time ([0-9.]+) s", page.locator(tid("step-index")).inner_text())
    assert match is not None
    return float(match.group(1))


def test_exported_page_works_offline(browser: Any, tmp_path: Path, artifacts: Path) -> None:
    out = tmp_path / "lost-final-ack.html"
    assert main(["demo", "lost-final-ack", "--quiet", "--html", str(out)]) == 0
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_offline(True)
    attempted: list[str] = []

    def only_the_file(route: Any) -> None:
        attempted.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_the_file)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(out.as_uri())
    assert page.locator(tid("title")).inner_text() == "tcpstack: lost-final-ack"
    assert page.locator(tid("run-form")).is_hidden()
    before = step_to_retransmitted_fin(page, lambda: page.keyboard.press("ArrowRight"))
    check_the_fin_step(page, before, lambda: page.keyboard.press("ArrowLeft"))
    page.click(tid("step-next"))
    switch_to_chinese(page)
    page.screenshot(path=str(artifacts / "file-retransmitted-fin-zh.png"), full_page=True)
    context.close()
    assert attempted == [out.as_uri()]
    assert errors == []


def _pages() -> list[tuple[str, str]]:
    """Every scenario's page, and a few runs over bad links (built in Python, loaded as is)."""
    from tcpstack.cli.ui import run_document
    from tcpstack.scenarios import SCENARIOS
    from tcpstack.tools.sample import lifecycle_trace
    from tcpstack.tools.viewer import build_document, render_page

    runs: list[tuple[str, dict[str, object]]] = [(name, {"scenario": name}) for name in SCENARIOS]
    runs += [("lifecycle loss 0.3", {"scenario": "lifecycle", "loss": 0.3, "seed": 3}),
             ("fast-retransmit jitter", {"scenario": "fast-retransmit", "jitter": 0.02}),
             ("zero-window reorder", {"scenario": "zero-window", "reorder": 0.3, "seed": 2})]
    pages = [(label, render_page(run_document(params))) for label, params in runs]
    one_sided = [r for r in lifecycle_trace() if r.host == "client"]
    pages.append(("one-sided", render_page(build_document(one_sided))))
    pages.append(("empty", render_page(build_document([]))))
    return pages


STEP_THROUGH = """() => {
  const tv = window.tcpstackViewer, n = tv.steps().length, seen = new Set();
  for (let i = 0; i < n; i += 1) {
    tv.go(i);
    seen.add(document.querySelector('[data-testid=tcb-client]').getAttribute('data-state'));
  }
  document.querySelector('[data-testid=absolute]').click();
  const lang = document.querySelector('[data-testid=lang-switch]');
  lang.value = 'zh';
  lang.dispatchEvent(new Event('change'));
  tv.go(n - 1);
  return {n: n, cur: tv.cur, states: Array.from(seen)};
}"""


def test_every_scenario_draws_at_every_step(page: Any) -> None:
    """No step of any run (nor a one-sided or empty trace) makes the page's script fail."""
    for label, html in _pages():
        page.set_content(html)
        result = page.evaluate(STEP_THROUGH)
        assert result["cur"] == max(0, result["n"] - 1), label
        assert page.errors == [], (label, page.errors)
        if label == "lifecycle":
            assert {"SYN-SENT", "ESTABLISHED", "TIME-WAIT", "CLOSED"} <= set(result["states"])
