"""PROXY protocol v1/v2 on a listener (proxy_protocol: true): the client address the
header names is the one in logs, Received:, policy (relay access) and the per-IP
connection limit; nothing is sent before the header; a connection from outside
proxy_networks, a garbled or missing header, or one that arrives too slowly is closed
without a reply and logged. Connections waiting for their header count against the total
and the listener's connection limits (not the per-IP one) until they send it, close or
time out."""
import os
import socket
import struct
import subprocess
import time

import pytest

from conftest import BUILD, free_port, wait_for
from postern import Postern, Raw, message, queued_id
from test_admin_http import get, parse_prometheus, value

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst="198.51.100.1", sport=40000, dport=25):
    proto = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport, dport)).encode()


def v2(src=None, dst=None, sport=40000, dport=25, tlvs=b""):
    if src is None:                                   # LOCAL: a balancer's health check
        return V2_SIG + b"\x20\x00" + struct.pack("!H", len(tlvs)) + tlvs
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    body = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) +
            struct.pack("!HH", sport, dport) + tlvs)
    return (V2_SIG + b"\x21" + (b"\x21" if fam == socket.AF_INET6 else b"\x11") +
            struct.pack("!H", len(body)) + body)


def proxy_listener(**extra):
    lst = {"proxy_protocol": True, "proxy_networks": ["127.0.0.1"], "proxy_timeout": "1s"}
    lst.update(extra)
    return lst


@pytest.fixture
def server(tmp_path):
    p = Postern(tmp_path, overrides={
        "relay": {"trusted_networks": ["192.0.2.0/24"]},
        "limits": {"connections_per_ip": 1}})
    p.config["listeners"][0].update(proxy_listener())
    p.write_config()
    p.start(wait=False)   # its probes would be refused: no "disconnect from" to wait for
    wait_for(lambda: "PROXY protocol)" in p.log() or p.proc.poll() is not None,
             what="the listener")
    assert p.proc.poll() is None, p.log()
    yield p
    p.stop()


def deliver(r, rcpt="b@example.test"):
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    code, lines = r.cmd("RCPT TO:<%s>" % rcpt)
    if code != 250:
        return code, lines
    assert r.cmd("DATA")[0] == 354
    r.send(message() + "\r\n.\r\n")
    return r.reply()


def received(server, lines):
    _, msg = server.read_queue_file(queued_id(lines))
    return msg.split(b"\r\n\r\n", 1)[0].decode()


def test_proxy_v1_client_address_in_log_and_received(server):
    r = Raw(server.port)
    r.send(v1("192.0.2.7"))
    code, _ = r.reply()
    assert code == 220
    code, lines = deliver(r)
    assert code == 250
    assert "[192.0.2.7])" in received(server, lines)
    log = server.log()
    assert "connect from unknown[192.0.2.7]" in log
    assert "client=unknown[192.0.2.7]" in log
    assert "PROXY v1 from [127.0.0.1]: client [192.0.2.7]" in log


def test_proxy_v2_ipv6_with_tlvs(server):
    r = Raw(server.port)
    tlvs = b"\x01\x00\x04smtp" + b"\x05\x00\x03abc"  # ALPN, unique ID: skipped
    r.send(v2("2001:db8::42", "2001:db8::1", tlvs=tlvs))
    assert r.reply()[0] == 220
    code, lines = deliver(r)
    assert code == 250
    assert "[IPv6:2001:db8::42])" in received(server, lines)


def test_proxy_v2_local_keeps_the_balancer_address(server):
    r = Raw(server.port)
    r.send(v2())
    assert r.reply()[0] == 220
    assert "PROXY v2 from [127.0.0.1]: client [127.0.0.1] (LOCAL" in server.log()
    assert r.cmd("QUIT")[0] == 221


def test_proxy_nothing_is_sent_before_the_header(server):
    r = Raw(server.port)
    r.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        r.sock.recv(100)
    r.sock.settimeout(10)
    hdr = v1("192.0.2.8")
    r.send(hdr[:10])                 # split: the rest later
    time.sleep(0.1)
    r.send(hdr[10:] + b"EHLO early.example\r\n")   # pipelined right after the header
    assert r.reply()[0] == 220
    assert r.reply()[0] == 250


