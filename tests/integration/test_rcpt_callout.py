"""Recipient verification by callout (domains.D.recipients_callout) through the daemon:
the next hop of backup.test is a test SMTP server (smtp_sink.py) that knows some
addresses; Postern probes it with MAIL FROM:<> and RCPT (never DATA), caches the answers in
Redis with their TTLs (shortened here), defers on temporary failures and on a next hop that
hangs (within the stage deadline), and learns valid recipients from successful deliveries."""
import time

from conftest import wait_for
from postern import Postern
from smtp_sink import SmtpSink
from test_inbound_protection import rcpt

KNOWN = "bob@backup.test"
UNKNOWN_REPLY = "550 5.1.1 <x>: Recipient address rejected: User unknown in relay table"


def sink_for(tmp_path, **opts):
    opts.setdefault("rcpt_replies", {KNOWN: "250 2.1.5 Ok"})
    opts.setdefault("rcpt_default", UNKNOWN_REPLY)
    return SmtpSink(tmp_path / "sink", **opts).start()


def node(tmp_path, redis_socket, sink, domain=None, verify=None, queue=None):
    over = {
        "redis": {"socket": redis_socket},
        "domains": {"backup.test": dict({"recipients_callout": True}, **(domain or {}))},
        "transport": {"domains": {"backup.test": {"route": "relay:[127.0.0.1]:%d" % sink.port}}},
        "policy": {"profiles": {"inbound": {"direction": "inbound", "deadline": "4s", "checks": {
            "relay_access": {}, "rcpt_verify": dict({"callout_timeout": "1s"}, **(verify or {}))}}}},
    }
    if queue:
        over["queue"] = queue
    return Postern(tmp_path, overrides=over).start()


def probe_commands(sink):
    return [cmd for c in sink.connections() for cmd in c.verbs()]


def test_callout_accepts_known_and_refuses_unknown_recipients_and_caches_both(
        tmp_path, redis_server):
    sink = sink_for(tmp_path)
    p = node(tmp_path, redis_server.socket, sink)
    try:
        assert rcpt(p, KNOWN)[0] == 250
        code, text = rcpt(p, "mallory@backup.test")
        assert code == 550 and "5.1.1 <mallory@backup.test>: Recipient address rejected: " \
                               "User unknown" in text
        verbs = probe_commands(sink)
        assert "DATA" not in verbs and verbs.count("RCPT") == 2
        mails = [line for conn in sink.connections() for _, line, _ in conn.commands
                 if line.upper().startswith("MAIL")]
        assert mails and all(m.upper().startswith("MAIL FROM:<>") for m in mails), mails
        # one connection served both probes (RSET between them)
        assert len(sink.connections()) == 1 and "RSET" in verbs
        # both answers are cached: no third probe
        assert rcpt(p, KNOWN)[0] == 250
        assert rcpt(p, "mallory@backup.test")[0] == 550
        assert probe_commands(sink).count("RCPT") == 2
        assert redis_server.cli("GET", "pt:rcpt:{backup.test}:co:bob@backup.test") == "1"
        assert redis_server.cli("GET", "pt:rcpt:{backup.test}:co:mallory@backup.test") == "0"
        ttl_valid = int(redis_server.cli("PTTL", "pt:rcpt:{backup.test}:co:bob@backup.test"))
        ttl_invalid = int(redis_server.cli("PTTL",
                                           "pt:rcpt:{backup.test}:co:mallory@backup.test"))
        assert 6 * 86400000 < ttl_valid <= 7 * 86400000
        assert 2 * 3600000 < ttl_invalid <= 3 * 3600000
        wait_for(lambda: "callout" in p.log() and "result=invalid" in p.log(), what="log")
    finally:
        p.stop()
        sink.stop()


