"""The closed-loop load generator and its HTTP client, against in-process fakes (no timing checks)."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.http_client import HttpConnection
from benchmarks.loadgen import closed_loop


def test_closed_loop_counts_answers_and_errors_and_opens_the_window_once() -> None:
    opened: list[int] = []
    answered: list[int] = []

    async def ok(index: int) -> None:
        await asyncio.sleep(0.001)

    async def failing(index: int) -> None:
        await asyncio.sleep(0.001)
        raise RuntimeError("boom")

    async def mark() -> None:
        opened.append(1)

    result = asyncio.run(
        closed_loop(
            [ok, ok, failing],
            duration_s=0.05,
            warmup_s=0.01,
            on_measure_start=mark,
            on_answer=lambda: answered.append(1),
        )
    )
    assert opened == [1]
    assert result.latencies_s
    assert all(latency > 0 for latency in result.latencies_s)
    assert result.errors > 0
    assert result.error_samples[0] == "RuntimeError: boom"
    assert len(answered) >= len(result.latencies_s)
    assert result.elapsed_s > 0


async def _serve(responses: list[bytes]) -> tuple[asyncio.Server, list[bytes]]:
    """A server that answers each request with the next canned response, keeping the connection."""
    received: list[bytes] = []
    answers = iter(responses)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            received.append(head + await reader.readexactly(length))
            writer.write(next(answers))
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), received


def test_http_connection_reads_sized_and_chunked_answers_on_one_connection() -> None:
    async def scenario() -> None:
        server, received = await _serve(
            [
                b'HTTP/1.1 202 Accepted\r\ncontent-length: 14\r\n\r\n{"job_id":"a"}',
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n",
            ]
        )
        port = server.sockets[0].getsockname()[1]
        async with server, HttpConnection("127.0.0.1", port) as connection:
            assert await connection.request("POST", "/v1/jobs", b'{"x":1}') == (202, b'{"job_id":"a"}')
            assert await connection.request("GET", "/v1/jobs/a") == (200, b"abcdef")
        assert received[0].startswith(b"POST /v1/jobs HTTP/1.1\r\n")
        assert received[0].endswith(b'\r\n\r\n{"x":1}')
        assert b"content-type: application/json" in received[0].lower()
        assert received[1].startswith(b"GET /v1/jobs/a HTTP/1.1\r\n")

    asyncio.run(scenario())


def test_http_connection_reports_connection_failures() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(OSError):
            await HttpConnection("127.0.0.1", port).request("GET", "/")

    asyncio.run(scenario())