def test_proxy_relay_access_uses_the_proxied_client(server):
    r = Raw(server.port)
    r.send(v1("192.0.2.9"))          # in relay.trusted_networks
    r.reply()
    code, _ = deliver(r, rcpt="someone@elsewhere.example")
    assert code == 250
    r = Raw(server.port)
    r.send(v1("203.0.113.9"))        # not trusted
    r.reply()
    code, lines = deliver(r, rcpt="someone@elsewhere.example")
    assert code == 554 and "Relay access denied" in lines[0]


def test_proxy_connection_limit_counts_the_proxied_client(server):
    a = Raw(server.port)
    a.send(v1("192.0.2.10"))
    assert a.reply()[0] == 220
    b = Raw(server.port)
    b.send(v1("192.0.2.11"))         # another client behind the same balancer
    assert b.reply()[0] == 220
    c = Raw(server.port)
    c.send(v1("192.0.2.10"))         # connections_per_ip is 1
    code, lines = c.reply()
    assert code == 421 and "192.0.2.10" in lines[0]


def test_proxy_from_a_non_balancer_is_refused(server):
    r = Raw(server.port, source="127.0.0.2")
    r.send(v1("192.0.2.7"))
    assert r.closed()
    assert r.buf == b""
    assert "connection from [127.0.0.2] refused: not in proxy_networks" in server.log()


