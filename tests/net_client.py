"""MCP over Streamable HTTP against the real kernel in QEMU, with the official Python SDK
as the client, plus raw-socket abuse and a bounded load run.

Usage: net_client.py URL TOKEN [--load-seconds N] [--clients N]

Prints one line per check and, at the end, the load figures as `load: ...`; exits non-zero
on the first failure.
"""

import asyncio
import json
import socket
import sys
import time
from urllib.parse import urlparse

import httpx2 as httpx
import jsonschema
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)


URL, TOKEN = sys.argv[1], sys.argv[2]
ARGS = sys.argv[3:]
LOAD_SECONDS = float(ARGS[ARGS.index("--load-seconds") + 1]) if "--load-seconds" in ARGS else 10.0
CLIENTS = int(ARGS[ARGS.index("--clients") + 1]) if "--clients" in ARGS else 4
READ_TOKEN = ARGS[ARGS.index("--read-token") + 1] if "--read-token" in ARGS else None
ONE_SHOT = int(ARGS[ARGS.index("--one-shot") + 1]) if "--one-shot" in ARGS else 1000
HOST, PORT = urlparse(URL).hostname, urlparse(URL).port
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}


async def sdk_checks():
    async with httpx.AsyncClient(headers=AUTH, timeout=120) as http:
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                check(init.server_info.name == "kingly-os", f"initialize over HTTP: {init.protocol_version}")
                tools = (await session.list_tools()).tools
                names = {t.name for t in tools}
                check({"system_info", "net_status", "llm_generate", "net_ping"} <= names, f"tools/list: {len(names)} tools")
                check("net_token" not in names, "the serial-only net_token is not listed over the network")
                schemas = {t.name: t.output_schema for t in tools}
                for name in ["system_info", "memory_stats", "net_status", "tasks_list"]:
                    result = await session.call_tool(name, {})
                    check(not result.is_error, f"{name} runs")
                    jsonschema.validate(result.structured_content, schemas[name])
                status = (await session.call_tool("net_status", {})).structured_content
                check(status["up"] and status["source"] == "dhcp" and status["address"].startswith("10.0.2.15"), f"net_status: {status['address']} ({status['source']})")
                ping = (await session.call_tool("net_ping", {"host": "10.0.2.2", "count": 2})).structured_content
                check(ping["received"] >= 1, f"net_ping 10.0.2.2: {ping['received']}/{ping['sent']}")
                progress = []

                async def on_progress(value, total, message):
                    progress.append(message or "")

                result = await session.call_tool("llm_generate", {"prompt": "how much memory is free\n", "max_tokens": 12}, progress_callback=on_progress)
                check(not result.is_error, "llm_generate runs over HTTP")
                generated = result.structured_content["generated_tokens"]
                check(len(progress) >= 2 and len(progress) >= generated - 1, f"llm_generate streamed {len(progress)} progress notifications for {generated} tokens")
                check("memory_stats" in result.structured_content["text"], f"generated: {result.structured_content['text']!r}")
                try:
                    await session.call_tool("net_token", {})
                    check(False, "net_token must not be callable remotely")
                except Exception as error:  # the SDK raises on the JSON-RPC error
                    check("net_token" in str(error) or "Unknown" in str(error) or "unknown" in str(error), f"net_token refused remotely: {error}")
                await session.send_ping()
                check(True, "ping")
                await secrets(session)


async def secrets(session):
    """The token is in no log line or resource; the settings file is the console's alone."""
    log = await session.call_tool("log_read", {})
    check(TOKEN not in json.dumps(log.model_dump()), "the token is not in log_read")
    resource = await session.read_resource("kernel://log")
    check(TOKEN not in json.dumps(resource.model_dump()), "the token is not in kernel://log")
    for tool, arguments in [("fs_read", {"path": "/kingly.txt"}), ("fs_write", {"path": "/KINGLY.TXT", "content": "net.token = mine\n", "confirm": True})]:
        result = await session.call_tool(tool, arguments)
        text = result.content[0].text if result.content else ""
        check(result.is_error and "serial console" in text, f"{tool} kingly.txt refused remotely: {text[:80]}")
    # The kernel's own records: a control token cannot erase its audit trail.
    for tool, arguments in [("fs_write", {"path": "/AUDIT.LOG", "content": "x", "confirm": True}), ("fs_read", {"path": "/crash.txt"}), ("fs_write", {"path": "/INTENTS.LOG", "content": "x", "mode": "append", "confirm": True})]:
        result = await session.call_tool(tool, arguments)
        text = result.content[0].text if result.content else ""
        check(result.is_error and "kernel's own records" in text, f"{tool} {arguments['path']} refused remotely: {text[:80]}")