def test_a_temporary_callout_failure_defers_and_is_not_cached(tmp_path, redis_server):
    sink = sink_for(tmp_path, rcpt_replies={"carol@backup.test": "451 4.3.0 try later"})
    p = node(tmp_path, redis_server.socket, sink)
    try:
        code, text = rcpt(p, "carol@backup.test")
        assert code == 450 and "4.1.1 <carol@backup.test>: Recipient address rejected: " \
                               "cannot verify the address now" in text
        assert redis_server.cli("EXISTS", "pt:rcpt:{backup.test}:co:carol@backup.test") == "0"
        # a MAIL FROM:<> refusal is not about the recipient: never a 5xx either
        sink.opt["mail_reply"] = "550 5.7.1 no null senders"
        assert rcpt(p, "dave@backup.test")[0] == 450
    finally:
        p.stop()
        sink.stop()


def test_unsure_accept_takes_the_recipient_when_the_callout_fails(tmp_path, redis_server):
    sink = sink_for(tmp_path, rcpt_default="421 4.3.2 going down")
    p = node(tmp_path, redis_server.socket, sink, domain={"recipients_unsure": "accept"})
    try:
        assert rcpt(p, "erin@backup.test")[0] == 250
    finally:
        p.stop()
        sink.stop()


def test_a_next_hop_that_hangs_defers_within_the_stage_deadline(tmp_path, redis_server):
    sink = sink_for(tmp_path, stall="rcpt")
    p = node(tmp_path, redis_server.socket, sink)
    try:
        code, text = rcpt(p, KNOWN)
        assert code == 450 and "4.1.1" in text
        assert "no answer from the next hop in time" in p.log()
    finally:
        p.stop()
        sink.stop()


def test_no_next_hop_at_all_defers(tmp_path, redis_server):
    sink = sink_for(tmp_path)
    port = sink.port
    sink.stop()                       # nothing listens there any more
    p = node(tmp_path, redis_server.socket, sink)
    try:
        assert sink.port == port
        assert rcpt(p, KNOWN)[0] == 450
    finally:
        p.stop()


def test_cached_answers_expire_after_their_ttl(tmp_path, redis_server):
    sink = sink_for(tmp_path)
    p = node(tmp_path, redis_server.socket, sink,
             verify={"callout_invalid_ttl": "1s", "callout_valid_ttl": "1s"})
    try:
        assert rcpt(p, "frank@backup.test")[0] == 550
        sink.opt["rcpt_replies"]["frank@backup.test"] = "250 2.1.5 Ok"   # created meanwhile
        assert rcpt(p, "frank@backup.test")[0] == 550                     # cached
        time.sleep(1.1)
        assert rcpt(p, "frank@backup.test")[0] == 250                     # asked again
        assert probe_commands(sink).count("RCPT") == 2
    finally:
        p.stop()
        sink.stop()


def test_a_successful_delivery_makes_the_recipient_known(tmp_path, redis_server):
    sink = sink_for(tmp_path, rcpt_default="250 2.1.5 Ok")
    over = {
        "redis": {"socket": redis_server.socket},
        "queue": {"paused": False, "retry_min": "1s", "retry_max": "2s"},
        "domains": {"example.test": {"recipients_learned": True,
                                     "recipients_unsure": "accept"}},
        "transport": {"domains": {"example.test": {"route": "relay:[127.0.0.1]:%d" % sink.port}}},
    }
    p = Postern(tmp_path, overrides=over).start()
    key = "pt:rcpt:{example.test}:learned"
    try:
        assert redis_server.cli("SISMEMBER", key, "gina@example.test") == "0"
        assert rcpt(p, "gina@example.test", data="Subject: hi\n\nhello")[0] == 250
        sink.wait_messages(1)
        wait_for(lambda: redis_server.cli("SISMEMBER", key, "gina@example.test") == "1",
                 what="the delivered recipient learned")
    finally:
        p.stop()
        sink.stop()


