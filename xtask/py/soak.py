"""The network side of `cargo xtask soak`: for SECONDS, mixed MCP over Streamable HTTP from
several sessions (ping, tools/list, memory_stats, a log resource), a generation running
(`llm_generate` streamed, again and again), and hostile clients beside them (idle strangers,
malformed requests, a client that pipelines without reading, a slow sender). Heap use is
read after a warm-up (a tenth of the run) and at the end. Prints one JSON line.

Usage: soak.py URL TOKEN SECONDS
"""

import asyncio
import json
import socket
import sys
import time
from urllib.parse import urlparse

import httpx2 as httpx

URL, TOKEN, SECONDS = sys.argv[1], sys.argv[2], float(sys.argv[3])
HOST, PORT = urlparse(URL).hostname, urlparse(URL).port
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Authorization": f"Bearer {TOKEN}"}
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}}}

latencies = []
errors = []
counts = {"requests": 0, "generations": 0, "hostile_connections": 0}


async def session(http):
    r = await http.post(URL, content=json.dumps(INIT))
    headers = {"Mcp-Session-Id": r.headers["mcp-session-id"]} if r.headers.get("mcp-session-id") else {}
    await http.post(URL, content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), headers=headers)
    return headers


async def heap_used(http, headers):
    body = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "memory_stats", "arguments": {}}}
    r = await http.post(URL, content=json.dumps(body), headers=headers)
    return r.json()["result"]["structuredContent"]["heap"]["used_bytes"]


async def client(n, deadline):
    requests = [
        {"method": "ping"},
        {"method": "tools/list"},
        {"method": "tools/call", "params": {"name": "memory_stats", "arguments": {}}},
        {"method": "resources/read", "params": {"uri": "kernel://log/20"}},
    ]
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as http:
        headers = await session(http)
        i = 0
        while time.monotonic() < deadline:
            i += 1
            body = {"jsonrpc": "2.0", "id": i, **requests[(i + n) % len(requests)]}
            started = time.perf_counter()
            try:
                r = await http.post(URL, content=json.dumps(body), headers=headers)
                answer = r.json()
                if r.status_code != 200 or "error" in answer or answer.get("result", {}).get("isError"):
                    errors.append(f"{body['method']}: {r.status_code} {r.text[:120]}")
            except Exception as error:
                errors.append(f"{body['method']}: {error!r}")
            latencies.append(time.perf_counter() - started)
            counts["requests"] += 1
            await asyncio.sleep(0.01)


async def generator(deadline):
    async with httpx.AsyncClient(headers=HEADERS, timeout=120) as http:
        headers = await session(http)
        i = 0
        while time.monotonic() < deadline:
            i += 1
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": "llm_generate", "arguments": {"prompt": "what is the memory use", "max_tokens": 32}, "_meta": {"progressToken": i}}}
            try:
                r = await http.post(URL, content=json.dumps(body), headers=headers)
                if r.status_code != 200 or b'"result"' not in r.content:
                    errors.append(f"llm_generate: {r.status_code} {r.text[:120]}")
                counts["generations"] += 1
            except Exception as error:
                errors.append(f"llm_generate: {error!r}")


def hostile_round():
    """One round of the hostile clients; each closes its own sockets."""
    strangers = []
    for _ in range(8):
        try:
            strangers.append(socket.create_connection((HOST, PORT), timeout=5))
        except OSError:
            pass
    for payload in [b"\x16\x03\x01not http at all\r\n\r\n", b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\n{}"]:
        try:
            with socket.create_connection((HOST, PORT), timeout=5) as s:
                s.sendall(payload)
                s.settimeout(2)
                s.recv(1024)
        except OSError:
            pass
    pipeliner = None
    try:
        pipeliner = socket.create_connection((HOST, PORT), timeout=5)
        pipeliner.setblocking(False)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "log_read", "arguments": {"lines": 500}}}).encode()
        head = f"POST /mcp HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        for _ in range(50):
            pipeliner.send(head + body)
    except OSError:
        pass
    slow = None
    try:
        slow = socket.create_connection((HOST, PORT), timeout=5)
        slow.sendall(b"POST /mcp HTTP/1.1\r\nContent-Le")
    except OSError:
        pass
    time.sleep(3)
    for s in strangers + [pipeliner, slow]:
        if s is not None:
            s.close()
    counts["hostile_connections"] += len(strangers) + 4


async def hostile(deadline):
    while time.monotonic() < deadline:
        await asyncio.to_thread(hostile_round)
        await asyncio.sleep(2)


async def main():
    start = time.monotonic()
    deadline = start + SECONDS
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as http:
        headers = await session(http)
        tasks = [asyncio.create_task(c) for c in [client(n, deadline) for n in range(3)] + [generator(deadline), hostile(deadline)]]
        await asyncio.sleep(SECONDS / 10)
        heap_before = await heap_used(http, headers)
        await asyncio.gather(*tasks)
        await asyncio.sleep(1)
        heap_after = await heap_used(http, headers)
    latencies.sort()
    n = len(latencies)
    print(json.dumps({
        "seconds": time.monotonic() - start,
        "requests": counts["requests"],
        "generations": counts["generations"],
        "hostile_connections": counts["hostile_connections"],
        "errors": len(errors),
        "first_errors": errors[:5],
        "p50_ms": latencies[n // 2] * 1000 if n else 0,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0,
        "heap_before": heap_before,
        "heap_after": heap_after,
    }), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
