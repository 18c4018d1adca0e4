#!/usr/bin/python3
"""gateway_load.py: load for ops/bench --gateway (tests/bench/gateway.sh).

  gen N AGENCY LOCALITIES_CSV OUT
      N distinct events of AGENCY (visits to its sample communes) as JSON lines
  bulk URL TOKEN FILE CLIENTS PER_REQUEST
      CLIENTS keep-alive connections post FILE's lines PER_REQUEST at a time,
      every line once; prints "events seconds statuses"
  single URL TOKEN FILE RATE SECONDS
      one event per request at RATE requests/s (paced, on enough keep-alive
      connections to hold the rate); prints "requests p50_ms p99_ms statuses"
"""
import csv
import http.client
import json
import queue
import sys
import threading
import time
import urllib.parse


def gen(args):
    n, agency, loc_csv, out = int(args[0]), args[1], args[2], args[3]
    with open(loc_csv, newline="", encoding="utf-8") as f:
        communes = [r["code"] for r in csv.DictReader(f) if r.get("level") == "commune"]
    now = int(time.time() * 1000) - 3600 * 1000
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({
                "agencyCode": agency, "localityCode": communes[i % len(communes)],
                "occurredAtMs": str(now - i * 1000), "sourceSystem": "bench-gateway",
                "sourceRef": "B-%d-%d" % (now, i), "actor": "bench",
                "visit": {"purpose": "bench visit %d" % i, "participants": 3}},
                separators=(",", ":")) + "\n")


def post(conn, path, token, body):
    conn.request("POST", path, body=body, headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/x-ndjson"})
    r = conn.getresponse()
    r.read()
    return r.status


def bulk(args):
    url, token, path_, clients, per = args[0], args[1], args[2], int(args[3]), int(args[4])
    u = urllib.parse.urlsplit(url)
    with open(path_, "rb") as f:
        lines = f.readlines()
    work = queue.Queue()
    for i in range(0, len(lines), per):
        work.put(b"".join(lines[i:i + per]))
    statuses = {}
    lock = threading.Lock()

    def one():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            st = post(c, u.path, token, body)
            with lock:
                statuses[st] = statuses.get(st, 0) + 1
        c.close()

    ts = [threading.Thread(target=one) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    print(len(lines), "%.3f" % dt, ",".join("%s:%d" % kv for kv in sorted(statuses.items())))


def single(args):
    url, token, path_, rate, seconds = args[0], args[1], args[2], float(args[3]), float(args[4])
    u = urllib.parse.urlsplit(url)
    with open(path_, "rb") as f:
        lines = f.readlines()
    n = min(len(lines), int(rate * seconds))
    lat = []
    statuses = {}
    lock = threading.Lock()
    slots = queue.Queue()
    t0 = time.perf_counter()
    for i in range(n):
        slots.put((t0 + i / rate, lines[i]))

    def one():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        while True:
            try:
                at, body = slots.get_nowait()
            except queue.Empty:
                break
            d = at - time.perf_counter()
            if d > 0:
                time.sleep(d)
            s = time.perf_counter()
            st = post(c, u.path, token, body)
            e = time.perf_counter()
            with lock:
                lat.append(e - s)
                statuses[st] = statuses.get(st, 0) + 1
        c.close()

    ts = [threading.Thread(target=one) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(len(lat), "%.2f" % p(0.5), "%.2f" % p(0.99),
          ",".join("%s:%d" % kv for kv in sorted(statuses.items())))


if __name__ == "__main__":
    {"gen": gen, "bulk": bulk, "single": single}[sys.argv[1]](sys.argv[2:])
