"""The peer of `cargo xtask bench net`: an MCP server built with the official Python SDK
(MCPServer), serving Streamable HTTP with JSON responses on 127.0.0.1:PORT, with one small
tool like the kernel's.

Usage: net_reference_server.py PORT
"""

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("reference")


@server.tool()
def memory_stats() -> dict:
    """A small tool answering a fixed structure, like the kernel's memory_stats."""
    return {"heap": {"size_bytes": 1 << 30, "used_bytes": 1 << 20, "free_bytes": (1 << 30) - (1 << 20)}}


if __name__ == "__main__":
    server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]), json_response=True)
