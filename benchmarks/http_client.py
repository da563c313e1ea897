"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the load generator.

One connection per closed-loop user. It does only what the benchmark sends (JSON POST and
GET, ``Content-Length`` or chunked answers), at a fraction of httpx's CPU per request: on a
small machine the load generator shares the cores with the servers it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

_HEADERS_LIMIT_BYTES = 64 * 1024


class HttpError(Exception):
    """The server answered something this client does not understand, or closed the connection."""


class HttpConnection:
    """One persistent connection to ``host:port``; requests on it are sequential."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        """Send one request; return the status and the body. Reconnects once if the server closed."""
        try:
            return await self._exchange(method, path, body, content_type)
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            return await self._exchange(method, path, body, content_type)

    async def _exchange(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=_HEADERS_LIMIT_BYTES
            )
        assert self._reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += f"Content-Type: {content_type}\r\n"
        self._writer.write(head.encode() + b"\r\n" + body)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            payload = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            payload = await self._read_chunked()
        else:
            raise HttpError(f"answer to {method} {path} has neither Content-Length nor chunked encoding")
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, payload

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self._reader.readexactly(size + 2)
            if size == 0:
                return b"".join(parts)
            parts.append(chunk[:-2])

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def __aenter__(self) -> HttpConnection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
