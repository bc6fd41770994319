"""What the fleet test's client scripts (fleet_client.py, gateway_client.py) share: one
line per check, and asking the test that runs them (tests/24_fleet.rs) to act on the fleet:
`do: kill N`, `do: start N`, `do: restart-broker`, answered with `done` on stdin."""

import sys


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)


def ask_driver(what):
    print(f"do: {what}", flush=True)
    line = sys.stdin.readline().strip()
    check(line == "done", f"the test did: {what} ({line!r})")
