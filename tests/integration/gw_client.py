#!/usr/bin/python3
"""gw_client.py: a real HTTP client (http.client) and a Kafka reader for the
gateway's tests (tests/integration/gateway.sh).

  req METHOD URL [TOKEN [CONTENT_TYPE [BODY_FILE]]]
      one request; prints the status, "Retry-After: N" (or "-"), then the body
  concurrent URL TOKEN DIR N
      N connections opened at once, each posting DIR/i.jsonl; prints the
      count of each status ("200 N")
  slow URL TOKEN BODY_FILE SECONDS
      sends the request one byte a second for at most SECONDS; prints
      "cut after S s, sent B of T bytes: FIRST_LINE" or "sent whole: FIRST_LINE"
  burst URL TOKEN N BODY_FILE
      N GET /v1/feed then one POST on one connection; prints the statuses
  midway URL TOKEN BODY_FILE CONTROL_SOCKET COMMAND
      half the body, then a devbroker control COMMAND, then the rest
  connlimit URL N
      N connections held open, then one more: closed, or served?
  topic BROKERS TOPIC [OUT]
      prints the number of messages on TOPIC and how many carry the
      gateway's header; with OUT, writes every value length-delimited there
"""
import http.client
import socket
import sys
import threading
import time
import urllib.parse


def conn_for(url, timeout=30):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx), u
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout), u


def request(method, url, token=None, ctype=None, body=None):
    c, u = conn_for(url)
    headers = {}
    if token and token != "-":
        headers["Authorization"] = "Bearer " + token
    if ctype and ctype != "-":
        headers["Content-Type"] = ctype
    path = u.path + ("?" + u.query if u.query else "")
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Retry-After"), data


def cmd_req(args):
    method, url = args[0], args[1]
    token = args[2] if len(args) > 2 else None
    ctype = args[3] if len(args) > 3 else None
    body = None
    if len(args) > 4:
        with open(args[4], "rb") as f:
            body = f.read()
    st, ra, data = request(method, url, token, ctype, body)
    print(st)
    print("Retry-After: %s" % (ra or "-"))
    sys.stdout.write(data.decode("utf-8", "replace"))


def cmd_concurrent(args):
    url, token, d, n = args[0], args[1], args[2], int(args[3])
    u = urllib.parse.urlsplit(url)
    conns = []
    for i in range(n):  # every connection open before any request is sent
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        c.connect()
        conns.append(c)
    results = [None] * n
    go = threading.Barrier(n)

    def one(i):
        with open("%s/%d.jsonl" % (d, i), "rb") as f:
            body = f.read()
        try:
            go.wait()
            conns[i].request("POST", u.path, body=body,
                             headers={"Authorization": "Bearer " + token,
                                      "Content-Type": "application/x-ndjson"})
            r = conns[i].getresponse()
            r.read()
            results[i] = r.status
        except Exception as e:  # noqa: BLE001 - reported as a result
            results[i] = "error:" + type(e).__name__
        finally:
            conns[i].close()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    counts = {}
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    for k in sorted(counts, key=str):
        print(k, counts[k])


def cmd_slow(args):
    url, token, body_file, limit = args[0], args[1], args[2], float(args[3])
    u = urllib.parse.urlsplit(url)
    with open(body_file, "rb") as f:
        body = f.read()
    req = ("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n"
           % (u.path, u.hostname, token, len(body))).encode() + body
    s = socket.create_connection((u.hostname, u.port), timeout=limit + 10)
    start = time.time()
    sent = 0
    try:
        while sent < len(req) and time.time() - start < limit:
            s.sendall(req[sent:sent + 1])
            sent += 1
            time.sleep(1)
    except OSError:
        pass
    try:
        s.settimeout(5)
        first = s.makefile("rb").readline().decode(errors="replace").strip()
    except OSError as e:
        first = "(%s)" % type(e).__name__
    if sent < len(req):
        print("cut after %d s, sent %d of %d bytes: %s" % (time.time() - start, sent, len(req), first or "(closed)"))
    else:
        print("sent whole: %s" % first)


