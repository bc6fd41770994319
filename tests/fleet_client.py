"""MCP over MQTT against real kernels in QEMU, through Mosquitto: an independent MQTT 5
client (paho-mqtt) speaks EMQX's MCP-over-MQTT topics to every board the test booted.

Usage: fleet_client.py HOST PORT USER PASSWORD BOARDS HTTP_URL HTTP_TOKEN
BOARDS is the number of guests, whose server names are fleet/board1..N; HTTP_URL and
HTTP_TOKEN reach board1's MCP over HTTP directly (the round-trip figure's reference). The test that runs
this script (tests/24_fleet.rs) drives the guests and the broker on request: the script
prints `do: kill N`, `do: start N` or `do: restart-broker` and waits for `done` on stdin.
Prints one line per check and `figure: ...` lines; exits non-zero on a failure.
"""

import http.client
import json
import sys
import urllib.parse
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from fleet_driver import ask_driver, check

HOST, PORT, USER, PASSWORD, BOARDS = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
HTTP_URL, HTTP_TOKEN = sys.argv[6], sys.argv[7]


class Client:
    """One MQTT connection acting as an MCP client to every board it sees."""

    def __init__(self, user=USER, password=PASSWORD):
        self.id = f"fleet-test-{uuid.uuid4().hex[:12]}"
        self.lock = threading.Condition()
        self.presence = {}  # server id -> (server name, online payload or None)
        self.inbox = []  # (topic, payload dict)
        self.connack = None
        self.initializations = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.id, protocol=mqtt.MQTTv5)
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_message = self.on_message
        self.client.on_connect = self.on_connect
        props = Properties(PacketTypes.CONNECT)
        props.UserProperty = [("MCP-COMPONENT-TYPE", "mcp-client"), ("MCP-META", "{}")]
        will = json.dumps({"jsonrpc": "2.0", "method": "notifications/disconnected"})
        self.client.will_set(f"$mcp-client/presence/{self.id}", will)
        self.client.connect(HOST, PORT, keepalive=30, clean_start=True, properties=props)
        self.client.loop_start()

    def on_connect(self, client, userdata, flags, reason, properties):
        with self.lock:
            self.connack = reason
            self.lock.notify_all()
        if not reason.is_failure:
            client.subscribe("$mcp-server/presence/+/fleet/#", options=SubscribeOptions(qos=1))

    def on_message(self, client, userdata, message):
        topic = message.topic
        with self.lock:
            if topic.startswith("$mcp-server/presence/"):
                rest = topic[len("$mcp-server/presence/"):]
                server_id, name = rest.split("/", 1)
                self.presence[server_id] = (name, json.loads(message.payload) if message.payload else None)
            else:
                try:
                    self.inbox.append((topic, json.loads(message.payload)))
                except ValueError:
                    self.inbox.append((topic, {"unparsable": message.payload.decode(errors="replace")}))
            self.lock.notify_all()

    def wait_connack(self, seconds=10):
        with self.lock:
            self.lock.wait_for(lambda: self.connack is not None, seconds)
            return self.connack

    def online(self):
        with self.lock:
            return {sid: name for sid, (name, payload) in self.presence.items() if payload}

    def wait_for(self, predicate, seconds):
        deadline = time.monotonic() + seconds
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return True

    def publish(self, topic, message):
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("MCP-COMPONENT-TYPE", "mcp-client"), ("MCP-MQTT-CLIENT-ID", self.id)]
        self.client.publish(topic, json.dumps(message), qos=1, properties=props)

    def take(self, topic, request_id, seconds=30):
        """The answer with `request_id` on `topic`."""
        found = []

        def arrived():
            for i, (t, payload) in enumerate(self.inbox):
                if t == topic and payload.get("id") == request_id:
                    found.append(self.inbox.pop(i)[1])
                    return True
            return False

        return found[0] if self.wait_for(arrived, seconds) else None

    def initialize(self, server_id, name):
        rpc = f"$mcp-rpc/{self.id}/{server_id}/{name}"
        self.client.subscribe(rpc, options=SubscribeOptions(qos=1, noLocal=True))
        self.client.subscribe(f"$mcp-server/capability/{server_id}/{name}", options=SubscribeOptions(qos=1))
        time.sleep(0.2)
        # A fresh id each time: a stale answer with a reused id (an error to a malformed
        # message, say) must not pass for this one.
        self.initializations += 1
        request_id = 1_000_000 + self.initializations
        request = {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fleet-test", "version": "1"}}}
        self.publish(f"$mcp-server/{server_id}/{name}", request)
        answer = self.take(rpc, request_id)
        if answer is not None:
            self.publish(rpc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        return rpc, answer

    def call(self, rpc, request_id, tool, arguments, seconds=30):
        self.publish(rpc, {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                           "params": {"name": tool, "arguments": arguments}})
        return self.take(rpc, request_id, seconds)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def http_round_trips(count):
    """memory_stats over MCP's Streamable HTTP straight to board1 (one keep-alive connection)."""
    url = urllib.parse.urlsplit(HTTP_URL)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Authorization": f"Bearer {HTTP_TOKEN}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}

    def post(message, session=None):
        h = dict(headers, **({"Mcp-Session-Id": session} if session else {}))
        connection.request("POST", url.path, json.dumps(message), h)
        response = connection.getresponse()
        return response, response.read()

    response, _ = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    session = response.getheader("Mcp-Session-Id")
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    times = []
    for i in range(count):
        t = time.monotonic()
        response, body = post({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
                               "params": {"name": "memory_stats", "arguments": {}}}, session)
        times.append(time.monotonic() - t)
        check(response.status == 200 and b'"result"' in body, f"HTTP memory_stats {i + 1}") if i in (0, count - 1) else None
    connection.close()
    return sorted(times)


def names_online(client):
    return sorted(client.online().values())


def main():
    expected = [f"fleet/board{i}" for i in range(1, BOARDS + 1)]
    # Without the broker's credentials: refused at CONNACK, nothing delivered.
    stranger = Client(user="intruder", password="guess")
    reason = stranger.wait_connack()
    check(reason is not None and reason.is_failure, f"a client without the credentials is refused ({reason})")
    time.sleep(0.5)
    check(not stranger.presence and not stranger.inbox, "and it hears nothing")
    stranger.close()
    anonymous = Client(user=None)
    reason = anonymous.wait_connack()
    check(reason is not None and reason.is_failure, f"an anonymous client is refused ({reason})")
    anonymous.close()

    client = Client()
    check(not client.wait_connack().is_failure, "the test client connects with the credentials")
    started = time.monotonic()
    check(client.wait_for(lambda: names_online(client) == expected, 120), f"{BOARDS} boards online: {names_online(client)}")
    print(f"figure: presence of {BOARDS} boards seen {time.monotonic() - started:.2f} s after subscribing "
          "(retained presence of boards already up)", flush=True)
    online = client.online()
    check(all(json.loads(json.dumps(client.presence[s][1]))["method"] == "notifications/server/online" for s in online),
          "presence is notifications/server/online, retained")

    rpcs = {}
    for server_id, name in sorted(online.items(), key=lambda kv: kv[1]):
        rpc, answer = client.initialize(server_id, name)
        check(answer is not None and answer.get("result", {}).get("serverInfo", {}).get("name") == "kingly-os",
              f"{name}: initialize answered on {rpc} ({json.dumps(answer)[:200]})")
        rpcs[name] = rpc

    # A tool on each board, by name; each answers with its own facts.
    hostnames = {}
    for n, name in enumerate(expected):
        answer = client.call(rpcs[name], 10 + n, "net_status", {})
        check(answer is not None and "result" in answer and not answer["result"].get("isError"),
              f"{name}: net_status over MQTT")
        mqtt_state = answer["result"]["structuredContent"].get("mqtt", {})
        hostnames[name] = mqtt_state.get("server_name")
        check(mqtt_state.get("connected") is True and mqtt_state.get("server_name") == name,
              f"{name}: the board that answered is {mqtt_state.get('server_name')}")
    # Round trips through the broker.
    times = []
    for i in range(20):
        t = time.monotonic()
        answer = client.call(rpcs[expected[0]], 100 + i, "memory_stats", {})
        times.append(time.monotonic() - t)
        check(answer is not None and "result" in answer, f"memory_stats round trip {i + 1}") if i in (0, 19) else None
    times.sort()
    direct = http_round_trips(len(times))
    mqtt_ms, http_ms = times[len(times) // 2] * 1000, direct[len(direct) // 2] * 1000
    print(f"figure: memory_stats round trip, median of {len(times)}: through the broker {mqtt_ms:.1f} ms, "
          f"direct HTTP to the same guest {http_ms:.1f} ms, ratio {mqtt_ms / http_ms:.2f}x", flush=True)

    # A message on one board's topic runs there only; the role holds (read by default).
    answer = client.call(rpcs[expected[1]], 200, "power_reboot", {"confirm": True})
    check(answer is not None and "control role" in json.dumps(answer),
          f"{expected[1]}: a tool that changes the machine is refused to the read role: {json.dumps(answer)[:160]}")
    with client.lock:
        stray = [t for t, p in client.inbox if p.get("id") == 200]
    check(not stray, f"no other board answered request 200 ({stray})")
    # Garbage on a board's topics gets no crash: it still answers afterwards.
    for payload in [b"", b"{", b"\xff\xfe", b"[]", b'{"jsonrpc":"2.0","id":1}', b"x" * 70000]:
        client.client.publish(rpcs[expected[2]], payload, qos=1)
        client.client.publish(f"$mcp-server/{[s for s, n in online.items() if n == expected[2]][0]}/{expected[2]}",
                              payload, qos=1)
    answer = client.call(rpcs[expected[2]], 300, "memory_stats", {})
    check(answer is not None and "result" in answer, f"{expected[2]}: still serving after malformed messages")

    # A flood of initializes from 400 client ids: the board keeps at most 16 sessions, tells
    # the oldest (ours) it is disconnected, and serves a client that initializes again.
    board3 = [(s, n) for s, n in online.items() if n == expected[2]][0]
    last_rpc = f"$mcp-rpc/flood-399/{board3[0]}/{board3[1]}"
    client.client.subscribe(last_rpc, options=SubscribeOptions(qos=1, noLocal=True))
    time.sleep(0.2)
    started = time.monotonic()
    for i in range(400):
        flood_props = Properties(PacketTypes.PUBLISH)  # assigning UserProperty appends
        flood_props.UserProperty = [("MCP-COMPONENT-TYPE", "mcp-client"), ("MCP-MQTT-CLIENT-ID", f"flood-{i}")]
        request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "flood", "version": "1"}}}
        client.client.publish(f"$mcp-server/{board3[0]}/{board3[1]}", json.dumps(request), qos=0, properties=flood_props)

    def told_disconnected():
        return any(t == rpcs[expected[2]] and p.get("method") == "notifications/disconnected" for t, p in client.inbox)

    check(client.wait_for(told_disconnected, 60), f"{expected[2]}: the flood evicted our session and told us")
    check(client.take(last_rpc, 1, 60) is not None, f"{expected[2]}: the flood's last initialize was answered "
          f"({time.monotonic() - started:.1f} s for 400)")
    rpc, answer = client.initialize(*board3)
    check(answer is not None, f"{expected[2]}: initialize again after the flood")
    answer = client.call(rpc, 301, "net_status", {})
    clients = answer["result"]["structuredContent"]["mqtt"]["clients"] if answer and "result" in answer else None
    check(clients is not None and clients <= 16, f"{expected[2]}: sessions stay bounded ({clients} held)")

    # A guest that dies goes offline by its will; started again it comes back.
    killed_id = [s for s, n in online.items() if n == expected[0]][0]
    t = time.monotonic()
    ask_driver("kill 1")
    check(client.wait_for(lambda: expected[0] not in names_online(client), 60),
          f"{expected[0]} offline after its guest was killed (last will): {names_online(client)}")
    print(f"figure: offline seen {time.monotonic() - t:.2f} s after asking for the kill (SIGTERM to the guest's QEMU)",
          flush=True)
    check(client.presence.get(killed_id, (None, 1))[1] is None, "its retained presence was cleared")
    ask_driver("start 1")
    check(client.wait_for(lambda: names_online(client) == expected, 120), f"{expected[0]} back: {names_online(client)}")

    # The broker restarts: every board reconnects (backoff) and republishes its presence.
    client.close()
    ask_driver("restart-broker")
    t = time.monotonic()
    client = Client()
    check(not client.wait_connack().is_failure, "the test client reconnects to the restarted broker")
    check(client.wait_for(lambda: names_online(client) == expected, 120),
          f"all boards back after the broker restart: {names_online(client)}")
    print(f"figure: all {BOARDS} boards online {time.monotonic() - t:.2f} s after the broker restarted", flush=True)
    for n, (server_id, name) in enumerate(sorted(client.online().items(), key=lambda kv: kv[1])):
        rpc, answer = client.initialize(server_id, name)
        check(answer is not None, f"{name}: initialize after the broker restart")
        answer = client.call(rpc, 400 + n, "memory_stats", {})
        check(answer is not None and "result" in answer, f"{name}: tool call after the broker restart")
    client.close()
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
