#!/usr/bin/python3
"""listen.py OUT [CHANNEL]: writes every NOTIFY payload on CHANNEL
(default twinwatch_projection) to OUT, one per line, until SIGTERM.
Connects with the PG* environment. Prints "listening" once LISTEN holds."""
import select
import signal
import sys

import psycopg2

out = open(sys.argv[1], "w", buffering=1)
channel = sys.argv[2] if len(sys.argv) > 2 else "twinwatch_projection"
conn = psycopg2.connect("")
conn.autocommit = True
conn.cursor().execute("LISTEN " + channel)
print("listening", flush=True)
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
while running:
    if select.select([conn], [], [], 0.2)[0]:
        conn.poll()
    while conn.notifies:
        out.write(conn.notifies.pop(0).payload + "\n")
conn.poll()
while conn.notifies:
    out.write(conn.notifies.pop(0).payload + "\n")
out.close()
