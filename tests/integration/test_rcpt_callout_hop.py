"""Recipient callouts talk to the next hop the way delivery does (relay/deliver/callout.c,
relay/deliver/hop_opts.c): STARTTLS by the same policy (opportunistic for a relay without
an entry, "required" never falls back to plaintext), the smarthost's AUTH, and failover to
the next MX host or address when one refuses the connection, within the request's deadline
and at most three connections."""
from dns_zone import DnsZone
from postern import Postern
from smtp_sink import SmtpSink
from test_inbound_protection import rcpt
from test_rcpt_callout import KNOWN, UNKNOWN_REPLY, probe_commands

PROFILE = {"inbound": {"direction": "inbound", "deadline": "4s", "checks": {
    "relay_access": {}, "rcpt_verify": {"callout_timeout": "1500ms"}}}}


def sink_for(tmp_path, name="sink", **opts):
    opts.setdefault("rcpt_replies", {KNOWN: "250 2.1.5 Ok"})
    opts.setdefault("rcpt_default", UNKNOWN_REPLY)
    return SmtpSink(tmp_path / name, **opts).start()


def relay_node(tmp_path, redis_socket, sink, transport=None):
    key = "[127.0.0.1]:%d" % sink.port
    over = {
        "redis": {"socket": redis_socket},
        "domains": {"backup.test": {"recipients_callout": True}},
        "transport": dict({"domains": {"backup.test": {"route": "relay:" + key}}},
                          **(transport(key) if transport else {})),
        "policy": {"profiles": PROFILE},
    }
    return Postern(tmp_path, overrides=over).start()


def probe_lines(sink):
    """(line, over TLS) of every MAIL and RCPT the sink saw."""
    return [(line, tls) for c in sink.connections() for _, line, tls in c.commands
            if line.upper().startswith(("MAIL", "RCPT"))]


def test_callout_uses_starttls_when_the_next_hop_offers_it(tmp_path, redis_server, test_ca):
    sink = sink_for(tmp_path, starttls="optional", tls=(test_ca.cert, test_ca.key))
    p = relay_node(tmp_path, redis_server.socket, sink)
    try:
        assert rcpt(p, KNOWN)[0] == 250
        assert rcpt(p, "mallory@backup.test")[0] == 550
        [conn] = sink.connections()          # one TLS connection served both probes
        assert conn.tls_version and conn.plaintext_after_starttls == 0
        lines = probe_lines(sink)
        assert len(lines) == 4 and all(tls for _, tls in lines), lines
        assert "DATA" not in conn.verbs()
        assert ", tls=TLSv1." in p.log() and "result=valid" in p.log()
    finally:
        p.stop()
        sink.stop()


def test_callout_with_required_tls_never_probes_in_plaintext(tmp_path, redis_server, test_ca):
    sink = sink_for(tmp_path)                # offers no STARTTLS
    p = relay_node(tmp_path, redis_server.socket, sink,
                   transport=lambda key: {"relays": {key: {"tls": "required"}}})
    try:
        code, text = rcpt(p, KNOWN)
        assert code == 450 and "4.1.1" in text
        assert probe_lines(sink) == []
        assert "TLS is required, but was not offered" in p.log()
        assert redis_server.cli("EXISTS", "pt:rcpt:{backup.test}:co:" + KNOWN) == "0"
    finally:
        p.stop()
        sink.stop()


def test_callout_with_required_tls_probes_over_a_verified_session(tmp_path, redis_server,
                                                                    test_ca):
    sink = sink_for(tmp_path, starttls="required", tls=(test_ca.cert, test_ca.key))
    p = relay_node(tmp_path, redis_server.socket, sink, transport=lambda key: {
        "ca_file": test_ca.ca_cert, "relays": {key: {"tls": "required", "verify": True}}})
    try:
        assert rcpt(p, KNOWN)[0] == 250
        assert rcpt(p, "mallory@backup.test")[0] == 550
        assert all(tls for _, tls in probe_lines(sink))
    finally:
        p.stop()
        sink.stop()


def test_callout_authenticates_to_a_smarthost_like_delivery(tmp_path, redis_server, test_ca):
    sink = sink_for(tmp_path, starttls="required", tls=(test_ca.cert, test_ca.key),
                    auth_users={"relayuser": "s3cret"})
    p = relay_node(tmp_path, redis_server.socket, sink, transport=lambda key: {
        "ca_file": test_ca.ca_cert,
        "relays": {key: {"tls": "required", "verify": True, "user": "relayuser",
                         "password": "s3cret"}}})
    try:
        assert rcpt(p, KNOWN)[0] == 250
        [conn] = sink.connections()
        assert conn.auth_user == "relayuser" and conn.plaintext_after_starttls == 0
        verbs = conn.verbs()
        assert verbs.index("STARTTLS") < verbs.index("AUTH") < verbs.index("MAIL")
    finally:
        p.stop()
        sink.stop()


def mx_node(tmp_path, redis_socket, port, records, timeout="1500ms"):
    d = tmp_path / "dns"
    d.mkdir()
    zone = DnsZone(d, records=records).start()
    over = {
        "redis": {"socket": redis_socket},
        "dns": {"servers": [zone.address], "timeout": "1s", "tries": 1},
        "transport": {"default": "mx", "mx_port": port, "mx_allow_private": True},
        "domains": {"backup.test": {"recipients_callout": True}},
        "policy": {"profiles": {"inbound": {"direction": "inbound", "deadline": "4s",
                                            "checks": {"relay_access": {}, "rcpt_verify": {
                                                "callout_timeout": timeout}}}}},
    }
    return zone, Postern(tmp_path, overrides=over).start()


