"""MCP conformance check with the official Python SDK against the real kernel.

Usage: mcp_client.py SERVER_COMMAND...   (e.g. xtask qemu --mcp --board raspi3b --image IMG)

Starts the server command as a stdio MCP server, initializes, lists tools, calls every
read-only tool (the SDK validates structuredContent against each outputSchema and raises
on a mismatch), checks an unknown tool and invalid arguments, reads a resource, and then,
on a second connection over raw pipes, sends a malformed line and checks the server keeps
answering. Prints one line per check; exits non-zero on the first failure.
"""

import asyncio
import json
import subprocess
import sys

import jsonschema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)


async def sdk_session(command):
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await asyncio.wait_for(session.initialize(), 120)
            check(init.server_info.name == "kingly-os", f"initialize: {init.server_info.name} {init.protocol_version}")
            tools = (await session.list_tools()).tools
            names = [t.name for t in tools]
            check({"system_info", "boot_timeline", "memory_stats", "log_read", "power_off"} <= set(names), f"tools/list: {names}")
            for tool in tools:
                check(tool.output_schema is not None, f"{tool.name} declares an outputSchema")
                if not tool.annotations or not tool.annotations.read_only_hint:
                    continue
                if tool.input_schema.get("required") or tool.input_schema.get("anyOf"):
                    continue  # needs arguments (test_echo, llm_generate); checked elsewhere
                result = await session.call_tool(tool.name, {})
                if result.is_error:
                    why = result.content[0].text if result.content else ""
                    expected = (
                        tool.name == "rng_read"
                        or (tool.name.startswith("llm_") and "no model loaded" in why)
                        or (tool.name.startswith("fs_") and "no usable SD card" in why)
                    )
                    check(expected, f"{tool.name} fails cleanly: {why}")
                    continue
                jsonschema.validate(result.structured_content, tool.output_schema)
                check(True, f"{tool.name} structuredContent validates")
            # llm_generate's schema says it needs `prompt` or `messages`; `{}` is invalid params.
            try:
                await session.call_tool("llm_generate", {})
                check(False, "llm_generate {} must be refused")
            except Exception as error:  # the SDK raises on a JSON-RPC error
                why = str(error)
                check("prompt" in why and "messages" in why, f"llm_generate {{}} -> invalid params: {why}")
            try:
                await session.call_tool("no_such_tool", {})
                check(False, "unknown tool must be an error")
            except MCPError as error:
                check(error.error.code == -32602, f"unknown tool -> {error.error.code}")
            try:
                await session.call_tool("log_read", {"lines": "ten"})
                check(False, "invalid arguments must be an error")
            except MCPError as error:
                check(error.error.code == -32602 and "lines" in error.error.message, f"invalid arguments -> {error.error.message}")
            log = await session.read_resource("kernel://log/3")
            check("INFO" in log.contents[0].text, "resources/read kernel://log/3")
            await session.send_ping()
            check(True, "ping")


def raw_malformed(command):
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        def ask(line):
            proc.stdin.write(line + b"\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        bad = ask(b'{"jsonrpc": "2.0", "id": 1, "method": ')
        check(bad.get("error", {}).get("code") == -32700, f"malformed line -> {bad}")
        pong = ask(b'{"jsonrpc":"2.0","id":2,"method":"ping"}')
        check(pong.get("result") == {} and pong.get("id") == 2, "server answers after a malformed line")
    finally:
        # Closing stdin ends the bridge, which stops QEMU; killing it would orphan QEMU.
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    command = sys.argv[1:]
    asyncio.run(sdk_session(command))
    raw_malformed(command)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
