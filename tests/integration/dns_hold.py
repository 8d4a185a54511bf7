"""HoldingDns: a UDP DNS proxy on loopback, in front of a DnsZone (dnsmasq), that proves
without timing that a stage's lookups go out side by side.

The test gives it the batches of queries it expects, in order, each a set of
"TYPE name" strings (for example {"PTR 7.1.0.127.in-addr.arpa", "A 7.1.0.127.bl.test"}).
Every query is forwarded to dnsmasq at once, but the answers to a batch's queries are held
until every query of that batch has arrived; only then are they all sent. A client that
waited for one answer before sending its next query would never complete its batch: after
HOLD_TIMEOUT (generous; it only decides how long a failing test takes) the proxy gives up,
releases what it holds and logs the batch as "timeout". Queries of no batch are answered
at once. So "release K full" in the log means: all of batch K's queries were sent before
any of them was answered.

Log lines (the file given): "query K TYPE NAME" (K: batch index, or "-" when in none),
"release K full" or "release K timeout".

Run as a script for the child process: `dns_hold.py PORT UPSTREAM_PORT BATCHES_JSON LOG`.
"""
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

from dns_zone import READY_LINE, udp_tcp_port

HOLD_TIMEOUT = 8.0
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA"}


def question(pkt):
    """(id, "TYPE name") of a DNS message, or None when it cannot be read."""
    if len(pkt) < 12:
        return None
    i, labels = 12, []
    while i < len(pkt) and pkt[i] != 0:
        n = pkt[i]
        if n & 0xC0:
            return None
        labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    if i + 5 > len(pkt):
        return None
    qtype = struct.unpack(">H", pkt[i + 1:i + 3])[0]
    return struct.unpack(">H", pkt[:2])[0], "%s %s" % (TYPES.get(qtype, str(qtype)),
                                                      ".".join(labels).lower())


class HoldingDns:
    """The proxy as a child process; .address goes into dns.servers."""

    def __init__(self, directory, upstream, batches):
        self.dir = str(directory)
        self.upstream = upstream
        self.batches = [sorted(b) for b in batches]
        self.log = os.path.join(self.dir, "hold.log")
        self.port = None
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.port = udp_tcp_port()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), str(self.port), str(self.upstream.port),
             json.dumps(self.batches), self.log],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if line != READY_LINE:
            self.stop()
            raise AssertionError("holding DNS proxy did not start: %r" % line)
        return self

    def lines(self):
        try:
            with open(self.log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


def _serve(port, upstream_port, batches, log_path):
    batches = [set(b) for b in batches]
    arrived = [set() for _ in batches]
    held = [[] for _ in batches]           # (answer, peer)
    first = [None] * len(batches)          # when its first query arrived
    released = [False] * len(batches)
    peers = {}                             # (id, question) -> client address
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    log = open(log_path, "a", buffering=1)
    print(READY_LINE, flush=True)

    def batch_of(q):
        for k, b in enumerate(batches):
            if q in b and not released[k]:
                return k
        return None

    def release(k, how):
        released[k] = True
        log.write("release %d %s\n" % (k, how))
        for pkt, peer in held[k]:
            s.sendto(pkt, peer)
        held[k] = []

    while True:
        now = time.monotonic()
        waits = [first[k] + HOLD_TIMEOUT - now for k in range(len(batches))
                 if first[k] is not None and not released[k]]
        r, _, _ = select.select([s, u], [], [], max(0.0, min(waits)) if waits else None)
        for k in range(len(batches)):
            if first[k] is not None and not released[k] and \
                    time.monotonic() >= first[k] + HOLD_TIMEOUT:
                release(k, "timeout")
        if s in r:
            pkt, peer = s.recvfrom(4096)
            q = question(pkt)
            if q is not None:
                k = batch_of(q[1])
                log.write("query %s %s\n" % ("-" if k is None else k, q[1]))
                if k is not None:
                    arrived[k].add(q[1])
                    if first[k] is None:
                        first[k] = time.monotonic()
                peers[q] = peer
                u.sendto(pkt, ("127.0.0.1", upstream_port))
        if u in r:
            pkt, _ = u.recvfrom(65535)
            q = question(pkt)
            peer = peers.pop(q, None) if q is not None else None
            if peer is None:
                continue
            k = batch_of(q[1])
            if k is None:
                s.sendto(pkt, peer)
                continue
            held[k].append((pkt, peer))
            if arrived[k] == batches[k] and len(held[k]) >= len(batches[k]):
                release(k, "full")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: dns_hold.py PORT UPSTREAM_PORT BATCHES_JSON LOG")
    _serve(int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4])
