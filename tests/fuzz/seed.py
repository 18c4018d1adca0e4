#!/usr/bin/python3
"""seed.py: (re)writes the seed corpora and dictionaries of tests/fuzz from
the sample feed (ops/sample), the fault scenario's poison kinds
(tests/fault/scenario.py), the unit tests' edge cases
(tests/integration/data/edge.jsonl) and the service configs (ops/config).
Inputs found by fuzzing (crashes turned into fixes) live beside these seeds
under names starting "found-", and inputs that cover new edges, merged from
long runs (fuzz_T -merge=1 tests/fuzz/corpus/T build-fuzz/fuzz-work/T), under
their SHA-1; both are kept.

Usage: tests/fuzz/seed.py   (Debian's python3 with python3-protobuf; protoc)
"""
import hashlib
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fault"))
import scenario  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")
DICT = os.path.join(HERE, "dict")


def put(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = name or "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clear_seeds():
    for t in os.listdir(CORPUS) if os.path.isdir(CORPUS) else []:
        for n in os.listdir(os.path.join(CORPUS, t)):
            if n.startswith("seed-"):
                os.remove(os.path.join(CORPUS, t, n))


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def main():
    clear_seeds()
    pb = scenario.load_pb(tempfile.mkdtemp(prefix="tw-seed-"))
    sc = scenario.Scenario(pb, seed=17, npairs=40, nmessages=400).build()
    # valid and stateful-refused events as the scenario makes them
    for _, value in sc.msgs[:60]:
        put("codec", value)
    # one of each stateless poison kind
    for i, kind in enumerate(scenario.Scenario.STATELESS):
        n = len(sc.msgs)
        sc.stateless(sc.live[i % len(sc.live)], 1000 + i, kind)
        for _, value in sc.msgs[n:]:
            put("codec", value)
    put("codec", b"")

    jsonl = read("ops/sample/feed.jsonl").splitlines()
    edge = read("tests/integration/data/edge.jsonl").splitlines()
    for line in jsonl[:40] + edge:
        if line.strip():
            put("pbjson", line)
    for line in ['{}', '{"eventId":null}', '{"a":1,"a":2}', '{"visit":{"participants":-1}}',
                 '{"occurredAtMs":"9223372036854775808"}', '{"supportPledged":{"category":99}}',
                 '{"visit":{"giftValueVnd":1e400}}', '{"actor":"\\ud800"}', '[]', '"x"']:
        put("pbjson", line)
    # feed: first byte 0 = JSON lines, 1 = CSV
    for k in range(0, 40, 8):
        put("feed", "\x00" + "\n".join(jsonl[k:k + 8]) + "\n")
    put("feed", "\x00" + "\n".join(edge) + "\n")
    put("feed", "\x00\xef\xbb\xbf" + jsonl[0] + "\r\n\r\n  \n" + jsonl[1])
    csvfeed = read("ops/sample/feed-sample.csv")
    put("feed", "\x01" + csvfeed)
    put("feed", "\x01" + csvfeed.replace("\n", "\r\n"))
    hdr = csvfeed.splitlines()[0]
    put("feed", "\x01" + hdr + "\n" + "\n".join(csvfeed.splitlines()[1:4]) + "\n\"unterminated")
    put("feed", "\x01eventId,eventId\n1,2\n")
    put("feed", "\x01visit.participants,supportPledged.pledgeId\n3,P\n")

    for path in ("ops/sample/feed-sample.csv", "ops/sample/agencies.csv",
                 "ops/sample/localities.csv"):
        text = read(path)
        put("csv", "\n".join(text.splitlines()[:30]) + "\n")
    for text in ['a,"b ""c""",d\r\ne,f\n', '"a\nb",c\n', '"x"y,z\n', 'a"b\n', '\ufeffa,b\n',
                 '"open\n', 'a\x00b\nc\n', '\n\n,\n', 'a\rb\r\n"c\r"\n']:
        put("csv", text)

    for name in sorted(os.listdir(os.path.join(ROOT, "ops", "config"))):
        put("config", read(os.path.join("ops", "config", name)))
    for text in ["pg.conninfo = host=db user=u password=sekrit\n", "batch.max-events = 0\n",
                 "http.enabled = maybe\n", "name =\n", "= x\n", "no equals\n",
                 "kafka.enable.auto.commit = true\n", "kafka.sasl.password = p\n",
                 "alert.secret = s\n# c\n\n  kafka.x = 1  \n", "pg.conninfo = host='a b'\n",
                 "batch.max-events = 99999999999999999999\n"]:
        put("config", text)

    h = "ab" * 32
    for text in ["twinwatch.audit-anchor.v1 twinwatch.events.v1 3 18211 " + h,
                 "twinwatch.audit-anchor.v1 t 0 0 \\x" + h, "twinwatch.audit-anchor.v1 t -1 0 " + h,
                 "twinwatch.audit-anchor.v1 t 0 0 " + h[:-1], "twinwatch.audit-anchor.v2 t 0 0 " + h]:
        put("anchor", text)

    # control: first byte = write size - 1 (mod 64)
    for text in ["ping\n", "fail Fetch NOT_COORDINATOR 3\nfail 14 _TRANSPORT 1\n",
                 "down 2\nup 2\n", "leader t 1 2\nleader t 0 -1\nleader t 9 1\n",
                 "rtt 1 100\n", "bogus\n\n", "fail JoinGroup NOT_LEADER_OR_FOLLOWER 100000\n",
                 "x" * 600 + "\n", "ping\r\nping extra\n"]:
        put("control", "\x07" + text)
        put("control", "\x3f" + text)

    # dictionaries
    os.makedirs(DICT, exist_ok=True)
    proto = read("proto/twinwatch/v1/events.proto")
    names = sorted(set(re.findall(r"^\s*(?:\w+\s+)+(\w+)\s*=\s*\d+;", proto, re.M)))
    enums = sorted(set(re.findall(r"^\s*([A-Z][A-Z_]+)\s*=\s*\d+;", proto, re.M)))
    fields = [n for n in names if not n.isupper()]

    def camel(n):
        p = n.split("_")
        return p[0] + "".join(x.title() for x in p[1:])

    with open(os.path.join(DICT, "json.dict"), "w") as f:
        f.write("# JSON syntax and the Event's keys (.proto and lowerCamelCase) and enums\n")
        for tok in ['{', '}', '[', ']', ':', ',', '"', 'null', 'true', 'false', '-', '0', '1e9',
                    '\\u0000', '\\ud800', '\\"', '"9223372036854775807"', '"2026-06-30"',
                    '"0f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5"', '"AAEC"']:
            f.write('"%s"\n' % tok.replace("\\", "\\\\").replace('"', '\\"'))
        f.write('"\\x0a"\n')
        for n in fields:
            f.write('"\\"%s\\":"\n' % n)
            if camel(n) != n:
                f.write('"\\"%s\\":"\n' % camel(n))
        for e in enums:
            f.write('"\\"%s\\""\n' % e)
    with open(os.path.join(DICT, "csv.dict"), "w") as f:
        f.write("# CSV syntax and the feed's JSON-path headers\n")
        for tok in [',', '\\"', '\\"\\"', '\\x0d\\x0a', '\\x0a', '\\x0d', '\\xef\\xbb\\xbf',
                    '\\x00']:
            f.write('"%s"\n' % tok)
        for h in read("ops/sample/feed-sample.csv").splitlines()[0].split(","):
            f.write('"%s"\n' % h)
    # protobuf: each Event tag as a key byte with its wire type, and the varints around limits
    with open(os.path.join(DICT, "protobuf.dict"), "w") as f:
        f.write("# tags of the Event's fields (field<<3|wire type), lengths and varint limits\n")
        for num in range(1, 10):
            wt = 0 if num in (2, 5, 6) else 2
            f.write('"\\x%02x"\n' % (num << 3 | wt))
        for num in range(20, 29):
            f.write('"\\x%02x\\x01"\n' % (num << 3 | 2))
        for tok in ["\\x80\\x01", "\\xff\\xff\\xff\\xff\\x0f", "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x01",
                    "\\x80\\x80\\x80\\x80\\x80\\x80\\x80\\x80\\x80\\x80\\x00", "\\x08\\x01", "\\x10\\x0a",
                    "\\x12\\x0a2026-06-30", "\\x0a\\x24"]:
            f.write('"%s"\n' % tok)
    with open(os.path.join(DICT, "config.dict"), "w") as f:
        f.write("# config syntax and keys\n")
        for tok in [" = ", "#", "\\x0a", "pg.conninfo", "batch.max-events", "http.enabled", "name",
                    "alert.secret", "kafka.", "kafka.enable.auto.commit", "kafka.sasl.password",
                    "password=", "host=", "'", "true", "false", "-9223372036854775808"]:
            f.write('"%s"\n' % tok)
    with open(os.path.join(DICT, "anchor.dict"), "w") as f:
        f.write('"twinwatch.audit-anchor.v1"\n" "\n"\\\\x"\n"%s"\n"-1"\n"2147483648"\n' % h)
    with open(os.path.join(DICT, "control.dict"), "w") as f:
        for tok in ["ping", "fail", "down", "up", "leader", "rtt", "Fetch", "JoinGroup",
                    "NOT_COORDINATOR", "_TRANSPORT", "100000", "-1", "t", "\\x0a", "\\x0d", " ",
                    "\\x09"]:
            f.write('"%s"\n' % tok)
    for t in sorted(os.listdir(CORPUS)):
        print("%-8s %d seeds" % (t, len(os.listdir(os.path.join(CORPUS, t)))))


if __name__ == "__main__":
    main()
