"""``tcpstack ui``: the interactive viewer on a local web server.

The server (Starlette, run by uvicorn) serves the viewer page
(:mod:`tcpstack.tools.viewer`) in its ``ui`` mode: the reader picks a
scenario, sets faults (seed, loss, delay, jitter, reorder, duplication, MSL,
packets to drop, the final ACK dropped) and runs it; the server runs the
scenario in the simulator and answers with the viewer's document. Routes:

``GET /``
    the page.
``GET /api/scenarios``
    ``[{"name", "summary": {"en", "zh"}}]``.
``POST /api/run`` (a JSON object) or ``GET /api/run?scenario=...``
    the document of one run; bad parameters get ``400 {"error": "..."}``
    with one line saying what is wrong.

It listens on 127.0.0.1 unless told otherwise (``--host``, with a warning
when that is not a loopback address); ``--port 0`` picks a free port. The
URL is printed once the port is open. Ctrl-C stops it quietly.

This module also holds what ``tcpstack demo --html`` needs to put the
scenario's question and answer into its page (:func:`viewer_html`).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import socket
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..scenarios import SCENARIOS, Scenario, ScenarioOptions, ScenarioResult, get_scenario
from ..tools.i18n import Lang, Text, default_lang, parse_lang
from ..tools.viewer import About, build_document, render_page
from ..tools.viewer.document import text_json
from .argtypes import listen_port, positive_seconds, probability, seconds

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["DEFAULT_PORT", "add_ui_parser", "create_app", "run_document", "run_options",
           "run_ui", "scenario_about", "viewer_html"]

DEFAULT_PORT = 8765
MAX_DROPS = 64
"""At most this many packet numbers in one ``drop`` list."""

UI_EPILOG = """\
examples:
  tcpstack ui                       serve the viewer on http://127.0.0.1:8765/
  tcpstack ui --port 0              on a free port (the URL is printed)
  tcpstack ui --lang zh             the page starts in Chinese