def test_callout_fails_over_to_the_next_mx_host(tmp_path, redis_server):
    """The best MX (127.0.0.2) refuses the connection: the second one (the sink on
    127.0.0.1, same port) answers the probe."""
    sink = sink_for(tmp_path)
    zone, p = mx_node(tmp_path, redis_server.socket, sink.port, [
        ("backup.test", "MX", (10, "mx1.backup.test")),
        ("backup.test", "MX", (20, "mx2.backup.test")),
        ("mx1.backup.test", "A", "127.0.0.2"),
        ("mx2.backup.test", "A", "127.0.0.1")])
    try:
        assert rcpt(p, KNOWN)[0] == 250
        assert rcpt(p, "mallory@backup.test")[0] == 550
        assert probe_commands(sink).count("RCPT") == 2
        log = p.log()
        assert "relay=mx1.backup.test[127.0.0.2]:%d, try 1 failed: 451 4.4.1" % sink.port in log
        assert "relay=mx2.backup.test[127.0.0.1]:%d, result=valid" % sink.port in log
    finally:
        p.stop()
        sink.stop()
        zone.stop()


def test_callout_fails_over_to_the_next_address_of_a_host(tmp_path, redis_server):
    """One MX host with two addresses, one dead: whichever order DNS gives them in, the
    probe gets its answer from the live one."""
    sink = sink_for(tmp_path)
    zone, p = mx_node(tmp_path, redis_server.socket, sink.port, [
        ("backup.test", "MX", (10, "mx.backup.test")),
        ("mx.backup.test", "A", "127.0.0.2"),
        ("mx.backup.test", "A", "127.0.0.1")])
    try:
        assert rcpt(p, KNOWN)[0] == 250
        assert rcpt(p, "mallory@backup.test")[0] == 550
    finally:
        p.stop()
        sink.stop()
        zone.stop()


def test_callout_fails_over_from_the_ipv4_to_the_ipv6_address(tmp_path, redis_server):
    """A and AAAA are both looked up, IPv4 first: the dead IPv4 address is tried, then the
    sink on ::1 answers."""
    sink = sink_for(tmp_path, host="::1")
    zone, p = mx_node(tmp_path, redis_server.socket, sink.port, [
        ("backup.test", "MX", (10, "mx.backup.test")),
        ("mx.backup.test", "A", "127.0.0.2"),
        ("mx.backup.test", "AAAA", "::1")])
    try:
        assert rcpt(p, KNOWN)[0] == 250
        log = p.log()
        assert "relay=mx.backup.test[127.0.0.2]:%d, try 1 failed" % sink.port in log, log
        assert "relay=mx.backup.test[::1]:%d, result=valid" % sink.port in log, log
    finally:
        p.stop()
        sink.stop()
        zone.stop()


def test_callout_failover_is_bounded_to_three_connections(tmp_path, redis_server):
    """Four MX hosts that all refuse: three connections are tried, then the recipient is
    deferred (450) well within the stage deadline."""
    sink = sink_for(tmp_path)
    port = sink.port
    sink.stop()
    records = [("backup.test", "MX", (10 * k, "mx%d.backup.test" % k)) for k in range(1, 5)]
    records += [("mx%d.backup.test" % k, "A", "127.0.0.%d" % (k + 1)) for k in range(1, 5)]
    zone, p = mx_node(tmp_path, redis_server.socket, port, records)
    try:
        code, text = rcpt(p, KNOWN)
        assert code == 450 and "4.1.1" in text
        log = p.log()
        assert "try 3 failed" in log and "try 4" not in log
        assert "(3 tries)" in log and "127.0.0.5" not in log
    finally:
        p.stop()
        zone.stop()


def test_callout_fails_over_when_the_best_mx_times_out_at_connect(tmp_path, redis_server):
    """The best MX (127.0.0.2) never completes the TCP handshake (a listener whose accept
    queue is full drops the SYN): its connect is cut at a third of callout_timeout, which
    leaves the second MX the time to answer within the deadline."""
    import socket
    sink = sink_for(tmp_path)
    black = socket.socket()
    black.bind(("127.0.0.2", sink.port))
    black.listen(0)
    fill = []
    for _ in range(2):                       # fill the accept queue: later SYNs are dropped
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.2", sink.port))
        fill.append(s)
    zone, p = mx_node(tmp_path, redis_server.socket, sink.port, [
        ("backup.test", "MX", (10, "mx1.backup.test")),
        ("backup.test", "MX", (20, "mx2.backup.test")),
        ("mx1.backup.test", "A", "127.0.0.2"),
        ("mx2.backup.test", "A", "127.0.0.1")], timeout="3s")
    try:
        assert rcpt(p, KNOWN)[0] == 250
        log = p.log()
        assert "relay=mx1.backup.test[127.0.0.2]:%d, try 1 failed: 451 4.4.1 connect to " \
               "mx1.backup.test[127.0.0.2]:%d: timed out" % (sink.port, sink.port) in log, log
        assert "relay=mx2.backup.test[127.0.0.1]:%d, result=valid" % sink.port in log
    finally:
        p.stop()
        sink.stop()
        zone.stop()
        for s in fill:
            s.close()
        black.close()
