"""The peer of `cargo xtask bench net` and `bench mcp`: an MCP server built with the
official Python SDK (MCPServer), serving Streamable HTTP with JSON responses on
127.0.0.1:PORT (bench net), or stdio (`--stdio`, bench mcp's pipe figures), with small
tools like the kernel's and the benchmark's.

Usage: net_reference_server.py PORT | --stdio
"""

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("reference")


@server.tool()
def memory_stats() -> dict:
    """A small tool answering a fixed structure, like the kernel's memory_stats."""
    return {"heap": {"size_bytes": 1 << 30, "used_bytes": 1 << 20, "free_bytes": (1 << 30) - (1 << 20)}}


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers (bench mcp's small call)."""
    return a + b


if __name__ == "__main__":
    if sys.argv[1] == "--stdio":
        server.run(transport="stdio")
        sys.exit(0)
    server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]), json_response=True)
