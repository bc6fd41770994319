"""A TCP proxy that adds `Authorization: Bearer TOKEN` to every HTTP request passing through,
for MCP tools that cannot send headers (the MCP conformance suite's server mode).

Usage: auth_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT TOKEN

Requests are forwarded byte for byte otherwise (Host and Origin untouched, so the server's
DNS-rebinding checks see what the client sent); answers, event streams included, are piped
back unchanged. Request bodies must carry Content-Length (the kernel refuses chunked ones).
"""

import asyncio
import sys

LISTEN, HOST, PORT, TOKEN = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]


async def requests(reader, writer):
    """Client -> server: each request head gets the header, then its body follows as is."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = await reader.read(65536)
            if not chunk:
                writer.close()
                return
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"authorization:")]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or b"0")
        lines.insert(1, b"Authorization: Bearer " + TOKEN.encode())
        while len(buffer) < length:
            chunk = await reader.read(65536)
            if not chunk:
                break
            buffer += chunk
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + buffer[:length])
        await writer.drain()
        buffer = buffer[length:]


async def answers(reader, writer):
    """Server -> client: unchanged."""
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
    writer.close()


async def connection(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection(HOST, PORT)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        requests(client_reader, server_writer), answers(server_reader, client_writer), return_exceptions=True
    )


async def main():
    server = await asyncio.start_server(connection, "127.0.0.1", LISTEN)
    print(f"proxy on 127.0.0.1:{LISTEN} -> {HOST}:{PORT}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