def cmd_burst(args):
    """N GET /v1/feed, then POST BODY_FILE, on one keep-alive connection."""
    url, token, n, body_file = args[0], args[1], int(args[2]), args[3]
    c, u = conn_for(url)
    h = {"Authorization": "Bearer " + token}
    out = []
    for _ in range(n):
        c.request("GET", u.path.rsplit("/", 1)[0] + "/feed", headers=h)
        r = c.getresponse()
        r.read()
        out.append(str(r.status))
    with open(body_file, "rb") as f:
        c.request("POST", u.path, body=f.read(),
                  headers=dict(h, **{"Content-Type": "application/x-ndjson"}))
    r = c.getresponse()
    r.read()
    out.append("%d Retry-After: %s" % (r.status, r.getheader("Retry-After")))
    print(" ".join(out))


def control(sock_path, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    s.sendall((cmd + "\n").encode())
    reply = s.makefile().readline().strip()
    s.close()
    if not reply.startswith("ok"):
        raise SystemExit("devbroker refused %r: %s" % (cmd, reply))


def cmd_midway(args):
    """POST BODY_FILE, sending half the body, then the devbroker's COMMAND on
    its control socket, then the rest; prints the status and Retry-After."""
    url, token, body_file, sock_path, command = args[:5]
    u = urllib.parse.urlsplit(url)
    with open(body_file, "rb") as f:
        body = f.read()
    head = ("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/x-ndjson\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (u.path, u.hostname, token, len(body))).encode()
    s = socket.create_connection((u.hostname, u.port), timeout=60)
    s.sendall(head + body[:len(body) // 2])
    time.sleep(0.3)
    control(sock_path, command)
    s.sendall(body[len(body) // 2:])
    r = http.client.HTTPResponse(s)
    r.begin()
    r.read()
    print(r.status, "Retry-After: %s" % (r.getheader("Retry-After") or "-"))


def cmd_connlimit(args):
    """Opens N connections and keeps them; then one more must be closed at
    once. Prints "kept K of N, extra closed" or "... extra served"."""
    url, n = args[0], int(args[1])
    u = urllib.parse.urlsplit(url)
    held = [socket.create_connection((u.hostname, u.port), timeout=10) for _ in range(n)]
    time.sleep(0.5)
    extra = socket.create_connection((u.hostname, u.port), timeout=10)
    extra.sendall(("GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n" % u.hostname).encode())
    try:
        data = extra.recv(100)
    except OSError:
        data = b""
    # the held ones still work: the first answers a request
    held[0].sendall(("GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n" % u.hostname).encode())
    first = held[0].recv(100).split(b"\r\n")[0].decode(errors="replace")
    for h in held:
        h.close()
    print("held: %s; extra: %s" % (first, "closed" if not data else data.split(b"\r\n")[0].decode()))


def cmd_topic(args):
    from confluent_kafka import Consumer, TopicPartition
    brokers, topic = args[0], args[1]
    out = args[2] if len(args) > 2 else None
    c = Consumer({"bootstrap.servers": brokers, "group.id": "gw-test-%d" % time.time(),
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions) if topic in md.topics else []
    total = 0
    ends = {}
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = hi
        total += hi - lo
    with_header = 0
    values = []
    if total:
        c.assign([TopicPartition(topic, p, 0) for p in parts if ends[p] > 0])
        left = {p for p in parts if ends[p] > 0}
        deadline = time.time() + 30
        while left and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # partition EOF
                    left.discard(m.partition())
                continue
            if any(k == "tw-gateway-token" for k, _ in (m.headers() or [])):
                with_header += 1
            values.append(m.value())
            if m.offset() + 1 >= ends[m.partition()]:
                left.discard(m.partition())
    c.close()
    if out:
        with open(out, "wb") as f:
            for v in values:
                n = len(v)
                while True:
                    b = n & 0x7F
                    n >>= 7
                    f.write(bytes([b | (0x80 if n else 0)]))
                    if not n:
                        break
                f.write(v)
    print(total, with_header)


if __name__ == "__main__":
    {"req": cmd_req, "concurrent": cmd_concurrent, "slow": cmd_slow,
     "topic": cmd_topic, "burst": cmd_burst, "midway": cmd_midway, "connlimit": cmd_connlimit}[sys.argv[1]](sys.argv[2:])
