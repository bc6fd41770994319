"""Installed WebAssembly tools through the official Python MCP SDK, against the real kernel
in QEMU with an SD card: install `blink` over MCP, hear notifications/tools/list_changed,
see it in tools/list, call it (GPIO in the emulated SoC), boot again from the same card and
call it again, remove it, boot again and find it gone.

Usage: wasm_tools_client.py XTASK IMAGE CARD BLINK_INSTALL_JSON
Prints one line per check and the figures as `figure: ...`; exits non-zero on a failure.
"""

import asyncio
import json
import sys
import time

import jsonschema
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

XTASK, IMAGE, CARD, INSTALL = sys.argv[1:5]


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)


class Heard:
    """Notifications the server sent."""

    def __init__(self):
        self.changed = 0
        self.event = asyncio.Event()

    async def __call__(self, message):
        notification = getattr(message, "root", message)  # SDK 1.x wraps it, 2.x does not
        if isinstance(notification, types.ToolListChangedNotification):
            self.changed += 1
            self.event.set()

    async def wait(self, before, seconds=30):
        deadline = time.monotonic() + seconds
        while self.changed <= before and time.monotonic() < deadline:
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                pass
        return self.changed > before


async def all_tools(session):
    """Every page of tools/list."""
    tools, cursor = [], None
    while True:
        page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


def server():
    return StdioServerParameters(command=XTASK, args=["qemu", "--mcp", "--board", "raspi3b", "--image", IMAGE, "--card", CARD])


async def wait_services(session):
    for _ in range(200):
        info = await session.call_tool("storage_info", {})
        if not info.is_error and info.structured_content.get("present"):
            return
        await asyncio.sleep(0.1)
    check(False, "the card came up")


async def first_boot(install):
    heard = Heard()
    async with stdio_client(server()) as (read, write):
        async with ClientSession(read, write, message_handler=heard) as session:
            init = await asyncio.wait_for(session.initialize(), 120)
            check(init.capabilities.tools.list_changed is True, "the server announces tools.listChanged")
            await wait_services(session)
            names = {t.name for t in (await all_tools(session))}
            check("blink" not in names and {"tool_install", "tool_remove", "tool_list_installed"} <= names, "blink is not installed yet; the install tools are listed")
            # Without confirmation a destructive tool is refused (this client cannot be asked).
            refused = await session.call_tool("tool_install", install)
            check(refused.is_error and "confirm" in refused.content[0].text, f"tool_install asks first: {refused.content[0].text[:80]}")
            before = heard.changed
            started = time.monotonic()
            result = await session.call_tool("tool_install", {**install, "confirm": True})
            check(not result.is_error, f"tool_install: {result.content[0].text[:160]}")
            out = result.structured_content
            check(out["name"] == "blink" and out["persisted"] is True and out["file"].startswith("/TOOL"), f"installed and kept on the card as {out['file']}")
            check(set(out["imports"]) == {"args_read", "result", "fail", "now_us", "sleep_ms", "gpio_write", "gpio_read"}, f"imports {out['imports']}")
            check(await heard.wait(before), "notifications/tools/list_changed arrived")
            tools = {t.name: t for t in (await all_tools(session))}
            callable_s = time.monotonic() - started
            check("blink" in tools, "tools/list shows blink at once")
            blink = tools["blink"]
            check(blink.input_schema["properties"]["pin"]["enum"] == [17, 27] and blink.annotations.read_only_hint is False, "blink's schema and annotations come from its manifest")
            print(f"figure: install to callable {callable_s * 1000:.0f} ms over the stdio bridge (kernel install_us {out['install_us']})", flush=True)
            called = await session.call_tool("blink", {"pin": 17, "times": 2, "on_ms": 20})
            check(not called.is_error, f"blink runs: {called.content[0].text[:120]}")
            jsonschema.validate(called.structured_content, blink.output_schema)
            answer = called.structured_content
            check(answer["pin"] == 17 and answer["times"] == 2 and answer["level"] is False and answer["took_ms"] >= 70, f"blink blinked pin 17 twice and left it low: {answer}")
            pin = (await session.call_tool("gpio_read", {"pin": 17})).structured_content
            check(pin["value"] is False and pin["mode"] == "output", f"GPIO 17 is an output, low, in the emulated SoC: {pin}")
            try:
                await session.call_tool("blink", {"pin": 18})
                check(False, "pin 18 must be refused")
            except MCPError as error:
                check(error.code == -32602 and "17, 27" in error.message, f"pin 18 is outside blink's schema: {error.message}")
            listed = (await session.call_tool("tool_list_installed", {})).structured_content
            check([t["name"] for t in listed["tools"]] == ["blink"] and listed["tools"][0]["calls"] >= 1, f"tool_list_installed: {listed['tools'][0]['reach']}")
            again = await session.call_tool("tool_install", {**install, "confirm": True})
            check(again.is_error and "installed already" in again.content[0].text, "a second install of the same name is refused without replace")


async def second_boot():
    heard = Heard()
    async with stdio_client(server()) as (read, write):
        async with ClientSession(read, write, message_handler=heard) as session:
            await asyncio.wait_for(session.initialize(), 120)
            await wait_services(session)
            for _ in range(100):
                names = {t.name for t in (await all_tools(session))}
                if "blink" in names:
                    break
                await asyncio.sleep(0.1)
            check("blink" in names, "after a reboot blink is back from the card")
            called = await session.call_tool("blink", {"times": 1, "on_ms": 10})
            check(not called.is_error and called.structured_content["pin"] == 17, f"and runs: {called.structured_content}")
            before = heard.changed
            removed = await session.call_tool("tool_remove", {"name": "blink", "confirm": True})
            check(not removed.is_error and removed.structured_content["file_deleted"] is True, f"tool_remove: {removed.content[0].text}")
            check(await heard.wait(before), "list_changed after the removal")
            names = {t.name for t in (await all_tools(session))}
            check("blink" not in names, "blink is gone from tools/list")
            try:
                await session.call_tool("blink", {})
                check(False, "a removed tool must not run")
            except MCPError as error:
                check("Unknown tool" in error.message, f"calling it now fails: {error.message}")
            builtin = await session.call_tool("tool_remove", {"name": "system_info", "confirm": True})
            check(builtin.is_error and "built in" in builtin.content[0].text, "a built-in tool cannot be removed")


async def third_boot():
    async with stdio_client(server()) as (read, write):
        async with ClientSession(read, write) as session:
            await asyncio.wait_for(session.initialize(), 120)
            await wait_services(session)
            await asyncio.sleep(1)
            names = {t.name for t in (await all_tools(session))}
            check("blink" not in names, "after another reboot it stays removed")


async def main():
    install = json.load(open(INSTALL))
    await first_boot(install)
    await second_boot()
    await third_boot()
    print("all checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
