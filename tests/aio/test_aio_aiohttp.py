"""An unmodified aiohttp server and client over tcpstack's simulator, through loss and delay."""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path

import aiohttp
from aio_helpers import CLIENT, SERVER, retransmissions
from aiohttp import web

import tcpstack.aio

BIG = 10 * 1024 * 1024


def _app(files: Path) -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.remote}")

    async def upload(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})

    app = web.Application(client_max_size=BIG)
    app.router.add_get("/", hello)
    app.router.add_post("/upload", upload)
    app.router.add_static("/files", files)
    return app


def test_aiohttp_serves_and_fetches_ten_mib_byte_exact_through_loss(tmp_path: Path) -> None:
    rng = random.Random(8)
    big = rng.randbytes(BIG)
    (tmp_path / "big.bin").write_bytes(big)
    upload = rng.randbytes(1024 * 1024)

    async def main() -> dict[str, object]:
        runner = web.AppRunner(_app(tmp_path))
        await runner.setup()
        await web.TCPSite(runner, SERVER, 8080).start()
        out: dict[str, object] = {}
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://{SERVER}:8080/") as resp:
                    out["hello"] = (resp.status, await resp.text())
                async with session.get(f"http://{SERVER}:8080/files/big.bin") as resp:
                    body = await resp.read()
                    out["big"] = (resp.status, hashlib.sha256(body).digest())
                async with session.post(f"http://{SERVER}:8080/upload", data=upload) as resp:
                    out["upload"] = await resp.json()
                async with session.get(f"http://{SERVER}:8080/files/missing") as resp:
                    out["missing"] = resp.status
        finally:
            await runner.cleanup()
        return out

    net = tcpstack.aio.SimulatedNetwork([CLIENT, SERVER], loss=0.05, delay=0.05, seed=4)
    out = tcpstack.aio.run(main(), network=net)
    assert out["hello"] == (200, f"hello {CLIENT}")
    assert out["big"] == (200, hashlib.sha256(big).digest())
    assert out["upload"] == {"size": len(upload), "sha256": hashlib.sha256(upload).hexdigest()}
    assert out["missing"] == 404
    # The loss was real, and the run took many seconds of virtual time.
    assert retransmissions(net, SERVER) > 100
    assert net.network.now > 10


def test_aiohttp_client_times_out_in_virtual_time() -> None:
    async def main() -> str:
        async def stall(request: web.Request) -> web.Response:
            await asyncio.sleep(3600)
            return web.Response(text="too late")

        app = web.Application()
        app.router.add_get("/", stall)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, SERVER, 80).start()
        try:
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                try:
                    async with session.get(f"http://{SERVER}/") as resp:
                        return await resp.text()
                except TimeoutError:
                    return f"timed out at {asyncio.get_running_loop().time():.0f}"
        finally:
            await runner.cleanup()

    net = tcpstack.aio.SimulatedNetwork([CLIENT, SERVER])
    assert tcpstack.aio.run(main(), network=net) == "timed out at 30"
