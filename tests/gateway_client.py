"""The fleet gateway (`cargo xtask fleet`) through the official Python MCP SDK: one stdio
MCP endpoint in front of the boards on the broker, tools namespaced by board.

Usage: gateway_client.py XTASK BROKER_URL USER PASSWORD BOARDS
The guests fleet/board1..N are up; the test that runs this script kills and starts guest N
on request (`do: kill N`, `do: start N`, answered with `done` on stdin).
Prints one line per check and `figure: ...` lines; exits non-zero on a failure.
"""

import asyncio
import secrets
import socket
import sys
import time

import httpx2 as httpx
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from fleet_driver import ask_driver, check

XTASK, BROKER, USER, PASSWORD, BOARDS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
EXPECTED = [f"board{i}" for i in range(1, BOARDS + 1)]


class Heard:
    def __init__(self):
        self.changed = 0

    async def __call__(self, message):
        notification = getattr(message, "root", message)
        if isinstance(notification, types.ToolListChangedNotification):
            self.changed += 1


async def boards_with_tools(session):
    names = [t.name for t in (await session.list_tools()).tools]
    return sorted({n.split("__", 1)[0] for n in names if "__" in n}), names


async def wait_boards(session, wanted, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        boards, names = await boards_with_tools(session)
        if boards == wanted:
            return names
        await asyncio.sleep(0.2)
    check(False, f"boards {wanted} in tools/list (have {boards})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def over_http(url, token):
    """The same gateway over Streamable HTTP with its bearer token."""
    response = httpx.post(url, headers={"Authorization": "Bearer wrong-token-0123456789",
                                        "Content-Type": "application/json", "Accept": "application/json"},
                          content=b'{"jsonrpc":"2.0","id":1,"method":"ping"}', timeout=30)
    check(response.status_code == 401, f"HTTP without the gateway's token: {response.status_code}")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        async with streamable_http_client(url, http_client=client) as (read, write, *_):
            heard = Heard()
            async with ClientSession(read, write, message_handler=heard) as session:
                init = await asyncio.wait_for(session.initialize(), 60)
                check(init.server_info.name == "kingly-fleet", "the gateway over HTTP (Python SDK streamable_http_client)")
                boards, _ = await boards_with_tools(session)
                check(boards == EXPECTED, f"HTTP tools/list has every board: {boards}")
                result = await session.call_tool("board2__memory_stats", {})
                check(not result.is_error and result.structured_content, "board2__memory_stats over HTTP")
                # List changes reach an HTTP client on its event stream.
                await asyncio.sleep(0.5)  # the SDK opens its GET stream after initialize
                before = heard.changed
                ask_driver(f"kill {BOARDS}")
                deadline = time.monotonic() + 30
                while heard.changed <= before and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                check(heard.changed > before, "list_changed on the HTTP event stream when a board left")
                ask_driver(f"start {BOARDS}")
                await wait_boards(session, EXPECTED)


async def main():
    heard = Heard()
    http_port, token = free_port(), secrets.token_hex(16)
    server = StdioServerParameters(command=XTASK, args=["fleet", "--broker", BROKER, "--username", USER,
                                                        "--password", PASSWORD, "--filter", "fleet/#",
                                                        "--http", str(http_port), "--token", token])
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, message_handler=heard) as session:
            started = time.monotonic()
            init = await asyncio.wait_for(session.initialize(), 60)
            check(init.server_info.name == "kingly-fleet" and init.capabilities.tools.list_changed,
                  "the gateway initializes and announces tools.listChanged")
            names = await wait_boards(session, EXPECTED)
            took = time.monotonic() - started
            print(f"figure: gateway found and listed {BOARDS} boards in {took:.2f} s ({BOARDS / took:.1f} boards/s)",
                  flush=True)
            check({"fleet_list", "fleet_call", "board1__memory_stats", "board2__net_status"} <= set(names),
                  f"tools are namespaced by board ({len(names)} tools)")

            listed = (await session.call_tool("fleet_list", {})).structured_content["boards"]
            online = sorted(b["board"] for b in listed if b["online"])
            check(online == EXPECTED, f"fleet_list: {online}")
            check(all(b["kind"] == "virt" and (b["uptime_s"] or 0) > 0 for b in listed),
                  f"fleet_list has each board's kind and uptime: {[(b['board'], b['kind'], b['uptime_s']) for b in listed]}")

            for board in EXPECTED:
                result = await session.call_tool(f"{board}__net_status", {})
                name = result.structured_content.get("mqtt", {}).get("server_name")
                check(not result.is_error and name == f"fleet/{board}", f"{board}__net_status ran on {name}")

            fan = (await session.call_tool("fleet_call", {"tool": "memory_stats"})).structured_content
            check(sorted(fan["boards"]) == EXPECTED and all("structuredContent" in r for r in fan["boards"].values()),
                  f"fleet_call memory_stats on every board: {sorted(fan['boards'])}")
            refused = await session.call_tool("fleet_call", {"tool": "power_reboot", "arguments": {}})
            check(refused.is_error and "changes the machine" in refused.content[0].text,
                  f"fleet_call refuses a tool that changes the machine: {refused.content[0].text[:100]}")
            missing = await session.call_tool("fleet_call", {"tool": "no_such_tool"})
            check(missing.is_error, "fleet_call of a tool no board has is an error")

            # Each board's own role holds through the gateway: board1 gives MQTT the control
            # role, board2 the read role.
            changed = await session.call_tool("board1__test_hold", {"leave_kib": 0})
            check(not changed.is_error, f"board1 (control role) runs a tool that changes it: {changed.structured_content}")
            try:
                result = await session.call_tool("board2__test_hold", {"leave_kib": 0})
                text = result.content[0].text if result.content else ""
                check(result.is_error and "control" in text, f"board2 (read role) refuses it: {text[:100]}")
            except MCPError as error:
                check("control" in error.message, f"board2 (read role) refuses it: {error.message[:100]}")
            try:
                await session.call_tool("nosuch__memory_stats", {})
                check(False, "an unknown board must be an error")
            except MCPError as error:
                check("no board" in error.message, f"an unknown board: {error.message}")

            times = []
            for _ in range(20):
                t = time.monotonic()
                result = await session.call_tool("board1__memory_stats", {})
                times.append(time.monotonic() - t)
            times.sort()
            check(not result.is_error, "board1__memory_stats through the gateway")
            print(f"figure: board1__memory_stats through the gateway (stdio, broker, board), median of 20 "
                  f"{times[10] * 1000:.1f} ms", flush=True)

            last = EXPECTED[-1]
            before = heard.changed
            ask_driver(f"kill {BOARDS}")
            await wait_boards(session, EXPECTED[:-1])
            check(heard.changed > before, f"notifications/tools/list_changed when {last} went offline")
            listed = (await session.call_tool("fleet_list", {})).structured_content["boards"]
            check([b["online"] for b in listed if b["board"] == last] == [False], f"fleet_list shows {last} offline")
            before = heard.changed
            ask_driver(f"start {BOARDS}")
            await wait_boards(session, EXPECTED)
            check(heard.changed > before, f"list_changed when {last} came back")
            result = await session.call_tool(f"{last}__memory_stats", {})
            check(not result.is_error, f"{last}__memory_stats after it came back")

            # The broker restarts: the gateway reconnects and finds every board again.
            before = heard.changed
            ask_driver("restart-broker")
            t = time.monotonic()
            deadline = t + 90
            while heard.changed < before + 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            check(heard.changed >= before + 2, "list_changed as the broker went and the boards came back")
            await wait_boards(session, EXPECTED)
            print(f"figure: gateway had every board again {time.monotonic() - t:.2f} s after the broker restarted",
                  flush=True)
            result = await session.call_tool("board2__memory_stats", {})
            check(not result.is_error, "board2__memory_stats after the broker restart")

            # A power action over MQTT runs after its answer: board1 (control role) reboots,
            # leaves the fleet and comes back under a new server id.
            old_id = [b["server_id"] for b in (await session.call_tool("fleet_list", {})).structured_content["boards"]
                      if b["board"] == "board1"]
            result = await session.call_tool("board1__power_reboot", {"confirm": True})
            check(not result.is_error and result.structured_content.get("action") == "reboot",
                  f"board1__power_reboot answered: {result.structured_content}")
            await wait_boards(session, EXPECTED[1:], 60)
            await wait_boards(session, EXPECTED, 90)
            new_id = [b["server_id"] for b in (await session.call_tool("fleet_list", {})).structured_content["boards"]
                      if b["board"] == "board1" and b["online"]]
            check(len(new_id) == 1 and new_id != old_id, f"board1 rebooted and came back as {new_id} (was {old_id})")
            await over_http(f"http://127.0.0.1:{http_port}/mcp", token)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
