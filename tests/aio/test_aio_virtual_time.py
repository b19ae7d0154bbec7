"""In the simulator the loop's clock is virtual: long waits pass at once, runs repeat."""

from __future__ import annotations

import asyncio
import socket
import time
import warnings

import pytest
from aio_helpers import CLIENT, SERVER, run_sim, states

import tcpstack.aio


def test_a_two_hour_sleep_takes_well_under_a_second() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(7200)
        return start, loop.time()

    (start, end), net = run_sim(main)
    assert start == 0.0 and end == pytest.approx(7200.0)
    assert net.real_waits == 0  # no wall-clock waiting (``tcpstack bench`` times it)
    assert net.network.now == pytest.approx(7200.0)


def test_keepalive_timeout_after_two_hours_idle_takes_well_under_a_second() -> None:
    """SO_KEEPALIVE with Linux's defaults: 7200 s idle, then 9 probes 75 s apart."""

    async def main() -> tuple[float, str]:
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(lambda r, w: None, SERVER, 80)
        reader, writer = await asyncio.open_connection(SERVER, 80)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        start = loop.time()
        try:
            await reader.read()  # the server's host vanishes at 1 s (outage)
        except TimeoutError as exc:
            return loop.time() - start, str(exc)
        finally:
            server.close()
        return loop.time() - start, "no error"

    (idle, message), net = run_sim(main, outage=(1.0, 100_000.0))
    assert net.real_waits == 0  # no wall-clock waiting (``tcpstack bench`` times it)
    assert idle == pytest.approx(7200 + 9 * 75, abs=2)
    assert message.endswith("(keepalive)")
    probes = [r for r in net.trace.select("timer_fired", host=CLIENT)
              if r.data.get("timer") == "keepalive"]
    assert len(probes) >= 9


def test_time_wait_passes_in_virtual_time() -> None:
    async def main() -> list[str]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()

        server = await asyncio.start_server(serve, SERVER, 80)
        _reader, writer = await asyncio.open_connection(SERVER, 80)
        conn = writer.get_extra_info("tcpstack_connection")
        writer.close()  # we close first: TIME-WAIT is ours
        await asyncio.sleep(1)
        during = conn.state.value
        await asyncio.sleep(300)  # past 2 MSL (240 s)
        server.close()
        return [during, conn.state.value]

    (during, after), net = run_sim(main)
    assert net.real_waits == 0
    assert (during, after) == ("TIME-WAIT", "CLOSED")
    assert states(net, CLIENT)[-2:] == ["TIME-WAIT", "CLOSED"]


def test_wait_for_times_out_in_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), timeout=3600)
        return loop.time()

    assert run_sim(main)[0] == pytest.approx(3600)


def _traced_run(seed: int) -> list[str]:
    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.read())
            writer.close()

        server = await asyncio.start_server(echo, SERVER, 7)
        reader, writer = await asyncio.open_connection(SERVER, 7)
        writer.write(bytes(range(256)) * 400)
        writer.write_eof()
        assert len(await reader.read()) == 102_400
        writer.close()
        server.close()

    _, net = run_sim(main, loss=0.05, reorder=0.05, seed=seed)
    return [r.to_json() for r in net.trace]


def test_same_seed_same_trace_other_seed_other_trace() -> None:
    first, again, other = _traced_run(5), _traced_run(5), _traced_run(6)
    assert first == again
    assert first != other


def test_a_program_waiting_on_nothing_is_told_it_deadlocked() -> None:
    async def main() -> None:
        await asyncio.Event().wait()  # nothing will ever set it

    with pytest.raises(tcpstack.aio.Deadlock, match="virtual time stands still"):
        run_sim(main)


def test_threads_run_in_real_time_while_virtual_time_stands_still() -> None:
    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        result = await loop.run_in_executor(None, lambda: (time.sleep(0.05), "done")[1])
        return result, loop.time() - before

    (result, passed), net = run_sim(main)
    assert result == "done" and passed == 0.0
    assert net.real_waits >= 1  # the loop waited for the thread in real time


def test_asyncio_runner_with_new_event_loop() -> None:
    net = tcpstack.aio.SimulatedNetwork([CLIENT, SERVER], delay=0.25)

    async def handshake_time() -> float:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, tcpstack.aio.TcpstackEventLoop)
        server = await asyncio.start_server(lambda r, w: None, SERVER, 80)
        start = loop.time()
        _r, writer = await asyncio.open_connection(SERVER, 80)
        took = loop.time() - start
        writer.close()
        server.close()
        return took

    with asyncio.Runner(loop_factory=lambda: tcpstack.aio.new_event_loop(net)) as runner:
        took = runner.run(handshake_time())
        again = runner.run(asyncio.sleep(10, result="later"))
    assert took == pytest.approx(0.5)  # one round trip: SYN out, SYN,ACK back
    assert again == "later"


def test_several_hosts_and_local_addr_pick_the_client_host() -> None:
    async def main() -> list[tuple[str, int]]:
        async def who(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(writer.get_extra_info("peername")[0].encode())
            writer.close()

        server = await asyncio.start_server(who, "192.0.2.3", 80)
        seen = []
        for local in (None, ("192.0.2.1", 0), ("192.0.2.2", 4321)):
            reader, writer = await asyncio.open_connection("192.0.2.3", 80, local_addr=local)
            seen.append((( await reader.read()).decode(), writer.get_extra_info("sockname")[1]))
            writer.close()
        server.close()
        return seen

    net = tcpstack.aio.SimulatedNetwork(["192.0.2.1", "192.0.2.2", "192.0.2.3"])
    seen = tcpstack.aio.run(main(), network=net)
    assert [host for host, _ in seen] == ["192.0.2.1", "192.0.2.1", "192.0.2.2"]
    assert seen[2][1] == 4321
    assert [h.name for h in net.hosts] == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]


def test_a_network_serves_one_loop_and_a_failed_start_leaves_nothing_behind() -> None:
    net = tcpstack.aio.SimulatedNetwork([CLIENT, SERVER])
    first = tcpstack.aio.new_event_loop(net)
    try:

        async def never() -> None:
            raise AssertionError("must not run")

        coro = never()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail
            with pytest.raises(RuntimeError, match="already serves"):
                tcpstack.aio.run(coro, network=net)
        assert coro.cr_frame is None  # closed, not left pending
        assert net.loop is first  # the first loop keeps its network
        assert first.run_until_complete(asyncio.sleep(60, result="still works")) == "still works"
    finally:
        first.close()
    assert net.loop is None
    assert tcpstack.aio.run(asyncio.sleep(1, result="free again"), network=net) == "free again"