"""

_NUMBERS = {"loss": probability, "duplicate": probability, "reorder": probability,
            "delay": seconds, "jitter": seconds, "msl": positive_seconds}
_KNOWN = {"scenario", "seed", "drop", "drop_final_ack", "conn", *_NUMBERS}


# -- scenarios as the viewer sees them ----------------------------------------------------


def _text(value: object) -> Text | str | None:
    """A scenario text as it is: both languages, English only, or nothing."""
    if isinstance(value, Text | str):
        return value
    return None


def scenario_about(scenario: Scenario, options: Mapping[str, Any] | None = None) -> About:
    """The scenario's name, summary, question and answer, and the run's options.

    A scenario that has no ``question``/``answer`` gives its English
    ``explanation`` as the answer.
    """
    answer = _text(getattr(scenario, "answer", None)) or _text(
        getattr(scenario, "explanation", None))
    return About(
        name=scenario.name,
        summary=_text(getattr(scenario, "summary", None)),
        question=_text(getattr(scenario, "question", None)),
        answer=answer,
        options=dict(options or {}),
    )


def _one(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{name}: expected a number, got {json.dumps(value)}")
    return str(value)


def _drops(value: object) -> tuple[int, ...]:
    items: list[object]
    if isinstance(value, str):
        items = [v for v in value.replace(",", " ").split() if v]
    elif isinstance(value, list):
        items = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise ValueError("drop: expected packet numbers like 3, 7")
    out = []
    for item in items:
        try:
            n = int(str(item))
        except ValueError:
            raise ValueError(f"drop: not a packet number: {item!r}") from None
        if n < 1:
            raise ValueError(f"drop: packet numbers start at 1, got {n}")
        out.append(n)
    if len(out) > MAX_DROPS:
        raise ValueError(f"drop: at most {MAX_DROPS} packet numbers")
    return tuple(sorted(set(out)))


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "on", "yes", "false", "0",
                                                     "off", "no", ""):
        return value.lower() in ("true", "1", "on", "yes")
    raise ValueError(f"drop_final_ack: expected true or false, got {json.dumps(value)}")


def run_options(params: Mapping[str, object]) -> tuple[Scenario, ScenarioOptions, str | None]:
    """The scenario, its options and the connection asked for by ``params``.

    ``params`` holds strings (a query string, a form) or JSON values:
    ``scenario``; ``seed`` (integer); ``loss``, ``duplicate``, ``reorder``
    (probabilities); ``delay``, ``jitter`` (seconds, >= 0); ``msl``
    (seconds, > 0); ``drop`` (packet numbers counted over the whole network
    from 1: ``"3, 7"`` or ``[3, 7]``); ``drop_final_ack`` (boolean);
    ``conn`` (which connection to show). Absent ones keep their defaults.

    Raises:
        ValueError: one line saying which parameter is wrong and why.
    """
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}"
                         f" (known: {', '.join(sorted(_KNOWN))})")
    name = params.get("scenario", "lifecycle")
    if not isinstance(name, str):
        raise ValueError("scenario: expected a scenario name")
    try:
        scenario = get_scenario(name)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    values: dict[str, Any] = {}
    if "seed" in params:
        seed = _one("seed", params["seed"])
        try:
            values["seed"] = int(seed)
        except ValueError:
            raise ValueError(f"seed: not an integer: {seed!r}") from None
    for key, parse in _NUMBERS.items():
        if key in params:
            try:
                values[key] = parse(_one(key, params[key]))
            except argparse.ArgumentTypeError as exc:
                raise ValueError(f"{key}: {exc}") from None
    fields = {f.name for f in dataclasses.fields(ScenarioOptions)}
    for key, parse_extra in (("drop", _drops), ("drop_final_ack", _flag)):
        if key not in params:
            continue
        value = parse_extra(params[key])
        if not value:
            continue
        if key not in fields:  # an older scenario package: say so rather than ignore it
            raise ValueError(f"{key}: not available in this version of tcpstack")
        values[key] = value
    conn = params.get("conn")
    if conn is not None and not isinstance(conn, str):
        raise ValueError("conn: expected a connection like 192.0.2.1:40000-192.0.2.2:80")
    return scenario, ScenarioOptions(**values), conn or None


def _document(scenario: Scenario, options: ScenarioOptions, result: ScenarioResult,
              conn: str | None) -> dict[str, Any]:
    return build_document(result.records, left=result.client, right=result.server, conn=conn,
                          title=f"tcpstack: {scenario.name}",
                          about=scenario_about(scenario, dataclasses.asdict(options)))


_RUN_LOCK = threading.Lock()


def run_document(params: Mapping[str, object]) -> dict[str, Any]:
    """Run the scenario ``params`` asks for (:func:`run_options`) and build its document.

    Runs one at a time (the simulator is CPU-bound; parallel runs would only
    slow each other down).

    Raises:
        ValueError: bad parameters, or ``conn`` is not a connection of the run.
        RuntimeError: the run could not be drawn (not the parameters' fault).
    """
    scenario, options, conn = run_options(params)
    with _RUN_LOCK:
        result = scenario.run(options)
    try:
        return _document(scenario, options, result, conn)
    except ValueError as exc:
        if conn is not None:  # the connection asked for is not in this run
            raise
        raise RuntimeError(f"the run could not be drawn: {exc}") from exc


def viewer_html(result: ScenarioResult, args: argparse.Namespace) -> str:
    """The ``--html`` page of a ``tcpstack demo`` run, with its scenario's texts.

    Args:
        result: the run.
        args: the demo's options (network knobs, ``--absolute``, ``--lang``).
    """
    scenario = get_scenario(result.name)
    names = {f.name for f in dataclasses.fields(ScenarioOptions)}
    options = {k: v for k, v in vars(args).items() if k in names}  # what the run was given
    document = build_document(result.records, left=result.client, right=result.server,
                              title=f"tcpstack: {result.name}",
                              about=scenario_about(scenario, options),
                              absolute=bool(getattr(args, "absolute", False)))
    return render_page(document, mode="file", lang=_lang(getattr(args, "lang", None)))


def _lang(value: object) -> Lang:
    if isinstance(value, str) and value:
        try:
            return parse_lang(value)
        except ValueError:
            pass
    return default_lang()


# -- the web application -------------------------------------------------------------------


def scenario_list() -> list[dict[str, Any]]:
    """Every scenario as ``{"name", "summary": {"en", "zh"}}`` (summary English-only when
    the scenario has no Chinese yet)."""
    return [{"name": name, "summary": text_json(_text(sc.summary))}
            for name, sc in SCENARIOS.items()]


def create_app(*, lang: Lang = "en", allowed_hosts: list[str] | None = None) -> Starlette:
    """The Starlette application of ``tcpstack ui`` (routes in the module doc).

    Args:
        lang: the language the page starts in.
        allowed_hosts: ``Host`` headers to accept (a guard against DNS
            rebinding when serving on loopback); None accepts any.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    defaults = {"scenario": "lifecycle", **{
        f.name: f.default for f in dataclasses.fields(ScenarioOptions)
        if f.name in ("seed", "loss", "delay", "jitter", "reorder", "duplicate", "msl")}}
    page = render_page(None, mode="ui", lang=lang, title="tcpstack ui",
                       scenarios=scenario_list(), defaults=defaults)

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def scenarios(request: Request) -> Response:
        return JSONResponse(scenario_list())

    async def run(request: Request) -> Response:
        params: object
        if request.method == "POST":
            try:
                params = json.loads(await request.body() or b"{}")
            except (ValueError, UnicodeDecodeError):
                return JSONResponse({"error": "the request is not JSON"}, status_code=400)
        else:
            params = dict(request.query_params)
        if not isinstance(params, dict):
            return JSONResponse({"error": "expected a JSON object of parameters"},
                                status_code=400)
        try:
            document = await run_in_threadpool(run_document, params)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except Exception as exc:  # a failing run is reported in the page, not a crash
            print(f"tcpstack ui: the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return JSONResponse({"error": f"the run failed: {type(exc).__name__}: {exc}"},
                                status_code=500)
        return JSONResponse(document)

    middleware = []
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    return Starlette(routes=[
        Route("/", index),
        Route("/api/scenarios", scenarios),
        Route("/api/run", run, methods=["GET", "POST"]),
    ], middleware=middleware)


# -- the command ---------------------------------------------------------------------------------


def add_ui_parser(sub: Any) -> None:
    """Register ``tcpstack ui`` on the ``tcpstack`` subparsers."""
    ui = sub.add_parser(
        "ui",
        help="the interactive viewer in your browser (a local web server)",
        description="Serve the interactive viewer: pick a scenario, set faults, run it, "
        "step through the connection, change something and run it again.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=UI_EPILOG,
    )
    ui.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=listen_port, default=DEFAULT_PORT,
                    help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    ui.add_argument("--lang", type=_lang_arg, default=None,
                    help="language the page starts in: en or zh (default: from the locale)")


def _lang_arg(text: str) -> Lang:
    try:
        return parse_lang(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``.

    Raises:
        OSError: the address cannot be used (taken, not ours, unknown name).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def run_ui(args: argparse.Namespace) -> int:
    """Serve the viewer until Ctrl-C; returns the exit status."""
    import uvicorn

    host: str = args.host
    loopback = _is_loopback(host)
    if not loopback:
        print(f"tcpstack ui: warning: listening on {host}: other machines can reach the viewer",
              file=sys.stderr)
    try:
        sock = _listen(host, args.port)
    except OSError as exc:
        print(f"tcpstack: error: cannot listen on {host} port {args.port}:"
              f" {exc.strerror or exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    allowed = sorted({host, "127.0.0.1", "localhost", "::1", "[::1]"}) if loopback else None
    app = create_app(lang=args.lang or default_lang(), allowed_hosts=allowed)
    shown = f"[{host}]" if ":" in host else host
    print(f"tcpstack ui: http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    # A run in progress may hold a request open: Ctrl-C waits at most 2 s for it.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off", timeout_graceful_shutdown=2))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