async def confirmation():
    """Destructive tools ask the client's user (MCP elicitation) when the client can be
    asked: accepted -> runs, declined or dismissed -> does not; a client that cannot be asked
    is refused until it sends confirm: true."""
    asked = []
    answer = {"action": "accept", "content": {"confirm": True}}

    async def on_elicit(context, params):
        asked.append(params)
        return types.ElicitResult(action=answer["action"], content=answer.get("content"))

    async with httpx.AsyncClient(headers=AUTH, timeout=120) as http:
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write, elicitation_callback=on_elicit) as session:
                await session.initialize()
                schema = {t.name: t.input_schema for t in (await session.list_tools()).tools}["llm_load"]
                check(schema["properties"]["confirm"]["type"] == "boolean", "destructive tools declare the confirm argument")
                result = await session.call_tool("llm_load", {"model": "intent"})
                text = result.content[0].text if result.content else ""
                check(not result.is_error and len(asked) == 1, f"elicitation accepted -> llm_load ran ({len(asked)} question(s)): {text[:80]}")
                check("llm_load" in asked[0].message and asked[0].requested_schema["properties"]["confirm"]["type"] == "boolean", f"the question names the tool: {asked[0].message!r}")
                for action in ("decline", "cancel"):
                    answer.clear()
                    answer["action"] = action
                    result = await session.call_tool("llm_load", {"model": "intent"})
                    text = result.content[0].text if result.content else ""
                    check(result.is_error and "not run" in text, f"elicitation {action} -> not run: {text[:80]}")
                answer.update({"action": "accept", "content": {"confirm": False}})
                result = await session.call_tool("power_off", {})
                check(result.is_error and ping_ok(), f"accept with confirm=false -> power_off not run, the machine answers: {result.content[0].text[:60]}")
                # intent_run asks the same way before running a proposal that changes the machine.
                answer.update({"action": "decline"})
                result = await session.call_tool("intent_run", {"text": "reboot the machine"})
                outcome = result.structured_content or {}
                check(outcome.get("ran") is False and ping_ok(), f"intent_run 'reboot the machine' declined -> {outcome.get('status')}, still running")
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:  # no elicitation capability
                await session.initialize()
                before = len(asked)
                result = await session.call_tool("llm_load", {"model": "intent"})
                text = result.content[0].text if result.content else ""
                check(result.is_error and '"confirm": true' in text and len(asked) == before, f"a client that cannot be asked is refused without confirm: {text[:90]}")
                result = await session.call_tool("llm_load", {"model": "intent", "confirm": True})
                check(not result.is_error, "... and runs it with confirm: true")


def status_of(method, headers, body=None):
    response = httpx.request(method, URL, headers=headers, content=body, timeout=30)
    return response.status_code


def transport_rules():
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    ct = {"Content-Type": "application/json"}
    check(status_of("POST", ct, body) == 401, "no token -> 401")
    check(status_of("POST", {**ct, "Authorization": "Bearer wrong-token-wrong-token"}, body) == 401, "wrong token -> 401")
    check(status_of("POST", {**ct, **AUTH, "Origin": "http://evil.example"}, body) == 403, "foreign Origin -> 403")
    check(status_of("POST", {**ct, **AUTH, "MCP-Protocol-Version": "1999-01-01"}, body) == 400, "bad MCP-Protocol-Version -> 400")
    check(status_of("GET", AUTH) == 405, "GET -> 405")
    check(status_of("POST", {**AUTH, "Content-Type": "text/plain"}, body) == 415, "wrong Content-Type -> 415")
    r = httpx.post(URL, headers={**ct, **AUTH}, content=json.dumps(INIT), timeout=30)
    check(r.status_code == 200 and r.headers.get("mcp-session-id"), "initialize gives a session id")
    session = r.headers["mcp-session-id"]
    r = httpx.post(URL, headers={**ct, **AUTH, "Mcp-Session-Id": session}, content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), timeout=30)
    check(r.status_code == 202 and r.content == b"", "notification -> 202, no body")
    check(httpx.delete(URL, headers={**AUTH, "Mcp-Session-Id": session}, timeout=30).status_code == 204, "DELETE ends the session")
    r = httpx.post(URL, headers={**ct, **AUTH, "Mcp-Session-Id": session}, content=body, timeout=30)
    check(r.status_code == 404, "an ended session -> 404")


