#!/usr/bin/env python3
"""What one key's subscriptions cost a running `tba serve`: it opens N websockets with an AUDITOR key,
each subscribing to `eventsAppended(after: 0)` (a catch-up of the whole log) and never reading again, as
a slow or hostile client would; then it prints how many were accepted or refused, the server's RSS
before and 15 s after, and the latency of a normal query meanwhile.

Usage (needs `pip install websockets`):
    python3 scripts/subscriptions_memory.py PID N KEY_FILE [BASE]
PID is the server's process, KEY_FILE holds an AUDITOR key, BASE defaults to 127.0.0.1:18080.
"""

import asyncio
import json
import sys
import time
import urllib.request
from collections import Counter

import websockets

PID, N, KEY = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3]).read().strip()
BASE = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1:18080"
QUERY = "subscription { eventsAppended(after: 0) { position data } }"


def rss():
    values = {}
    for line in open(f"/proc/{PID}/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            values[line.split(":")[0]] = int(line.split()[1]) // 1024
    return values


def query_ms():
    started = time.time()
    request = urllib.request.Request(
        f"http://{BASE}/graphql",
        data=json.dumps({"query": "{ logHead { position } }"}).encode(),
        headers={"content-type": "application/json", "authorization": "Bearer " + KEY},
    )
    urllib.request.urlopen(request).read()
    return (time.time() - started) * 1000


async def subscribe(results):
    try:
        socket = await websockets.connect(
            f"ws://{BASE}/graphql/ws",
            subprotocols=["graphql-transport-ws"],
            max_size=None,
            additional_headers={"Authorization": "Bearer " + KEY},
        )
    except websockets.exceptions.InvalidStatus as refused:
        results.append(f"upgrade {refused.response.status_code}")
        return None
    await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer " + KEY}}))
    await socket.recv()
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
    first = json.loads(await socket.recv())
    refused = first.get("type") == "error" or "errors" in first.get("payload", {})
    results.append("refused" if refused else "accepted")
    return socket  # never read again


async def main():
    print("before:", rss(), "query %.1f ms" % query_ms())
    results, sockets = [], []
    for _ in range(N):
        try:
            sockets.append(await subscribe(results))
        except websockets.exceptions.ConnectionClosed:
            results.append("closed (key's rate limit)")
        await asyncio.sleep(0.06)
    await asyncio.sleep(15)
    latencies = sorted(query_ms() for _ in range(20))
    print("subscriptions:", dict(Counter(results)))
    print("15 s later:", rss(), "query p50 %.1f ms, max %.1f ms" % (latencies[10], latencies[-1]))


asyncio.run(main())
