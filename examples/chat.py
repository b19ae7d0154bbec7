"""A chat server: every line a client sends goes to all the other clients.

Plain asyncio streams, with their TCP over tcpstack.

  python examples/chat.py                       # simulator: the server and 3 clients
  python examples/chat.py --clients 10 --messages 3 --loss 0.1

In the simulator, the clients join, each says --messages lines, and each
prints what it hears; the run ends by checking that every client heard each
line of every other client.

On TUN (root), the server serves the kernel side until Ctrl-C; join from as
many terminals as you like, type a name, then chat:

  ip netns add demo && ip -n demo link set lo up
  ip netns exec demo python examples/chat.py --tun
  ip netns exec demo nc 192.0.2.2 7777          # or: socat - TCP:192.0.2.2:7777
"""

import asyncio
import sys

import _common
from _common import SERVER

PORT = 7777
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


class ChatRoom:
    """The server: who is in the room, and what each of them says."""

    def __init__(self) -> None:
        self.members: dict[asyncio.StreamWriter, str] = {}

    def broadcast(self, line: str, sender: asyncio.StreamWriter | None = None) -> None:
        """Send ``line`` to everyone but ``sender`` (chat lines are short: no drain)."""
        for writer in self.members:
            if writer is not sender:
                writer.write(f"{line}\n".encode())

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client: ask its name, then relay its lines until it leaves."""
        writer.write(b"welcome! your name?\n")
        name = (await reader.readline()).decode(errors="replace").strip()[:20]
        name = name or "{}:{}".format(*writer.get_extra_info("peername"))
        others = ", ".join(self.members.values()) or "nobody yet"
        self.broadcast(f"* {name} joined")
        self.members[writer] = name
        writer.write(f"* hello {name}; here: {others}\n".encode())
        try:
            while line := await reader.readline():
                self.broadcast(f"{name}: {line.decode(errors='replace').rstrip()}", writer)
        except (ConnectionError, ValueError):  # reset, or a line too long
            pass
        finally:
            del self.members[writer]
            self.broadcast(f"* {name} left")
            writer.close()


async def client(name: str, others: int, messages: int, everyone_in: asyncio.Barrier) -> list[str]:
    """A simulated client: join, say ``messages`` lines, hear the others' lines, leave."""
    reader, writer = await asyncio.open_connection(SERVER, PORT)
    await reader.readline()  # "welcome! your name?"
    writer.write(f"{name}\n".encode())
    await reader.readline()  # "* hello NAME; here: ...": we are in the room
    await everyone_in.wait()  # (lines said before someone joins never reach them)
    for i in range(1, messages + 1):
        writer.write(f"message {i} of {messages}\n".encode())
    heard: list[str] = []
    while len(heard) < others * messages and (line := await reader.readline()):
        if not line.startswith(b"*"):  # not a join or leave notice
            heard.append(line.decode().rstrip())
            print(f"{name:>8} hears {line.decode().rstrip()}")
    writer.close()
    await writer.wait_closed()
    return heard


async def main(args: _common.Namespace) -> None:
    server = await asyncio.start_server(ChatRoom().handle, SERVER, PORT)
    if args.tun:
        print(f"chat server on {SERVER} port {PORT} (Ctrl-C stops it)", flush=True)
        await _common.serve_until_interrupted(server)
    names = [NAMES[i] if i < len(NAMES) else f"user{i + 1}" for i in range(args.clients)]
    everyone_in = asyncio.Barrier(len(names))
    heard = await asyncio.gather(
        *(client(name, len(names) - 1, args.messages, everyone_in) for name in names))
    server.close()
    await server.wait_closed()
    for name, got in zip(names, heard, strict=True):
        expected = [f"{other}: message {i} of {args.messages}"
                    for other in names if other != name for i in range(1, args.messages + 1)]
        if sorted(got) != sorted(expected):
            sys.exit(f"error: {name} heard {sorted(got)}, expected {sorted(expected)}")
    print(f"all {len(names)} clients heard all {args.messages} lines of every other client")


if __name__ == "__main__":
    p = _common.parser(__doc__)
    p.add_argument("--clients", type=_common.count, default=3, help="--sim: default 3")
    p.add_argument("--messages", type=_common.count, default=2,
                   help="--sim: lines each client says (default 2)")
    _common.run(main, p)