@pytest.mark.parametrize("first,why", [
    (b"EHLO client.example\r\n", "not a PROXY header"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 99999 25\r\n", "v1: bad source port"),
    (V2_SIG + b"\x21\x11\x00\x0c" + b"\x00" * 8, None),   # cut short, then EOF
])
def test_proxy_garbled_or_missing_header_is_refused(server, first, why):
    r = Raw(server.port)
    r.send(first)
    if why is None:
        r.sock.shutdown(socket.SHUT_WR)
        why = "missing (connection closed)"
    assert r.closed()
    assert r.buf == b""
    wait_for(lambda: "PROXY header " + why in server.log(), what="the refusal logged")


def test_proxy_slow_header_is_refused(server):
    r = Raw(server.port)
    r.send(b"PROXY TCP4 192.0.2.7 ")
    assert r.closed(timeout=5)       # proxy_timeout is 1s
    assert r.buf == b""
    assert "PROXY header not received in time" in server.log()


def test_proxy_config_needs_balancers(tmp_path):
    p = Postern(tmp_path)
    p.config["listeners"][0].update({"proxy_protocol": True})
    p.write_config()
    out = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "proxy_networks" in out.stdout + out.stderr
    p.config["listeners"][0].update({"proxy_networks": ["10.0.0.0/33"]})
    p.write_config()
    out = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "bad network" in out.stdout + out.stderr


def test_proxy_header_before_implicit_tls(tmp_path, test_ca):
    """The header is read exactly: the TLS ClientHello right behind it stays intact."""
    p = Postern(tmp_path, test_ca)
    for lst in p.config["listeners"]:
        lst.update(proxy_listener())
    p.write_config()
    p.start(wait=False)
    wait_for(lambda: p.log().count("PROXY protocol)") == 3 or p.proc.poll() is not None,
             what="the listeners")
    try:
        r = Raw(p.ports["submissions"])
        r.send(v2("192.0.2.77", "198.51.100.1", dport=465))
        r.starttls()                          # the handshake right after the header
        code, lines = r.reply()
        assert code == 220
        assert r.cmd("EHLO client.example")[0] == 250
        wait_for(lambda: "Anonymous TLS connection established from unknown[192.0.2.77]"
                 in p.log(), what="the TLS log line")
    finally:
        p.stop()


def proxy_server_with_metrics(tmp_path, limits, listener=None):
    """A PROXY listener (proxy_timeout 1s) with the given limits and the admin HTTP
    listener; returns (server, admin port)."""
    admin = free_port()
    p = Postern(tmp_path, overrides={"limits": limits,
                                     "admin": {"http": {"address": "127.0.0.1:%d" % admin}}})
    p.config["listeners"][0].update(proxy_listener(**(listener or {})))
    p.write_config()
    p.start(wait=False)   # no probes: they would wait for a header
    wait_for(lambda: "PROXY protocol)" in p.log() or p.proc.poll() is not None,
             what="the listener")
    assert p.proc.poll() is None, p.log()
    wait_for(lambda: p._accepts("127.0.0.1", admin), what="the admin listener")
    return p, admin


def metric(admin, name, **labels):
    code, _, body = get(admin, "/metrics")
    assert code == 200
    return value(parse_prometheus(body), name, **labels)


def test_proxy_waiting_connections_count_against_the_limit(tmp_path):
    """Connections that have not sent their PROXY header hold places in limits.connections:
    a flood of silent ones cannot bypass it. Over the limit, the next connection gets
    421 4.7.0 at once; when the silent ones time out, their places are free again."""
    p, admin = proxy_server_with_metrics(tmp_path, {"connections": 3})
    waiting = lambda: metric(admin, "postern_connections_proxy_waiting", listener="mx")
    try:
        silent = [Raw(p.port) for _ in range(3)]
        wait_for(lambda: waiting() == 3, what="3 connections waiting")
        extra = Raw(p.port)
        code, lines = extra.reply()
        assert code == 421 and "4.7.0" in lines[0] and "too many connections" in lines[0]
        assert extra.closed()
        assert "connection limit 3 reached (0 sessions, 3 waiting for a PROXY header)" \
            in p.log()
        assert metric(admin, "postern_connections_refused_total", listener="mx",
                      reason="connections") == 1
        assert metric(admin, "postern_smtp_replies_total", stage="connect",
                      **{"class": "4xx"}) == 1
        for r in silent:                          # proxy_timeout is 1s
            assert r.closed(timeout=5) and r.buf == b""
        wait_for(lambda: waiting() == 0, what="the waiting count back to 0")
        assert metric(admin, "postern_connections_refused_total", listener="mx",
                      reason="proxy_header") == 3
        # a session and two waiting connections fill it too; each place is given back once
        a = Raw(p.port)
        a.send(v1("192.0.2.20"))
        assert a.reply()[0] == 220
        silent = [Raw(p.port) for _ in range(2)]
        wait_for(lambda: waiting() == 2, what="2 connections waiting")
        extra = Raw(p.port)
        assert extra.reply()[0] == 421
        extra.close()
        silent[0].send(v1("192.0.2.21"))         # its header: from waiting to a session
        assert silent[0].reply()[0] == 220
        silent[1].close()                         # EOF before the header
        wait_for(lambda: waiting() == 0, what="the waiting count back to 0")
        assert metric(admin, "postern_connections_open", listener="mx") == 2
        b = Raw(p.port)                           # the third place is free again
        b.send(v1("192.0.2.22"))
        assert b.reply()[0] == 220
        for r in (a, silent[0], b):
            assert r.cmd("QUIT")[0] == 221
            r.close()
        wait_for(lambda: metric(admin, "postern_connections_open", listener="mx") == 0,
                 what="sessions gone")
        assert waiting() == 0
    finally:
        p.stop()


def test_proxy_waiting_connections_count_against_the_listener_limit(tmp_path):
    """The listener's own limit (listeners[].connections) counts them as well; the per-IP
    limit does not (the address is the balancer's until the header names the client)."""
    p, admin = proxy_server_with_metrics(tmp_path, {"connections": 100,
                                                    "connections_per_ip": 1},
                                         listener={"connections": 2})
    try:
        silent = [Raw(p.port) for _ in range(2)]  # both from the balancer's one address
        wait_for(lambda: metric(admin, "postern_connections_proxy_waiting",
                                listener="mx") == 2, what="2 connections waiting")
        extra = Raw(p.port)
        code, lines = extra.reply()
        assert code == 421 and "too many connections" in lines[0]
        assert metric(admin, "postern_connections_refused_total", listener="mx",
                      reason="listener_connections") == 1
        assert "connection limit 2 of listener mx reached (0 sessions, 2 waiting" in p.log()
        for r in silent:
            r.close()
        wait_for(lambda: metric(admin, "postern_connections_proxy_waiting",
                                listener="mx") == 0, what="the waiting count back to 0")
    finally:
        p.stop()
