"""The host side of a cable link to the board: get an address from the board's DHCP server,
find the board by mDNS/DNS-SD with the zeroconf package, and connect the official MCP SDK to
the endpoint it announces.

Usage: discovery_client.py IFNAME TOKEN
Runs inside the network namespace that holds the TAP interface IFNAME, whose other end is
the guest (booted with net.mode = server). Prints one line per check; exits non-zero on the
first failure.
"""

import asyncio
import random
import socket
import struct
import subprocess
import sys
import time

import httpx2 as httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

IFNAME, TOKEN = sys.argv[1], sys.argv[2]


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_of(ifname):
    with open(f"/sys/class/net/{ifname}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


# --- DHCP over a raw socket (the interface has no address yet) --------------------------

def dhcp_message(kind, xid, mac, options=b""):
    fixed = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                        b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"\0" * 64, b"\0" * 128)
    return fixed + bytes([99, 130, 83, 99, 53, 1, kind]) + options + b"\xff"


def frame(mac, payload):
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), random.randrange(65536), 0, 64, 17, 0,
                     b"\0" * 4, b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\xff" * 6 + mac + b"\x08\x00" + ip + udp


def options_of(message):
    out, rest = {}, message[240:]
    while rest and rest[0] != 255:
        if rest[0] == 0:
            rest = rest[1:]
            continue
        code, length = rest[0], rest[1]
        out[code] = rest[2:2 + length]
        rest = rest[2 + length:]
    return out


def dhcp_exchange(raw, mac, kind, xid, options=b"", deadline=30.0, every=1.0):
    """Sends a DHCP message every `every` s until an answer for `xid` arrives; returns
    (yiaddr, options, server MAC)."""
    end = time.time() + deadline
    while time.time() < end:
        raw.send(frame(mac, dhcp_message(kind, xid, mac, options)))
        stop = time.time() + every
        while time.time() < stop:
            raw.settimeout(max(0.01, stop - time.time()))
            try:
                data = raw.recv(2048)
            except socket.timeout:
                break
            if data[12:14] != b"\x08\x00" or data[23] != 17:
                continue
            header = (data[14] & 0xF) * 4
            udp = data[14 + header:]
            if struct.unpack("!HH", udp[:4]) != (67, 68):
                continue
            message = udp[8:]
            if message[0] != 2 or struct.unpack("!I", message[4:8])[0] != xid:
                continue
            return socket.inet_ntoa(message[16:20]), options_of(message), data[6:12]
    return None, None, None


def get_lease(mac):
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    raw.bind((IFNAME, 0))
    xid = random.randrange(1 << 32)
    # Frames from the first moment, while the guest still boots (a computer talks as soon as
    # the link is up), so some reach the NIC while the network comes up: one that did, before
    # the kernel could acknowledge it, once stopped the boot (an asserted line, see net::init).
    offered, options, server_mac = dhcp_exchange(raw, mac, 1, xid, b"\x0c\x04host", every=0.05)
    check(offered is not None, f"DHCP offer: {offered} from {server_mac.hex(':') if server_mac else None}")
    check(options.get(53) == b"\x02", "the answer is an OFFER")
    server = options.get(54)
    check(server is not None and socket.inet_ntoa(server) == "10.77.0.1", f"server id {server and socket.inet_ntoa(server)}")
    check(options.get(1) == bytes([255, 255, 255, 0]), "subnet mask 255.255.255.0")
    check(3 not in options and 6 not in options, "no router and no DNS server (the cable never takes the default route)")
    request = bytes([50, 4]) + socket.inet_aton(offered) + bytes([54, 4]) + server + b"\x0c\x04host"
    acked, options, _ = dhcp_exchange(raw, mac, 3, xid, request)
    check(acked == offered and options.get(53) == b"\x05", f"DHCP ACK for {acked}")
    lease = struct.unpack("!I", options[51])[0]
    check(lease > 0, f"lease time {lease} s")
    raw.close()
    return offered


# --- mDNS --------------------------------------------------------------------------------

def dns_name(name):
    return b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"


