"""Load for `cargo xtask bench net`: CLIENTS concurrent MCP sessions over Streamable HTTP
for SECONDS, each alternating nothing but one kind of request (`ping` or a `memory_stats`
tools/call). Prints one JSON line: requests, requests/s, p50/p99 latency in ms, failures.

Usage: net_load.py URL TOKEN|- ping|call CLIENTS SECONDS
"""

import asyncio
import json
import sys
import time

import httpx2 as httpx

URL, TOKEN, KIND, CLIENTS, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
if TOKEN != "-":
    HEADERS["Authorization"] = f"Bearer {TOKEN}"
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}


async def main():
    latencies, failures = [], 0
    deadline = time.monotonic() + SECONDS

    async def worker():
        nonlocal failures
        async with httpx.AsyncClient(headers=HEADERS, timeout=30) as http:
            r = await http.post(URL, content=json.dumps(INIT))
            headers = {}
            if r.headers.get("mcp-session-id"):
                headers["Mcp-Session-Id"] = r.headers["mcp-session-id"]
            await http.post(URL, content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), headers=headers)
            i = 0
            while time.monotonic() < deadline:
                i += 1
                if KIND == "ping":
                    body = {"jsonrpc": "2.0", "id": i, "method": "ping"}
                else:
                    body = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "memory_stats", "arguments": {}}}
                started = time.perf_counter()
                try:
                    r = await http.post(URL, content=json.dumps(body), headers=headers)
                    ok = r.status_code == 200 and "error" not in r.json()
                except Exception:
                    ok = False
                latencies.append(time.perf_counter() - started)
                failures += 0 if ok else 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    elapsed = time.monotonic() - started
    latencies.sort()
    n = len(latencies)
    print(json.dumps({
        "requests": n,
        "rps": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000 if n else 0,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0,
        "failed": failures,
    }), flush=True)


asyncio.run(main())
