"""The official Python SDK as the client of the MCP core running as a host stdio server
(`xtask mcp-stdio`, the process `cargo xtask bench mcp` measures against the SDK servers).

Usage: mcp_stdio_core.py XTASK

Checks the typed tool (`add`) and the schema-checked one (`add_checked`) answer alike, that
arguments the type refuses get the schema's message, and that the server keeps serving.
Prints one line per check; exits non-zero on the first failure.
"""

import asyncio
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)


async def main(xtask):
    params = StdioServerParameters(command=xtask, args=["mcp-stdio"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await asyncio.wait_for(session.initialize(), 60)
            check(init.server_info.name == "kingly-bench", f"initialize: {init.server_info.name} {init.protocol_version}")
            tools = {t.name: t for t in (await session.list_tools()).tools}
            check({"add", "add_checked"} <= set(tools), f"tools/list: {sorted(tools)}")
            for name in ["add", "add_checked"]:
                result = await session.call_tool(name, {"a": 2, "b": 40})
                check(not result.is_error and result.structured_content == {"sum": 42}, f"{name} 2+40: {result.structured_content}")
                result = await session.call_tool(name, {"a": 2.0, "b": -3})
                check(not result.is_error and result.structured_content == {"sum": -1}, f"{name} takes 2.0 as an integer")
            messages = []
            for name in ["add", "add_checked"]:
                try:
                    result = await session.call_tool(name, {"a": "two", "b": 1})
                    messages.append(result.content[0].text if result.is_error else "accepted")
                except MCPError as error:
                    messages.append(str(error))
            check(messages[0] == messages[1] and "'a'" in messages[0], f"the typed tool refuses with the schema's words: {messages}")
            await session.send_ping()
            check(True, "still serving after refusals")
    print("all checks passed", flush=True)


asyncio.run(main(sys.argv[1]))