def legacy_query(name, group="224.0.0.251"):
    """A one-shot (legacy unicast) query from an ephemeral port: the answer comes back to it."""
    query = struct.pack("!HHHHHH", 0x1234, 0, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", 1, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sock.settimeout(1.0)
    for _ in range(10):
        sock.sendto(query, (group, 5353))
        try:
            answer, _ = sock.recvfrom(2048)
        except socket.timeout:
            continue
        if answer[:2] == b"\x12\x34":
            return answer
    return None


class Listener(ServiceListener):
    def __init__(self):
        self.names = []

    def add_service(self, zc, type_, name):
        self.names.append(name)

    def update_service(self, zc, type_, name):
        pass

    def remove_service(self, zc, type_, name):
        pass


def discover():
    zc = Zeroconf(interfaces=["10.77.0.2"])
    try:
        listener = Listener()
        browser = ServiceBrowser(zc, "_mcp._tcp.local.", listener)
        deadline = time.time() + 30
        while not listener.names and time.time() < deadline:
            time.sleep(0.2)
        browser.cancel()
        check(listener.names, f"DNS-SD browse _mcp._tcp: {listener.names}")
        info = zc.get_service_info("_mcp._tcp.local.", listener.names[0], timeout=10000)
        check(info is not None, f"service info for {listener.names[0]}")
        addresses = info.parsed_addresses()
        properties = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        check(addresses == ["10.77.0.1"], f"the service's address {addresses}")
        check(info.port == 80, f"port {info.port}")
        check(info.server == "kingly.local.", f"target host {info.server}")
        check(properties.get("path") == "/mcp", f"TXT {properties}")
        http = []
        for name in ["_http._tcp.local."]:
            http_listener = Listener()
            b = ServiceBrowser(zc, name, http_listener)
            deadline = time.time() + 20
            while not http_listener.names and time.time() < deadline:
                time.sleep(0.2)
            b.cancel()
            http = http_listener.names
        check(http, f"also announced as _http._tcp: {http}")
        return addresses[0], info.port, properties["path"]
    finally:
        zc.close()


async def mcp_session(url):
    headers = {"Authorization": f"Bearer {TOKEN}", "Host": "kingly.local"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                init = await asyncio.wait_for(session.initialize(), 60)
                check(init.server_info.name == "kingly-os", f"MCP initialize through the discovered endpoint ({init.protocol_version})")
                result = await session.call_tool("net_status", {})
                check(not result.is_error, "net_status")
                status = result.structured_content
                path = status["paths"][0]
                check(path["source"] == "server" and path["address"] == "10.77.0.1/24", f"the guest serves the link: {path['source']} {path['address']}")
                check(path["mdns"] == "kingly.local", f"mDNS name in net_status: {path['mdns']}")
                leases = [lease["address"] for lease in path["leases"] if lease["bound"]]
                check("10.77.0.2" in leases, f"net_status shows the lease it gave: {path['leases']}")


def main():
    mac = mac_of(IFNAME)
    address = get_lease(mac)
    check(address == "10.77.0.2", f"the first address of the pool: {address}")
    subprocess.run(["ip", "addr", "add", f"{address}/24", "dev", IFNAME], check=True)
    subprocess.run(["ip", "route", "add", "224.0.0.0/4", "dev", IFNAME], check=False)
    answer = legacy_query("kingly.local")
    check(answer is not None and socket.inet_aton("10.77.0.1") in answer, "kingly.local resolves by mDNS (legacy unicast query)")
    host, port, path = discover()
    url = f"http://{host}:{port}{path}"
    # The endpoint accepts its mDNS name as Host and refuses one it does not know
    # (DNS-rebinding protection).
    ok = httpx.post(url, headers={"Host": "kingly.local", "Authorization": f"Bearer {TOKEN}",
                                  "Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
                    content='{"jsonrpc":"2.0","id":1,"method":"ping"}', timeout=10)
    check(ok.status_code == 200, f"Host: kingly.local accepted ({ok.status_code})")
    bad = httpx.post(url, headers={"Host": "evil.example", "Authorization": f"Bearer {TOKEN}",
                                   "Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
                     content='{"jsonrpc":"2.0","id":1,"method":"ping"}', timeout=10)
    check(bad.status_code in (403, 421), f"Host: evil.example refused ({bad.status_code})")
    asyncio.run(mcp_session(url))
    print("all checks passed", flush=True)


main()
