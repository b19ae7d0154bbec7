"""``tcpstack ui``: its parameters, its web application, its command line."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tcpstack.cli import main
from tcpstack.cli.ui import create_app, run_options
from tcpstack.scenarios import SCENARIOS, ScenarioOptions

HAS_DROP = "drop" in {f.name for f in dataclasses.fields(ScenarioOptions)}


def test_run_options_parse_strings_and_json_values() -> None:
    scenario, opts, conn = run_options({"scenario": "lost-syn", "seed": "7", "loss": 0.25,
                                        "delay": "0.05", "msl": 30})
    assert scenario.name == "lost-syn" and conn is None
    assert (opts.seed, opts.loss, opts.delay, opts.msl) == (7, 0.25, 0.05, 30.0)
    assert run_options({})[0].name == "lifecycle"
    assert run_options({"conn": "192.0.2.1:1-192.0.2.2:80"})[2] == "192.0.2.1:1-192.0.2.2:80"


@pytest.mark.parametrize(("params", "message"), [
    ({"scenario": "nope"}, "unknown scenario 'nope'"),
    ({"loss": 2}, "loss: must be between 0 and 1"),
    ({"delay": "-1"}, "delay: must be >= 0"),
    ({"msl": 0}, "msl: must be > 0"),
    ({"jitter": "soon"}, "jitter: not a number of seconds"),
    ({"seed": "1.5"}, "seed: not an integer"),
    ({"seed": True}, "seed: expected a number"),
    ({"loss": [1]}, "loss: expected a number"),
    ({"drop": "3, x"}, "drop: not a packet number: 'x'"),
    ({"drop": [0]}, "drop: packet numbers start at 1"),
    ({"drop_final_ack": "maybe"}, "drop_final_ack: expected true or false"),
    ({"colour": "red"}, "unknown parameter 'colour'"),
    ({"scenario": 3}, "scenario: expected a scenario name"),
])
def test_run_options_say_what_is_wrong(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        run_options(params)


def test_packets_to_drop_reach_the_scenario_or_are_refused() -> None:
    params = {"drop": "7, 3 3", "drop_final_ack": "true"}
    if HAS_DROP:
        _, opts, _ = run_options(params)
        assert opts.drop == (3, 7) and opts.drop_final_ack is True  # type: ignore[attr-defined]
    else:
        with pytest.raises(ValueError, match="not available in this version"):
            run_options(params)
    # Nothing to drop is no request to drop.
    assert run_options({"drop": "", "drop_final_ack": False})[1] == ScenarioOptions()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Client:
    """Requests to a running server (urllib: what a browser's fetch does, no more)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, path: str, *, body: bytes | None = None, query: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        req = urllib.request.Request(url, data=body, headers=headers or {},
                                     method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return Reply(resp.status, dict(resp.headers), resp.read().decode())
        except urllib.error.HTTPError as err:
            return Reply(err.code, dict(err.headers), err.read().decode())

    def get(self, path: str, **query: str) -> Reply:
        return self.request(path, query=query or None)

    def post(self, path: str, value: object) -> Reply:
        return self.request(path, body=json.dumps(value).encode(),
                            headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """The app served by uvicorn in a thread, on a socket that listens before it starts
    (requests wait in the backlog: nothing to poll for)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    app = create_app(lang="zh", allowed_hosts=["127.0.0.1"])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield Client(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def test_the_page_is_the_viewer_in_ui_mode(client: Client) -> None:
    resp = client.get("/")
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/html")
    page = resp.text
    for testid in ("scenario-select", "run", "step-prev", "step-next", "step-index", "ladder",
                   "tcb-client", "tcb-server", "segment-detail", "state-diagram",
                   "explanation", "lang-switch"):
        assert f'data-testid="{testid}"' in page, testid
    blob = re.search(r'id="tv-config">(.*?)</script>', page, re.S)
    assert blob is not None
    config = json.loads(blob.group(1))
    assert config["mode"] == "ui" and config["lang"] == "zh"
    assert [s["name"] for s in config["scenarios"]] == list(SCENARIOS)
    assert "connect-src 'self'" in page


def test_scenarios_and_a_run(client: Client) -> None:
    names = [s["name"] for s in client.get("/api/scenarios").json()]
    assert names == list(SCENARIOS)
    resp = client.post("/api/run", {"scenario": "lost-final-ack", "seed": 1})
    assert resp.status == 200
    doc = resp.json()
    assert doc["title"] == "tcpstack: lost-final-ack"
    assert doc["about"]["name"] == "lost-final-ack" and doc["about"]["answer"]["en"]
    assert doc["about"]["options"]["seed"] == 1
    assert [s["fate"] for s in doc["segments"]].count("lost") == 1
    same = client.get("/api/run", scenario="lost-final-ack", seed="1").json()
    assert same["steps"] == doc["steps"]  # a run is reproducible from its seed


@pytest.mark.parametrize(("body", "message"), [
    ({"scenario": "lifecycle", "loss": 1.5}, "loss: must be between 0 and 1"),
    ([1, 2], "expected a JSON object"),
    ({"scenario": "lifecycle", "conn": "10.0.0.1:1-10.0.0.2:2"}, "not in the trace"),
])
def test_bad_runs_are_400_with_one_line(client: Client, body: object, message: str) -> None:
    resp = client.post("/api/run", body)
    assert resp.status == 400
    error = resp.json()["error"]
    assert message in error and "\n" not in error


def test_a_body_that_is_not_json_is_400(client: Client) -> None:
    resp = client.request("/api/run", body=b"loss=0.5")
    assert resp.status == 400 and resp.json() == {"error": "the request is not JSON"}


def test_other_host_names_are_refused_on_loopback(client: Client) -> None:
    assert client.request("/", headers={"Host": "attacker.example"}).status == 400


def test_ui_command_line_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["ui", "--port", "70000"])
    assert exc.value.code == 2
    assert "port out of range 0-65535: 70000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ui", "--lang", "fr"])
    assert "unknown language 'fr'" in capsys.readouterr().err


def test_a_port_in_use_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["ui", "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tcpstack: error: cannot listen on 127.0.0.1 port {port}:")
    assert "\n" not in err


def test_demo_html_carries_the_scenario_and_its_options(tmp_path: Path) -> None:
    out = tmp_path / "view.html"
    assert main(["demo", "lost-final-ack", "--quiet", "--seed", "3", "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    doc = json.loads(re.search(r'id="tv-doc">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert doc["about"]["name"] == "lost-final-ack"
    assert "TIME-WAIT" in doc["about"]["answer"]["en"]
    assert doc["about"]["options"]["seed"] == 3
    assert doc["title"] == "tcpstack: lost-final-ack"