def test_primary_down_lets_cached_answers_decide_and_mx_callouts_resume(tmp_path, redis_server):
    """backup.test's primary (its MX, the sink) refuses connections with a 421 greeting: the
    backup-MX probe finds it down, and callouts stop: a cached valid recipient passes, any
    other is deferred without a connection. When the primary is back, the callout goes
    to it through the MX lookup again."""
    from dns_zone import DnsZone
    d = tmp_path / "dns"
    d.mkdir()
    zone = DnsZone(d, records=[("backup.test", "MX", (10, "primary.backup.test")),
                               ("primary.backup.test", "A", "127.0.0.1")]).start()
    sink = sink_for(tmp_path, greeting="421 4.3.2 primary down for the test")
    over = {
        "redis": {"socket": redis_server.socket},
        "dns": {"servers": [zone.address], "timeout": "1s", "tries": 1},
        "transport": {"default": "mx", "mx_port": sink.port, "mx_allow_private": True},
        "queue": {"backup_probe_interval": "300ms"},
        "domains": {"backup.test": {"recipients_callout": True}},
        "policy": {"profiles": {"inbound": {"direction": "inbound", "checks": {
            "relay_access": {}, "rcpt_verify": {"callout_timeout": "2s"}}}}},
    }
    p = Postern(tmp_path, overrides=over).start()
    try:
        wait_for(lambda: "event backup.primary_down " in p.log(), what="primary down")
        redis_server.cli("SET", "pt:rcpt:{backup.test}:co:bob@backup.test", "1")
        assert rcpt(p, KNOWN)[0] == 250
        code, text = rcpt(p, "henry@backup.test")
        assert code == 450 and "4.1.1" in text
        assert "the primary MX of backup.test is down" in p.log()
        assert probe_commands(sink).count("RCPT") == 0
        sink.opt["greeting"] = "220 primary.backup.test ESMTP"
        wait_for(lambda: "event backup.primary_up " in p.log(), what="primary up")
        assert rcpt(p, "henry@backup.test")[0] == 550
        assert probe_commands(sink).count("RCPT") == 1
    finally:
        p.stop()
        sink.stop()
        zone.stop()


def test_harvest_guard_tarpits_the_network(tmp_path, redis_server):
    """After the guard closes a harvesting client (421 4.7.0), RCPTs from its /24 are
    slowed for the window (a log line says so; the reply still comes); another /24 is
    not."""
    from postern import Raw
    (tmp_path / "users.txt").write_text("bob\n")
    over = {
        "redis": {"socket": redis_server.socket},
        "domains": {"example.test": {"recipients_file": str(tmp_path / "users.txt")}},
        "policy": {"profiles": {"inbound": {"direction": "inbound", "checks": {
            "relay_access": {},
            "rcpt_verify": {"harvest_limit": 2, "harvest_tarpit": "300ms"}}}}},
    }
    p = Postern(tmp_path, overrides=over).start()
    try:
        r = Raw(p.port)
        r.reply()
        r.cmd("EHLO harvester.example")
        r.cmd("MAIL FROM:<x@harvester.example>")
        codes = [r.cmd("RCPT TO:<u%d@example.test>" % k)[0] for k in range(3)]
        assert codes == [550, 550, 421], codes
        assert r.closed()
        r.close()
        tarpit = "is in a tarpit (harvesting network)"
        assert rcpt(p, "bob@example.test")[0] == 250          # 127.0.0.1 itself
        r = Raw(p.port, source="127.0.0.9")                     # the same /24
        r.reply()
        r.cmd("EHLO neighbour.example")
        r.cmd("MAIL FROM:<y@neighbour.example>")
        assert r.cmd("RCPT TO:<bob@example.test>")[0] == 250
        r.close()
        assert p.log().count(tarpit) == 2
        r = Raw(p.port, source="127.0.1.9")                     # another /24
        r.reply()
        r.cmd("EHLO other.example")
        r.cmd("MAIL FROM:<z@other.example>")
        assert r.cmd("RCPT TO:<bob@example.test>")[0] == 250
        r.close()
        assert p.log().count(tarpit) == 2
        [ev] = p.events("recipient.harvest")
        assert ev["client_ip"] == "127.0.0.1" and ev["unknown_recipients"] == 3
        assert "unknown event type" not in p.log()
    finally:
        p.stop()
