"""An echo server and client: plain asyncio streams, with their TCP over tcpstack.

  python examples/echo.py                   # simulator: server and client in one process
  python examples/echo.py --loss 0.3        # the same lines arrive, however lossy the link

On TUN (root), the server serves the kernel side until Ctrl-C:

  ip netns add demo && ip -n demo link set lo up
  ip netns exec demo python examples/echo.py --tun
  ip netns exec demo nc 192.0.2.2 7         # another terminal (or: socat - TCP:192.0.2.2:7)
  ip netns del demo                         # when done
"""

import asyncio

import _common
from _common import SERVER


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One connection: send back whatever arrives until the client closes."""
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()


async def main(args: _common.Namespace) -> None:
    server = await asyncio.start_server(echo, SERVER, 7)  # tcpstack listens on 192.0.2.2:7
    if args.tun:  # serve the kernel's clients
        print(f"echo server on {SERVER} port 7 (Ctrl-C stops it)", flush=True)
        await _common.serve_until_interrupted(server)
    # In the simulator, be the client too (from the other simulated host, 192.0.2.1).
    reader, writer = await asyncio.open_connection(SERVER, 7)
    for line in ["hello", "from tcpstack", "goodbye"]:
        writer.write(f"{line}\n".encode())
        print(f"sent {line!r}, echoed {(await reader.readline()).decode().strip()!r}")
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()  # until the server's side of the connection has ended too


if __name__ == "__main__":  # asyncio.run(main(args)), on a tcpstack loop: --sim or --tun
    _common.run(main, _common.parser(__doc__))
