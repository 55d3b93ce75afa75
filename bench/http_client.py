"""A small HTTP/1.1 keep-alive load generator on asyncio streams (loopback only)."""

import asyncio
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]


def post_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _client(host: str, port: int, message: bytes, stop_at: float, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(message)
            try:
                status, _ = await read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
                continue
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            if status != 200:
                result.errors += 1
    finally:
        writer.close()


async def _load(host: str, port: int, message: bytes, clients: int, seconds: float) -> LoadResult:
    result = LoadResult(0, 0, 0.0, [])
    started = time.perf_counter()
    await asyncio.gather(*(_client(host, port, message, started + seconds, result) for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


def load(host: str, port: int, path: str, body: bytes, clients: int, seconds: float) -> LoadResult:
    """`clients` keep-alive connections, each sending the next request when the last answered."""
    return asyncio.run(_load(host, port, post_bytes(host, port, path, body), clients, seconds))
