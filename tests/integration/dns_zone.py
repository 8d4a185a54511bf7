"""Test DNS servers on loopback for integration tests.

DnsZone   dnsmasq (Debian dnsmasq-base) in the foreground on 127.0.0.1:<free port>,
          serving test zones from a list of records. Unknown names under the local zones
          (default: test, in-addr.arpa, ip6.arpa) answer NXDOMAIN; any other name is
          REFUSED, so nothing is ever forwarded off the machine. Every query is logged,
          and query_count() reads that log (to prove that a cache did not ask again).
Blackhole a UDP+TCP server that never answers (timeout tests).
RcodeServer a UDP server that answers every query with one fixed rcode (SERVFAIL tests).

All of them run as child processes, are stopped by PID, and keep their files in the
directory given. Fixtures for test modules: `from dns_zone import dns_server, dns_blackhole`
(dns_server: a DnsZone with DEFAULT_RECORDS; its .address goes into dns.servers).

Records: a list of (name, type, data) tuples, or a dict {name: [(type, data), ...]}.
    ("example.test", "MX", (10, "mx1.example.test"))      preference, exchange
    ("nullmx.test", "MX", (0, "."))                       null MX (RFC 7505)
    ("mx1.example.test", "A", "192.0.2.10")               also answers the PTR
    ("mx1.example.test", "AAAA", "2001:db8::10")          also answers the PTR
    ("example.test", "TXT", "v=spf1 -all")                one RR, one string
    ("multi.test", "TXT", ["part one ", "part two"])      one RR, several strings
    ("www.example.test", "CNAME", "mx1.example.test")     target must be a known name
    ("11.2.0.192.in-addr.arpa", "PTR", "mx2.example.test")
    ("x.test", "RAW", (15, "000000"))                     any RR: type number, hex rdata
Every record gets the zone's ttl (dnsmasq's local-ttl; default 3600).

Run as a script for the child processes: `dns_zone.py blackhole PORT`,
`dns_zone.py rcode PORT RCODE`.
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

READY_LINE = "ready"
START_TIMEOUT = 10.0
START_ATTEMPTS = 5
PROBE_NAME = "postern-probe.invalid"
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
RCODE_NOERROR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_REFUSED = 0, 2, 3, 5
DNS_PORT_UDP_MAX = 512

DEFAULT_RECORDS = [
    # MX listed out of order on purpose: the resolver must sort them.
    ("example.test", "MX", (20, "mx2.example.test")),
    ("example.test", "MX", (10, "mx1.example.test")),
    ("example.test", "MX", (30, "mx3.example.test")),
    ("mx1.example.test", "A", "192.0.2.10"),
    ("mx1.example.test", "AAAA", "2001:db8::10"),
    ("mx2.example.test", "A", "192.0.2.11"),
    ("mx3.example.test", "A", "192.0.2.12"),
    ("multi.example.test", "A", "192.0.2.20"),
    ("multi.example.test", "A", "192.0.2.21"),
    ("www.example.test", "CNAME", "mx1.example.test"),
    ("nullmx.test", "MX", (0, ".")),
    ("example.test", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
    ("_dmarc.example.test", "TXT", "v=DMARC1; p=reject"),
    ("multi.example.test", "TXT", ["v=DKIM1; k=rsa; ", "p=MIGfMA0GCSq"]),
    ("multi.example.test", "TXT", "second record"),
    ("2.0.0.127.zen.test", "A", "127.0.0.2"),
    ("2.0.0.127.zen.test", "TXT", "listed: see https://example.test/2"),
    ("4.3.2.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.test", "A",
     "127.0.0.4"),
    ("20.2.0.192.in-addr.arpa", "PTR", "multi.example.test"),
    ("20.2.0.192.in-addr.arpa", "PTR", "alias.example.test"),
]


def udp_tcp_port():
    """A port free on 127.0.0.1 for both UDP and TCP right now."""
    while True:
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _encode_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.strip(".").split(".") if l) \
        + b"\0"


def query(port, name, qtype="A", timeout=1.0):
    """Send one query over UDP; return (rcode, ancount), or None when nothing answers."""
    pkt = struct.pack(">HHHHHH", 0x5054, 0x0100, 1, 0, 0, 0) + _encode_name(name) \
        + struct.pack(">HH", QTYPES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(pkt, ("127.0.0.1", port))
        try:
            r = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None
    flags, ancount = struct.unpack(">H", r[2:4])[0], struct.unpack(">H", r[6:8])[0]
    return flags & 0xF, ancount


def _normalize_records(records):
    if isinstance(records, dict):
        return [(name, t, d) for name, rrs in records.items() for (t, d) in rrs]
    return list(records)


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _conf_line(name, rtype, data):
    """One dnsmasq config line for a record."""
    rtype = rtype.upper()
    if rtype == "MX":
        pref, host = data
        if host.strip(".") == "":
            return "dns-rr=%s,%d,%04x00" % (name, QTYPES["MX"], pref)
        return "mx-host=%s,%s,%d" % (name, host, pref)
    if rtype in ("A", "AAAA"):
        return "host-record=%s,%s" % (name, data)
    if rtype == "TXT":
        parts = [data] if isinstance(data, str) else list(data)
        return "txt-record=%s,%s" % (name, ",".join(_quote(p) for p in parts))
    if rtype == "CNAME":
        return "cname=%s,%s" % (name, data)
    if rtype == "PTR":
        return "ptr-record=%s,%s" % (name, data)
    if rtype == "RAW":
        number, hexdata = data
        return "dns-rr=%s,%d,%s" % (name, number, hexdata)
    raise ValueError("unsupported record type " + rtype)


class DnsZone:
    """dnsmasq serving test zones on 127.0.0.1:<port>, stopped by PID."""

    def __init__(self, directory, records=None, ttl=3600,
                 local_zones=("test", "in-addr.arpa", "ip6.arpa")):
        self.dir = str(directory)
        self.records = _normalize_records(DEFAULT_RECORDS if records is None else records)
        self.ttl = ttl
        self.local_zones = local_zones
        self.conf = os.path.join(self.dir, "dnsmasq.conf")
        self.log = os.path.join(self.dir, "dnsmasq.log")
        self.port = None
        self.proc = None

    @property
    def address(self):
        """The server as "127.0.0.1:PORT" (the dns.servers syntax)."""
        return "127.0.0.1:%d" % self.port

    def _write_conf(self):
        lines = ["port=%d" % self.port, "listen-address=127.0.0.1", "bind-interfaces",
                 "no-resolv", "no-hosts", "no-poll", "keep-in-foreground", "pid-file=",
                 "log-queries", "log-facility=" + self.log, "local-ttl=%d" % self.ttl]
        if os.geteuid() == 0:
            lines.append("user=root")
        lines += ["local=/%s/" % z for z in self.local_zones]
        lines += [_conf_line(*r) for r in self.records]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _try_start(self):
        self.port = udp_tcp_port()
        self._write_conf()
        self.proc = subprocess.Popen(["dnsmasq", "--conf-file=" + self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if query(self.port, PROBE_NAME, timeout=0.2) is not None:
                return True
        raise AssertionError("dnsmasq did not answer on " + self.address)

    def start(self):
        if shutil.which("dnsmasq") is None:
            pytest.fail("required test tool missing: dnsmasq (apt-get install dnsmasq-base)")
        for _ in range(START_ATTEMPTS):
            if self._try_start():
                return self
        err = self.proc.stderr.read().decode(errors="replace")
        raise AssertionError("dnsmasq did not start: " + err)

    def query_count(self, name=None, qtype=None):
        """Queries dnsmasq has logged, for one name and/or type (case-insensitive)."""
        try:
            with open(self.log, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return 0
        n = 0
        for m in re.finditer(r"query\[(\w+)\] (\S+) from", text):
            if qtype is not None and m.group(1) != qtype:
                continue
            if name is not None and m.group(2).lower() != name.lower().rstrip("."):
                continue
            n += 1
        return n

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None


class _ScriptServer:
    """This file run as a child process in one of its server modes."""

    def __init__(self, *args):
        self.args = [str(a) for a in args]
        self.port = None
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.port = udp_tcp_port()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)]
                                     + self.args[:1] + [str(self.port)] + self.args[1:],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if line != READY_LINE:
            self.stop()
            raise AssertionError("test DNS server did not start: %r" % line)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


class Blackhole(_ScriptServer):
    """Binds UDP and TCP on 127.0.0.1:<port> and never answers."""

    def __init__(self):
        super().__init__("blackhole")


class RcodeServer(_ScriptServer):
    """Answers every UDP query with the given rcode and no records."""

    def __init__(self, rcode=RCODE_SERVFAIL):
        super().__init__("rcode", rcode)


def _serve_blackhole(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", port))
    t.listen(64)
    print(READY_LINE, flush=True)
    while True:
        time.sleep(3600)


def _serve_rcode(port, rcode):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    print(READY_LINE, flush=True)
    while True:
        pkt, peer = u.recvfrom(DNS_PORT_UDP_MAX)
        if len(pkt) < 12:
            continue
        qid, flags, qdcount = struct.unpack(">HHH", pkt[:6])
        rd = flags & 0x0100
        header = struct.pack(">HHHHHH", qid, 0x8000 | rd | 0x0080 | rcode, qdcount, 0, 0, 0)
        u.sendto(header + pkt[12:], peer)


@pytest.fixture
def dns_server(tmp_path):
    """dnsmasq with DEFAULT_RECORDS (TTL 3600)."""
    d = tmp_path / "dns"
    d.mkdir()
    z = DnsZone(d).start()
    yield z
    z.stop()


@pytest.fixture
def dns_blackhole():
    b = Blackhole().start()
    yield b
    b.stop()


if __name__ == "__main__":
    if sys.argv[1] == "blackhole":
        _serve_blackhole(int(sys.argv[2]))
    elif sys.argv[1] == "rcode":
        _serve_rcode(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: dns_zone.py blackhole PORT | rcode PORT RCODE")