def raw(data, wait=2.0):
    """Sends bytes on a fresh connection; returns what came back before the server closed it or `wait` passed."""
    with socket.create_connection((HOST, PORT), timeout=30) as s:
        s.sendall(data)
        s.settimeout(wait)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def ping_ok():
    r = httpx.post(URL, headers={"Content-Type": "application/json", **AUTH}, content=json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ping"}), timeout=30)
    return r.status_code == 200 and r.json().get("result") == {}


def heap_used():
    """The kernel heap's used bytes, from memory_stats in a fresh session."""
    headers = {"Content-Type": "application/json", **AUTH}
    r = httpx.post(URL, headers=headers, content=json.dumps(INIT), timeout=30)
    session = r.headers.get("mcp-session-id")
    if session:
        headers["Mcp-Session-Id"] = session
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "memory_stats", "arguments": {}}}
    r = httpx.post(URL, headers=headers, content=json.dumps(call), timeout=30)
    used = r.json()["result"]["structuredContent"]["heap"]["used_bytes"]
    if session:
        httpx.request("DELETE", URL, headers=headers, timeout=30)
    return used


def one_shot(count):
    """`count` sequential requests, each on its own connection with `Connection: close` (as
    HTTP/1.0 clients and `curl -H 'Connection: close'` do): the server closes first, and a
    closed connection must not hold a listening slot through TIME_WAIT, so none is reset."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    head = (f"POST /mcp HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    answered, failed, started = 0, [], time.monotonic()
    for i in range(count):
        try:
            answer = raw(head + body, wait=10.0)
        except OSError as error:
            failed.append(f"#{i}: {error}")
            continue
        if answer.startswith(b"HTTP/1.1 200") and b'"result":{}' in answer:
            answered += 1
        else:
            failed.append(f"#{i}: {answer[:40]!r}")
    elapsed = time.monotonic() - started
    print(f"one-shot: {answered}/{count} answered in {elapsed:.1f} s", flush=True)
    check(not failed, f"{count} sequential Connection: close requests, none reset ({len(failed)} failed: {failed[:3]})")


STRANGERS = 32


def hostile():
    """A client that pipelines requests and never reads its answers, then more idle strangers
    than the server has connection slots (24): an authorised client is still served, p99
    under 1 s (the strangers idle longest are closed to keep slots listening)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "log_read", "arguments": {"lines": 2000}}}).encode()
    head = (f"POST /mcp HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    pipeliner = socket.create_connection((HOST, PORT), timeout=30)
    pipeliner.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    pipeliner.setblocking(False)
    queued = 0
    for _ in range(400):
        try:
            pipeliner.sendall(head + body)
            queued += 1
        except (BlockingIOError, OSError):
            break
    time.sleep(0.5)
    strangers = []
    for _ in range(STRANGERS):
        try:
            strangers.append(socket.create_connection((HOST, PORT), timeout=5))
        except OSError:
            pass
    time.sleep(0.5)
    latencies, failed = [], []
    with httpx.Client(headers={"Content-Type": "application/json", **AUTH}, timeout=30) as http:
        for i in range(40):
            started = time.perf_counter()
            try:
                r = http.post(URL, content=json.dumps({"jsonrpc": "2.0", "id": i, "method": "ping"}))
                if r.status_code != 200:
                    failed.append(f"#{i}: {r.status_code}")
            except httpx.HTTPError as error:
                failed.append(f"#{i}: {error!r}")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
    for s in strangers + [pipeliner]:
        s.close()
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2] * 1000, latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"hostile: pipeliner queued {queued} requests, {STRANGERS} idle strangers; authorised p50_ms={p50:.1f} p99_ms={p99:.1f}", flush=True)
    check(not failed and p99 < 1000, f"served beside a non-reading pipeliner and {STRANGERS} idle strangers: p99 {p99:.0f} ms, failed {failed[:3]}")
    time.sleep(1)


