"""An aiohttp web server serving the files of a directory, over tcpstack.

Needs aiohttp (``pip install aiohttp``). The application is ordinary aiohttp
code (``web.Application``, a static route, ``web.AppRunner`` and
``web.TCPSite``); only the event loop underneath is tcpstack's.

  python examples/http_server.py                  # simulator: serve, fetch, check, exit
  python examples/http_server.py --dir docs --loss 0.05 --delay 0.05

In the simulator the program serves a directory (by default a temporary one
holding a random file of --size bytes) and fetches the index page and every
file in it with an aiohttp client, checking each by SHA-256.

On TUN (root), it serves --dir (default: the current directory) until Ctrl-C:

  ip netns add demo && ip -n demo link set lo up
  ip netns exec demo python examples/http_server.py --tun --dir .
  ip netns exec demo curl http://192.0.2.2:8080/           # another terminal
  ip netns exec demo curl -O http://192.0.2.2:8080/README.md
"""

import hashlib
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from tcpstack.cli import argtypes

try:
    import aiohttp
    from aiohttp import web
except ImportError:
    sys.exit("http_server.py needs aiohttp: pip install aiohttp")

import _common
from _common import SERVER


async def start_server(directory: Path, port: int) -> web.AppRunner:
    """The whole server: an index of ``directory`` at / and its files below it."""
    app = web.Application()
    app.router.add_static("/", directory, show_index=True)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, SERVER, port).start()
    return runner


async def fetch_all(directory: Path, port: int) -> bool:
    """Fetch the index page and every file of ``directory``; True if each came back
    byte for byte."""
    all_same = True
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{SERVER}:{port}/") as resp:
            print(f"GET / -> {resp.status}, {len(await resp.read())} bytes (the index)")
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            async with session.get(f"http://{SERVER}:{port}/{quote(path.name)}") as resp:
                body = await resp.read()
            digest = hashlib.sha256(body).hexdigest()
            same = resp.status == 200 and digest == hashlib.sha256(path.read_bytes()).hexdigest()
            all_same &= same
            print(f"GET /{path.name} -> {resp.status}, {len(body)} bytes, "
                  f"sha256 {digest[:16]}... {'matches' if same else 'DIFFERS FROM'} the file")
    return all_same


async def main(args: _common.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or (Path.cwd() if args.tun else Path(tmp))
        if args.dir is None and not args.tun:
            (directory / "random.bin").write_bytes(_common.random_bytes(args.size, args.seed))
        runner = await start_server(directory, args.port)
        if args.tun:
            print(f"serving {directory} at http://{SERVER}:{args.port}/ (Ctrl-C stops it)",
                  flush=True)
            await _common.serve_until_interrupted(runner.cleanup)
        all_same = await fetch_all(directory, args.port)
        await runner.cleanup()
    if not all_same:
        sys.exit("error: a file came back different")


if __name__ == "__main__":
    p = _common.parser(__doc__)
    p.add_argument("--dir", type=_common.directory, help="the directory to serve")
    p.add_argument("--port", type=argtypes.port, default=8080, help="default 8080")
    p.add_argument("--size", type=_common.size, default=256 * 1024,
                   help="--sim without --dir: bytes of the random file (default 256 KiB)")
    _common.run(main, p)
