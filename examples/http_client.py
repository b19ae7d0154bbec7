"""Download a file with aiohttp's client over tcpstack: size, SHA-256 and time taken.

Needs aiohttp (``pip install aiohttp``). The download is ordinary aiohttp
code (``aiohttp.ClientSession``); only the event loop underneath is
tcpstack's. Names are not resolved: URLs use IP addresses.

  python examples/http_client.py                  # simulator: from a server in the simulation
  python examples/http_client.py --size 4M --loss 0.02 --delay 0.05

In the simulator a small aiohttp server on 192.0.2.2 serves --size random
bytes at /random.bin (the default URL); the times printed are virtual.

On TUN (root), download from a server on the kernel side, 192.0.2.1. That
address exists only while the program runs (it is the kernel's end of the
TUN device), so let the server bind it beforehand:

  ip netns add demo && ip -n demo link set lo up
  ip netns exec demo sysctl -w net.ipv4.ip_nonlocal_bind=1
  ip netns exec demo python -m http.server --bind 192.0.2.1 8000 &   # serves the current dir
  ip netns exec demo python examples/http_client.py --tun http://192.0.2.1:8000/README.md
  sha256sum README.md                                                  # the same digest
"""

import asyncio
import hashlib
import sys
from pathlib import Path

try:
    import aiohttp
    from aiohttp import web
except ImportError:
    sys.exit("http_client.py needs aiohttp: pip install aiohttp")

import _common
from _common import SERVER


async def serve_random(data: bytes, port: int) -> web.AppRunner:
    """The simulator's server: ``data`` at /random.bin."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=data, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/random.bin", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, SERVER, port).start()
    return runner


async def download(url: str) -> tuple[int, bytes, float]:
    """GET ``url``: (status, body, seconds taken by the loop's clock)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        body = await resp.read()
    return resp.status, body, loop.time() - started


async def main(args: _common.Namespace) -> None:
    runner = None
    if not args.tun:
        data = _common.random_bytes(args.size, args.seed)
        runner = await serve_random(data, 8080)
        print(f"the server holds {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    url = args.url or (f"http://{_common.CLIENT}:8000/" if args.tun
                       else f"http://{SERVER}:8080/random.bin")
    status, body, seconds = await download(url)
    print(f"GET {url} -> {status}")
    print(f"downloaded {len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}")
    clock = "real" if args.tun else "virtual"
    print(f"in {seconds:.3f} s of {clock} time ({len(body) * 8 / max(seconds, 1e-9) / 1e6:.1f}"
          " Mbit/s)")
    if args.out:
        args.out.write_bytes(body)
        print(f"saved to {args.out}")
    if runner is not None:
        await runner.cleanup()
    if status != 200:
        sys.exit(f"error: HTTP status {status}")


if __name__ == "__main__":
    p = _common.parser(__doc__)
    p.add_argument("url", nargs="?", help="what to download (default: --sim "
                   f"http://{SERVER}:8080/random.bin, --tun http://{_common.CLIENT}:8000/)")
    p.add_argument("--size", type=_common.size, default=1 << 20,
                   help="--sim: bytes the simulated server holds (default 1M)")
    p.add_argument("--out", type=Path, help="save the download to this file")
    _common.run(main, p)