def abuse_round():
    check(raw(b"\x16\x03\x01garbage that is not http\r\n\r\n").startswith(b"HTTP/1.1 400"), "malformed request -> 400")
    big_head = b"POST /mcp HTTP/1.1\r\nX-Filler: " + b"a" * 20000 + b"\r\n\r\n"
    check(raw(big_head).startswith(b"HTTP/1.1 431"), "oversized headers -> 431")
    check(raw(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 104857600\r\n\r\n").startswith(b"HTTP/1.1 413"), "oversized body -> 413")
    check(raw(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n").startswith(b"HTTP/1.1 501"), "chunked body -> 501")
    check(raw(b"POST /mcp HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}").startswith(b"HTTP/1.1 400"), "no Host -> 400")
    check(raw(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n{}").startswith(b"HTTP/1.1 400"), "duplicate Content-Length -> 400")
    check(raw(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nContent-Length: 2\r\n\r\n{}").startswith(b"HTTP/1.1 400"), "duplicate Host -> 400")
    # A slow client holds a connection with half a request; others are served meanwhile,
    # and the slow one is answered 408 and closed.
    slow = socket.create_connection((HOST, PORT), timeout=30)
    slow.sendall(b"POST /mcp HTTP/1.1\r\nContent-Len")
    check(ping_ok(), "served while a slow client holds a connection")
    slow.settimeout(20)
    answer = b""
    try:
        while True:
            chunk = slow.recv(4096)
            if not chunk:
                break
            answer += chunk
    except socket.timeout:
        pass
    slow.close()
    check(answer.startswith(b"HTTP/1.1 408"), f"the slow client got 408 and was closed ({answer[:30]!r})")
    # Many connections at once (twice the slots): the server has 24 slots; the rest are refused or closed,
    # nothing hangs, and afterwards it serves again.
    sockets, refused = [], 0
    for _ in range(48):
        try:
            sockets.append(socket.create_connection((HOST, PORT), timeout=5))
        except OSError:
            refused += 1
    for s in sockets:
        s.close()
    time.sleep(1)
    check(ping_ok(), f"serves after 48 simultaneous connections ({refused} refused at connect)")


def abuse():
    # Two rounds; the second must not leave the heap much bigger than the first did. The
    # first rounds grow reusable pools (measured on virt: +12 KB, +11 KB, then +0 for four
    # more rounds); a leak per bad connection would be its buffers times the round's ~28
    # connections, well over the 32 KiB allowed.
    abuse_round()
    time.sleep(1)
    after_first = heap_used()
    abuse_round()
    time.sleep(1)
    after_second = heap_used()
    check(after_second - after_first <= 32 * 1024, f"no leak: heap used {after_first} bytes after the first abuse round, {after_second} after the second")


async def load():
    latencies, failures = [], 0
    deadline = time.monotonic() + LOAD_SECONDS

    async def worker(n):
        nonlocal failures
        async with httpx.AsyncClient(headers={"Content-Type": "application/json", **AUTH}, timeout=30) as http:
            r = await http.post(URL, content=json.dumps(INIT))
            session = r.headers.get("mcp-session-id")
            headers = {"Mcp-Session-Id": session} if session else {}
            i = 0
            while time.monotonic() < deadline:
                i += 1
                body = {"jsonrpc": "2.0", "id": i, "method": "ping"} if i % 2 else {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "memory_stats", "arguments": {}}}
                started = time.perf_counter()
                try:
                    r = await http.post(URL, content=json.dumps(body), headers=headers)
                    ok = r.status_code == 200 and "error" not in r.json()
                except Exception:
                    ok = False
                latencies.append(time.perf_counter() - started)
                failures += 0 if ok else 1

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(CLIENTS)))
    elapsed = time.monotonic() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"load: clients={CLIENTS} seconds={elapsed:.1f} requests={len(latencies)} rps={len(latencies) / elapsed:.1f} p50_ms={p50:.2f} p99_ms={p99:.2f} failed={failures}", flush=True)
    check(failures == 0, f"{len(latencies)} requests from {CLIENTS} clients, none failed")


def read_role():
    """The read token: reads (a session, tools/list, a read-only tool, a resource) but a tool
    that changes the machine is 403 insufficient_scope naming the control scope, and the
    machine keeps running."""
    read = {"Content-Type": "application/json", "Authorization": f"Bearer {READ_TOKEN}"}
    r = httpx.post(URL, headers=read, content=json.dumps(INIT), timeout=30)
    check(r.status_code == 200 and "mcp-session-id" in r.headers, f"read token initializes: {r.status_code}")
    session = {**read, "Mcp-Session-Id": r.headers.get("mcp-session-id", "")}
    call = lambda name, i: json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": {}}})
    r = httpx.post(URL, headers=session, content=call("memory_stats", 2), timeout=30)
    check(r.status_code == 200 and r.json()["result"]["isError"] is False, f"read token runs memory_stats: {r.text[:120]}")
    r = httpx.post(URL, headers=session, content=json.dumps({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "kernel://log/5"}}), timeout=30)
    check(r.status_code == 200 and "result" in r.json(), "read token reads a resource")
    for name in ("power_off", "power_reboot", "fs_write", "llm_load", "intent_run", "tool_install", "tool_remove"):
        r = httpx.post(URL, headers=session, content=call(name, 4), timeout=30)
        challenge = r.headers.get("www-authenticate", "")
        check(r.status_code == 403 and 'error="insufficient_scope"' in challenge and 'scope="control"' in challenge,
              f"read token calling {name} -> 403 insufficient_scope ({r.status_code}, {challenge})")
        check("control role" in r.json().get("error", {}).get("message", ""), f"{name}: the error names the role: {r.text[:160]}")
    check(ping_ok(), "the machine keeps running after the refused calls")
    # The audit trail: the control role reads who was refused what; the read role may not.
    read_audit = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "resources/read", "params": {"uri": "kernel://audit"}})
    r = httpx.post(URL, headers=session, content=read_audit, timeout=30)
    check("error" in r.json() and "control role" in r.json()["error"]["message"], f"read token cannot read kernel://audit: {r.text[:120]}")
    control = {"Content-Type": "application/json", **AUTH}
    r = httpx.post(URL, headers=control, content=json.dumps(INIT), timeout=30)
    control["Mcp-Session-Id"] = r.headers.get("mcp-session-id", "")
    r = httpx.post(URL, headers=control, content=read_audit, timeout=30)
    trail = json.loads(r.json()["result"]["contents"][0]["text"])["entries"]
    refused = [e for e in trail if e.get("result") == "forbidden" and e.get("role") == "read"]
    check({e["tool"] for e in refused} >= {"power_off", "fs_write"}, f"kernel://audit records the refused calls: {len(refused)}")
    ran = [e for e in trail if e.get("tool") == "memory_stats" and e.get("role") == "read" and e.get("result") == "ok"]
    check(ran and ran[-1]["peer"].startswith("10.0.2.") and len(ran[-1]["arguments_digest"]) == 16, f"kernel://audit records who ran memory_stats: {ran[-1:]}")
    check(not any(TOKEN in json.dumps(e) or READ_TOKEN in json.dumps(e) for e in trail), "no token in the audit trail")


def power_off():
    """power_off over HTTP: answered, then the machine is off within a second (QEMU exits,
    so its forwarded port stops accepting)."""
    r = httpx.post(URL, headers={"Content-Type": "application/json", **AUTH}, content=json.dumps(INIT), timeout=30)
    session = {"Mcp-Session-Id": r.headers["mcp-session-id"], "Content-Type": "application/json", **AUTH}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "power_off", "arguments": {"confirm": True}}}
    r = httpx.post(URL, headers=session, content=json.dumps(call), timeout=30)
    answered = time.monotonic()
    check(r.status_code == 200 and "result" in r.json(), f"power_off answered: {r.text[:100]}")
    while time.monotonic() - answered < 5:
        try:
            socket.create_connection((HOST, PORT), timeout=1).close()
        except OSError:
            break
        time.sleep(0.05)
    gone = time.monotonic() - answered
    check(gone < 1.0, f"the machine is off {gone * 1000:.0f} ms after answering power_off")


def main():
    asyncio.run(sdk_checks())
    asyncio.run(confirmation())
    transport_rules()
    one_shot(ONE_SHOT)
    hostile()
    abuse()
    asyncio.run(load())
    if READ_TOKEN:
        read_role()
    if "--power-off" in ARGS:
        power_off()
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
