"""Delivery out of the queue: the queue runner, routing, retries, DSNs, maildir, LMTP, SMTP.

The real daemon delivers to smtp_sink.py (SMTP and LMTP, TCP and unix socket) and to
Maildirs in the test's temp dir; MX routing uses a dnsmasq test zone whose MX hosts all
live on loopback (transport.mx_port points MX deliveries at the sink's port; 127.0.0.2
refuses, because the sink binds 127.0.0.1 only). Queue timings are shortened to seconds.
Every message is injected over SMTP into the inbound listener, with 127.0.0.1 allowed to
relay (relay.trusted_networks), and each test checks the Postfix-shaped log lines.
"""
import base64
import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD, free_port, wait_for
from dns_zone import DnsZone
from postern import Postern, Raw, deep_merge, queued_id, send_raw_message
from smtp_sink import SmtpSink

FAST_QUEUE = {"retry_min": "1s", "retry_max": "2s", "paused": False}
WAIT_S = 15
HOSTNAME = "mx.test.example"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# the fields of message.bounced / message.deferred (docs/webhooks.md) for inbound mail
OUTCOME_FIELDS = ["attempts", "code", "enhanced_code", "listener", "queue_id", "queued_at",
                  "recipient", "relay", "remote_host", "remote_ip", "sender", "text"]


_started = []


@pytest.fixture(autouse=True)
def _no_leftover_daemons():
    """A test that fails half-way still leaves no daemon running."""
    yield
    while _started:
        p = _started.pop()
        if p.proc is not None and p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def postern(tmp_path, overrides=None, ca=None, start=True):
    base = {"relay": {"trusted_networks": ["127.0.0.1/32"]}, "queue": dict(FAST_QUEUE)}
    p = Postern(tmp_path, ca, deep_merge(base, overrides or {}))
    _started.append(p)
    return p.start() if start else p


def relay_to(sink):
    return "relay:[127.0.0.1]:%d" % sink.port


def message(subject="test", body="hello\r\n", sender="a@example.org", to="b@remote.test"):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@client.test>\r\n\r\n%s"
            % (sender, to, subject, subject.replace(" ", "."), body))


def send(p, rcpts, sender="a@example.org", data=None, subject="test"):
    """Inject one message; returns its queue ID."""
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        code, lines = send_raw_message(r, rcpts=rcpts, sender=sender,
                                       data=data if data is not None else
                                       message(subject, sender=sender or "x@y", to=rcpts[0]))
        assert code == 250, lines
        r.cmd("QUIT")
        return queued_id(lines)
    finally:
        r.close()


def wait_log(p, pattern, count=1, timeout=WAIT_S):
    rx = re.compile(pattern)
    wait_for(lambda: len(rx.findall(p.log())) >= count, timeout=timeout,
             what="log %r x%d in:\n%s" % (pattern, count, p.log()[-3000:]))
    return rx.findall(p.log())


def wait_gone(p, qid, timeout=WAIT_S):
    wait_for(lambda: qid not in p.queue_files(), timeout=timeout,
             what="%s to leave the queue; log:\n%s" % (qid, p.log()[-3000:]))


def maildir_files(path):
    new = os.path.join(path, "new")
    return sorted(os.path.join(new, f) for f in os.listdir(new)) if os.path.isdir(new) else []


def read_dsn(path):
    with open(path, "rb") as f:
        raw = f.read()
    return raw, email.message_from_bytes(raw, policy=email.policy.compat32)


def dsn_fields(msg):
    """(per-message fields, [per-recipient fields]) of a multipart/report DSN."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert [x.get_content_type() for x in parts] == \
        ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    blocks = parts[1].get_payload()
    return blocks[0], blocks[1:], parts


@pytest.fixture
def sink(tmp_path):
    s = SmtpSink(tmp_path / "sink").start()
    yield s
    s.stop()


@pytest.fixture
def zone(tmp_path):
    d = tmp_path / "dns"
    d.mkdir()
    z = DnsZone(d, records=[
        # listed out of order on purpose: preference decides
        ("remote.test", "MX", (20, "mx2.remote.test")),
        ("remote.test", "MX", (10, "mx1.remote.test")),
        ("mx1.remote.test", "A", "127.0.0.1"),
        ("mx2.remote.test", "A", "127.0.0.2"),
        ("failover.test", "MX", (10, "dead.failover.test")),
        ("failover.test", "MX", (20, "live.failover.test")),
        ("dead.failover.test", "A", "127.0.0.2"),
        ("live.failover.test", "A", "127.0.0.1"),
        ("nullmx.test", "MX", (0, ".")),
        ("nomx.test", "A", "127.0.0.1"),
        # backup MX: the primary first, then us (our hostname must be skipped)
        ("backup.test", "MX", (10, "primary.backup.test")),
        ("backup.test", "MX", (20, HOSTNAME)),
        ("primary.backup.test", "A", "127.0.0.1"),
        (HOSTNAME, "A", "127.0.0.1"),
        ("selfonly.test", "MX", (10, HOSTNAME)),
        ("greet.test", "MX", (10, "busy.greet.test")),
        ("greet.test", "MX", (20, "ok.greet.test")),
        ("busy.greet.test", "A", "127.0.0.3"),
        ("ok.greet.test", "A", "127.0.0.1"),
        ("loop.test", "MX", (10, "loop-host.test")),
        ("loop-host.test", "A", "127.0.0.1"),
        # internal addresses a stranger's DNS may point at (refused by default)
        ("internal.test", "MX", (10, "intra.internal.test")),
        ("intra.internal.test", "A", "127.0.0.1"),
        ("mapped.test", "MX", (10, "v6.mapped.test")),
        ("v6.mapped.test", "AAAA", "::ffff:127.0.0.1"),
        ("v6only.test", "MX", (10, "mx.v6only.test")),
        ("mx.v6only.test", "AAAA", "::1"),
    ]).start()
    yield z
    z.stop()


def mx_config(zone, sink, **transport):
    """MX routing through the test zone, whose hosts all live on loopback: that needs
    transport.mx_allow_private (a test of the refusal removes it)."""
    t = {"default": "mx", "mx_port": sink.port, "mx_allow_private": True}
    t.update(transport)
    return {"dns": {"servers": [zone.address], "timeout": "1s", "tries": 1}, "transport": t}


# ---- SMTP relay ---------------------------------------------------------------------------

RECEIVED = re.compile(rb"\AReceived: [^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n")


def test_relay_delivers_byte_exact_and_logs_postfix_lines(tmp_path, sink):
    p = postern(tmp_path, {"transport": {"default": relay_to(sink)}})
    # dot lines (stuffed on the wire in both directions), a long line, a body larger than a
    # client read chunk, no 8-bit bytes
    body = ("..leading dot\r\n.\r\n" + "x" * 990 + "\r\n" +
            "".join("line %06d of a big body\r\n" % i for i in range(4000)))
    sent = message("exact", body=body).encode()
    wire = sent.replace(b"\r\n.", b"\r\n..")  # what an SMTP client sends for it
    qid = send(p, ["b@remote.test", "c@other.test"], data=wire)
    [m] = sink.wait_messages(1)
    assert m.mail_from == "a@example.org"
    assert m.rcpts == ["b@remote.test", "c@other.test"]
    prefix = m.data[:len(m.data) - len(sent)]
    assert m.data.endswith(sent)
    # our Received:, then the X-Spam-* fields of the policy record (relay/queue/queue_policy.c)
    assert re.fullmatch(RECEIVED.pattern + rb"(?:X-Spam-[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*",
                        prefix), prefix
    assert b"id " + qid.encode() in prefix
    lines = wait_log(p, r"postern/smtp\[\d+\]: %s: to=<([^>]+)>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:"
                        r"%d, delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                        r"status=sent \(250 2\.0\.0 Ok: queued as SINK\d+\)" % (qid, sink.port),
                     count=2)
    assert sorted(lines) == ["b@remote.test", "c@other.test"]
    wait_log(p, r"postern/qmgr\[\d+\]: %s: removed" % qid)
    wait_gone(p, qid)
    assert p.stop() == 0


def test_4xx_is_retried_then_delivered(tmp_path, sink):
    sink.opt["data_replies"] = ["451 4.3.0 please try again later"]
    p = postern(tmp_path, {"transport": {"default": relay_to(sink)},
                           "queue": {"retry_min": "2s", "retry_max": "4s",
                                     "connection_cache_time": "0"},  # the retry reconnects
                           "webhooks": {"deferred_after_tries": 1}})
    qid = send(p, ["b@remote.test"])
    wait_log(p, r"%s: to=<b@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, delay=[\d.]+, "
                r"delays=\S+, dsn=4\.3\.0, status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\]"
                r":\d+ said: 451 4\.3\.0 please try again later \(in reply to end of DATA "
                r"command\)\)" % qid)
    # the outcome is on disk before the retry: a deferred record and the next try
    wait_for(lambda: b"\ntry 1 " in open(os.path.join(p.spool, "queue", qid), "rb").read(),
             what="try record")
    data = open(os.path.join(p.spool, "queue", qid), "rb").read()
    assert re.search(rb"\ndeferred 0 \d+ 4\.3\.0 127\.0\.0\.1\[127\.0\.0\.1\]:\d+ host ", data)
    [ev] = p.events("message.deferred")  # raised once, at deferred_after_tries
    assert sorted(ev) == sorted(OUTCOME_FIELDS + ["next_attempt"])
    assert (ev["queue_id"], ev["sender"], ev["recipient"], ev["listener"]) == \
        (qid, "a@example.org", "b@remote.test", "mx")
    assert (ev["code"], ev["enhanced_code"], ev["attempts"]) == (451, "4.3.0", 1)
    assert ev["text"] == "please try again later"
    assert (ev["remote_host"], ev["remote_ip"]) == ("127.0.0.1", "127.0.0.1")
    assert ev["relay"] == "127.0.0.1[127.0.0.1]:%d" % sink.port
    assert RFC3339_UTC.match(ev["queued_at"]) and RFC3339_UTC.match(ev["next_attempt"])
    assert ev["next_attempt"] > ev["queued_at"]
    [m] = sink.wait_messages(1)
    wait_log(p, r"%s: to=<b@remote\.test>, .*dsn=2\.0\.0, status=sent" % qid)
    wait_gone(p, qid)
    assert len(sink.connections()) == 2
    assert len(p.events("message.deferred")) == 1
    p.stop()


def test_connection_failure_is_deferred_not_bounced(tmp_path):
    dead = free_port()
    p = postern(tmp_path, {"transport": {"default": "relay:[127.0.0.1]:%d" % dead},
                           "webhooks": {"deferred_after_tries": 1}})
    qid = send(p, ["b@remote.test"])
    wait_log(p, r"%s: to=<b@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*dsn=4\.4\.1, "
                r"status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: " % (qid, dead, dead))
    assert qid in p.queue_files()
    wait_for(lambda: p.events("message.deferred"), what="message.deferred")
    ev = p.events("message.deferred")[0]
    # Postern's own reply: no remote server answered, relay names the one it tried
    assert sorted(ev) == sorted(set(OUTCOME_FIELDS + ["next_attempt"]) -
                                {"remote_host", "remote_ip"})
    assert (ev["enhanced_code"], ev["relay"]) == ("4.4.1", "127.0.0.1[127.0.0.1]:%d" % dead)
    p.stop()


def test_5xx_bounces_with_a_dsn_to_the_sender(tmp_path, sink):
    md = str(tmp_path / "maildir")
    sink.opt["rcpt_replies"] = {"bad@remote.test": "550 5.1.1 <bad@remote.test>: no such user"}
    p = postern(tmp_path, {"transport": {
        "default": relay_to(sink), "domains": {"example.test": {"route": "maildir:" + md}}}})
    qid = send(p, ["good@remote.test", "bad@remote.test"], sender="alice@example.test",
               subject="will bounce")
    [m] = sink.wait_messages(1)
    assert m.rcpts == ["good@remote.test"]
    wait_log(p, r"%s: to=<bad@remote\.test>, relay=\S+, delay=\S+, delays=\S+, dsn=5\.1\.1, "
                r"status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\]:\d+ said: 550 5\.1\.1 "
                r"<bad@remote\.test>: no such user \(in reply to RCPT TO command\)\)" % qid)
    wait_for(lambda: p.events("message.bounced"), what="message.bounced")
    [ev] = p.events("message.bounced")
    assert sorted(ev) == sorted(OUTCOME_FIELDS + ["bounce_type"])
    assert (ev["queue_id"], ev["sender"], ev["recipient"], ev["bounce_type"]) == \
        (qid, "alice@example.test", "bad@remote.test", "permanent")
    assert (ev["code"], ev["enhanced_code"], ev["attempts"]) == (550, "5.1.1", 1)
    assert ev["text"] == "<bad@remote.test>: no such user"
    assert (ev["remote_host"], ev["remote_ip"]) == ("127.0.0.1", "127.0.0.1")
    assert RFC3339_UTC.match(ev["queued_at"])
    [dsn_qid] = wait_log(p, r"postern/bounce\[\d+\]: %s: sender non-delivery notification: "
                            r"(\w+)" % qid)
    wait_log(p, r"postern/virtual\[\d+\]: %s: to=<alice@example\.test>, relay=maildir, .*"
                r"status=sent" % dsn_qid)
    wait_gone(p, qid)
    wait_gone(p, dsn_qid)
    [path] = maildir_files(md)
    raw, msg = read_dsn(path)
    assert raw.startswith(b"Return-Path: <>\nDelivered-To: alice@example.test\n")
    assert b"\r\n" not in raw
    assert msg["To"] == "<alice@example.test>"
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@%s>" % HOSTNAME
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    per_msg, per_rcpt, parts = dsn_fields(msg)
    assert per_msg["Reporting-MTA"] == "dns; " + HOSTNAME
    assert per_msg["X-Postern-Queue-ID"] == qid
    assert per_msg["Arrival-Date"]
    [r] = per_rcpt
    assert r["Final-Recipient"] == "rfc822; bad@remote.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Remote-MTA"] == "dns; 127.0.0.1"
    assert r["Diagnostic-Code"] == "smtp; 550 5.1.1 <bad@remote.test>: no such user"
    assert "<bad@remote.test>:" in parts[0].get_payload()
    headers = parts[2].get_payload()
    assert "Subject: will bounce" in headers and "Received: " in headers
    assert "good@remote.test" not in str(per_rcpt)
    p.stop()


def test_pflogsumm_reads_the_delivery_log(tmp_path, sink):
    """The log lines are Postfix's shapes: pflogsumm counts them with no patch."""
    tool = shutil.which("pflogsumm")
    if tool is None:
        pytest.skip("pflogsumm is not installed (apt-get install pflogsumm)")
    md = str(tmp_path / "maildir")
    sink.opt["rcpt_replies"] = {"bad@remote.test": "550 5.1.1 no such user"}
    p = postern(tmp_path, {"transport": {
        "default": relay_to(sink), "domains": {"example.test": {"route": "maildir:" + md}}}})
    qid = send(p, ["good@remote.test", "bad@remote.test"], sender="alice@example.test")
    [dsn] = wait_log(p, r"%s: sender non-delivery notification: (\w+)" % qid)
    wait_gone(p, qid)
    wait_gone(p, dsn)
    p.stop()
    # the foreground log (-d) has the host name field, as syslog writes it
    assert re.match(r"\w{3} [ \d]\d \d\d:\d\d:\d\d [^ /]+ postern/", p.log())
    path = tmp_path / "mail.log"
    path.write_text(p.log())
    out = subprocess.run([tool, "--syslog-name=postern", str(path)], capture_output=True,
                         text=True, timeout=60).stdout

    def count(what):
        return int(re.search(r"^\s+(\d+)\s+%s$" % what, out, re.M).group(1))
    assert count("received") == 1
    assert count("delivered") == 2      # good@remote.test and the DSN to alice
    assert count("bounced") == 1
    assert count("deferred") == 0


def test_null_sender_is_never_bounced(tmp_path, sink):
    md = str(tmp_path / "maildir")
    sink.opt["rcpt_replies"] = {"bad@remote.test": "550 5.1.1 no such user"}
    p = postern(tmp_path, {"transport": {
        "default": relay_to(sink), "domains": {"example.org": {"route": "maildir:" + md}}}})
    qid = send(p, ["bad@remote.test"], sender="")
    wait_log(p, r"%s: to=<bad@remote\.test>, .*status=bounced" % qid)
    wait_log(p, r"%s: no notification: the sender is <>" % qid)
    wait_gone(p, qid)
    assert maildir_files(md) == []
    assert "notification: " not in p.log().split("no notification")[0][-200:]
    p.stop()


# ---- backscatter: no DSN for inbound mail to served domains (domains.D.bounces) --------------

SUPPRESSED_FIELDS = ["bounces", "client_ip", "helo", "listener", "notification", "queue_id",
                     "queued_at", "recipients", "sender"]


def inbound_config(sink, md, **domain):
    """The MX of example.test and backup.test: no client is trusted; the next hop for both
    domains is the sink; a DSN to the sender (at example.org) would land in md."""
    cfg = {"relay": {"trusted_networks": []},
           "transport": {"default": relay_to(sink),
                         "domains": {"example.org": {"route": "maildir:" + md}}}}
    if domain:
        cfg["domains"] = {"example.test": domain}
    return cfg


@pytest.mark.parametrize("bounces", [None, "never", "authenticated", "always"])
def test_inbound_mail_for_a_served_domain_bounces_only_when_the_domain_says_always(
        tmp_path, sink, bounces):
    """The MX accepts any local part of example.test; when the mailbox server then refuses
    one (unknown user), the envelope sender (anyone can claim one) gets no DSN unless the
    domain's "bounces" is "always". "authenticated" acts as "never" here: no SPF or DKIM
    check runs, so the sender is not authenticated (test_sender_auth_delivery.py). The recipient still bounces: message.bounced, a record, gone."""
    md = str(tmp_path / "maildir")
    sink.opt["rcpt_replies"] = {"bad@example.test": "550 5.1.1 <bad@example.test>: no such user"}
    p = postern(tmp_path, inbound_config(sink, md, **({"bounces": bounces} if bounces else {})))
    qid = send(p, ["good@example.test", "bad@example.test"], sender="forged@example.org")
    wait_log(p, r"%s: to=<bad@example\.test>, .*status=bounced" % qid)
    wait_gone(p, qid)
    wait_for(lambda: p.events("message.bounced"), what="message.bounced")
    if bounces == "always":
        [dsn] = wait_log(p, r"%s: sender non-delivery notification: (\w+)" % qid)
        wait_gone(p, dsn)
        assert len(maildir_files(md)) == 1
        assert p.events("message.bounce_suppressed") == []
    else:
        rule = bounces or "never"
        wait_log(p, r"postern/bounce\[\d+\]: %s: sender non-delivery notification to "
                    r"<forged@example\.org> not sent: bounces=%s for <bad@example\.test> "
                    r"\(inbound mail; the sender may be forged\)" % (qid, rule))
        [ev] = p.events("message.bounce_suppressed")
        assert sorted(ev) == SUPPRESSED_FIELDS
        assert (ev["queue_id"], ev["sender"], ev["recipients"], ev["notification"],
                ev["bounces"]) == (qid, "forged@example.org", ["bad@example.test"], "failed",
                                   rule)
        assert (ev["client_ip"], ev["helo"], ev["listener"]) == \
            ("127.0.0.1", "client.example", "mx")
        assert RFC3339_UTC.match(ev["queued_at"])
        assert "notification: " not in p.log()
        assert maildir_files(md) == []
    p.stop()


def test_backup_mx_mail_gets_no_delay_warning_nor_expiry_dsn(tmp_path, sink):
    """Mail for a backup-MX domain waits for its primary; a delay warning and the DSN at
    expiry would both go to a sender the backup MX cannot check: neither is sent (each
    decided once), and the queue file says the message came in on the inbound profile."""
    md = str(tmp_path / "maildir")
    sink.opt["rcpt_replies"] = {"b@backup.test": "451 4.2.0 primary busy"}
    cfg = inbound_config(sink, md)
    cfg["queue"] = {"delay_warning": "1s", "backup_lifetime": "4s", "retry_min": "1s",
                    "retry_max": "1s"}
    p = postern(tmp_path, cfg)
    qid = send(p, ["b@backup.test"], sender="someone@example.org")
    env, _ = p.read_queue_file(qid)
    assert (env["listener"], env["profile"]) == ("mx", "inbound")
    wait_log(p, r"%s: sender delay notification to <someone@example\.org> not sent: "
                r"bounces=never for <b@backup\.test>" % qid)
    wait_log(p, r"%s: from=<someone@example\.org>, status=expired" % qid)
    wait_log(p, r"%s: sender non-delivery notification to <someone@example\.org> not sent: "
                r"bounces=never" % qid)
    wait_gone(p, qid)
    assert [e["notification"] for e in p.events("message.bounce_suppressed")] == \
        ["delayed", "failed"]
    assert len(re.findall(r"%s: to=<b@backup\.test>.*status=deferred" % qid, p.log())) >= 2
    assert [e["bounce_type"] for e in p.events("message.bounced")] == ["expired"]
    assert maildir_files(md) == []
    p.stop()


def test_authenticated_submission_still_gets_its_dsn(tmp_path, sink, test_ca, redis_server):
    """A user who logged in is the sender: a failure to a served domain is reported."""
    from test_submission_auth import make_sasldb
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [("alice@example.test", "alice-password")])
    cfg = inbound_config(sink, str(tmp_path / "maildir"))
    cfg.update({"redis": {"socket": redis_server.socket}, "auth": {"sasldb": db}})
    sink.opt["rcpt_replies"] = {"bad@example.test": "550 5.1.1 no such user"}
    p = postern(tmp_path, cfg, ca=test_ca)
    r = Raw(p.ports["submissions"], tls=True)
    r.reply()
    r.cmd("EHLO c")
    auth = base64.b64encode(b"\0alice@example.test\0alice-password").decode()
    assert r.cmd("AUTH PLAIN " + auth)[0] == 235
    assert r.cmd("MAIL FROM:<alice@example.test>")[0] == 250
    assert r.cmd("RCPT TO:<bad@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(message(sender="alice@example.test", to="bad@example.test") + "\r\n.\r\n")
    code, lines = r.reply()
    assert code == 250, lines
    qid = queued_id(lines)
    r.cmd("QUIT")
    r.close()
    wait_log(p, r"%s: sender non-delivery notification: \w+" % qid)
    wait_for(lambda: any(m.mail_from == "" and m.rcpts == ["alice@example.test"]
                         for m in sink.messages()), what="the DSN at the sink")
    assert p.events("message.bounce_suppressed") == []
    p.stop()


def test_expired_message_is_returned_and_backup_domains_wait_longer(tmp_path, sink):
    md = str(tmp_path / "maildir")
    sink.opt["rcpt_replies"] = {"b@remote.test": "451 4.2.0 mailbox busy",
                                "b@backup.test": "451 4.2.0 primary busy"}
    p = postern(tmp_path, {
        "queue": {"lifetime": "2s", "backup_lifetime": "1h", "retry_min": "1s",
                  "retry_max": "1s"},
        "transport": {"default": relay_to(sink),
                      "domains": {"example.test": {"route": "maildir:" + md}}}})
    expiring = send(p, ["b@remote.test"], sender="alice@example.test", subject="expiring")
    waiting = send(p, ["b@backup.test"], sender="alice@example.test", subject="waiting")
    wait_log(p, r"%s: from=<alice@example\.test>, status=expired, returned to sender" % expiring)
    wait_for(lambda: p.events("message.bounced"), what="message.bounced")
    [ev] = p.events("message.bounced")
    assert (ev["queue_id"], ev["bounce_type"], ev["code"]) == (expiring, "expired", 451)
    wait_gone(p, expiring)
    wait_for(lambda: len(maildir_files(md)) == 1, what="the DSN in the maildir")
    _, msg = read_dsn(maildir_files(md)[0])
    _, [r], _ = dsn_fields(msg)
    assert r["Final-Recipient"] == "rfc822; b@remote.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "4.2.0"
    assert "451 4.2.0 mailbox busy" in r["Diagnostic-Code"]
    # the backup-MX message has tried as often, and is still queued
    assert waiting in p.queue_files()
    assert len(re.findall(r"%s: to=<b@backup\.test>.*status=deferred" % waiting, p.log())) >= 2
    p.stop()


def test_delay_warning_is_sent_once(tmp_path, sink):
    md = str(tmp_path / "maildir")
    sink.opt["rcpt_replies"] = {"b@remote.test": "451 4.2.0 busy"}
    p = postern(tmp_path, {
        "queue": {"delay_warning": "1s", "retry_min": "1s", "retry_max": "1s"},
        "transport": {"default": relay_to(sink),
                      "domains": {"example.test": {"route": "maildir:" + md}}}})
    qid = send(p, ["b@remote.test"], sender="alice@example.test")
    wait_log(p, r"%s: sender delay notification: \w+" % qid)
    wait_log(p, r"%s: to=<b@remote\.test>.*status=deferred" % qid, count=4)
    assert len(re.findall(r"%s: sender delay notification" % qid, p.log())) == 1
    wait_for(lambda: len(maildir_files(md)) == 1, what="the warning in the maildir")
    _, msg = read_dsn(maildir_files(md)[0])
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    _, [r], _ = dsn_fields(msg)
    assert r["Action"] == "delayed" and r["Status"] == "4.2.0"
    assert r["Will-Retry-Until"]
    assert qid in p.queue_files()
    p.stop()


def test_smarthost_auth_over_starttls(tmp_path, test_ca):
    s = SmtpSink(tmp_path / "sink", starttls="required", tls=(test_ca.cert, test_ca.key),
                 auth_users={"relayuser": "s3cret"}).start()
    try:
        key = "[127.0.0.1]:%d" % s.port
        p = postern(tmp_path, {"transport": {
            "default": "relay:" + key, "ca_file": test_ca.ca_cert,
            "relays": {key: {"tls": "required", "verify": True, "user": "relayuser",
                             "password": "s3cret"}}}})
        qid = send(p, ["b@remote.test"])
        [m] = s.wait_messages(1)
        assert m.tls and m.auth_user == "relayuser"
        assert s.connections()[0].plaintext_after_starttls == 0
        verbs = s.connections()[0].verbs()
        assert verbs.index("STARTTLS") < verbs.index("AUTH") < verbs.index("MAIL")
        wait_log(p, r"%s: to=<b@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
                    r"status=sent" % (qid, s.port))
        wait_gone(p, qid)
        p.stop()
    finally:
        s.stop()


def test_smarthost_wrong_password_defers(tmp_path, test_ca):
    s = SmtpSink(tmp_path / "sink", starttls="required", tls=(test_ca.cert, test_ca.key),
                 auth_users={"relayuser": "s3cret"}).start()
    try:
        key = "[127.0.0.1]:%d" % s.port
        p = postern(tmp_path, {"transport": {
            "default": "relay:" + key, "ca_file": test_ca.ca_cert,
            "relays": {key: {"tls": "required", "verify": True, "user": "relayuser",
                             "password": "wrong"}}}})
        qid = send(p, ["b@remote.test"])
        wait_log(p, r"%s: to=<b@remote\.test>, .*dsn=4\.\d\.\d+, status=deferred" % qid)
        assert qid in p.queue_files() and s.messages() == []
        p.stop()
    finally:
        s.stop()


@pytest.mark.parametrize("relay,ca,delivered,why", [
    # credentials and nothing else: verified against the system store, which does not
    # know the test CA: no AUTH, deferred
    ({}, False, False, r"dsn=4\.7\.5, status=deferred \(TLS handshake with .* failed: "
                       r".*certificate verify failed"),
    # the test CA trusts the relay, whose certificate names 127.0.0.1, the route's host
    ({}, True, True, None),
    ({"tls_name": "localhost"}, True, True, None),
    ({"tls_name": "smtp.example.net"}, True, False,
     r"dsn=4\.7\.5, status=deferred \(TLS handshake with .*hostname mismatch"),
    # the admin turned verification off explicitly
    ({"verify": False}, False, True, None),
])
def test_smarthost_with_credentials_verifies_its_certificate(tmp_path, test_ca, relay, ca,
                                                             delivered, why):
    """A smarthost with user/password gets a verified TLS session by default (its entry
    says nothing about verify or tls), against transport.ca_file or the system store and
    tls_name or the route's host; the password is never sent otherwise."""
    s = SmtpSink(tmp_path / "sink", starttls="optional", tls=(test_ca.cert, test_ca.key),
                 auth_users={"relayuser": "s3cret"}).start()
    try:
        key = "[127.0.0.1]:%d" % s.port
        entry = dict({"user": "relayuser", "password": "s3cret"}, **relay)
        transport = {"default": "relay:" + key, "relays": {key: entry}}
        if ca:
            transport["ca_file"] = test_ca.ca_cert
        p = postern(tmp_path, {"transport": transport})
        qid = send(p, ["b@remote.test"])
        if delivered:
            [m] = s.wait_messages(1)
            assert m.tls and m.auth_user == "relayuser"
            wait_gone(p, qid)
        else:
            wait_log(p, r"%s: to=<b@remote\.test>, .*%s" % (qid, why))
            assert all("AUTH" not in c.verbs() for c in s.connections())
            assert s.messages() == [] and qid in p.queue_files()
        p.stop()
    finally:
        s.stop()


@pytest.mark.parametrize("entry,why", [
    ({"user": "u", "password": "p", "tls": "none"},
     'user and password are sent only over TLS with a verified certificate, but tls is '
     '"none": set tls to "required" (or, on a trusted network only, verify to false and '
     'auth_plaintext to true)'),
    ({"verify": True, "tls": "none"}, 'verify needs TLS, but tls is "none"'),
    ({"user": "u", "password": "p", "verify": True, "auth_plaintext": True},
     "auth_plaintext sends the password without TLS, so the certificate cannot be verified"),
    ({"user": "u", "password": "p", "tls": "none", "verify": False},
     'user and password would never be sent: tls is "none" and auth_plaintext is false'),
    ({"verify": "sometimes"}, "expected one of auto, false, true"),
])
def test_smarthost_tls_settings_that_cannot_protect_credentials_are_config_errors(
        tmp_path, entry, why):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({
        "listeners": [{"name": "mx", "address": "127.0.0.1:2525", "profile": "inbound"}],
        "transport": {"relays": {"[smtp.example.net]:587": entry}}}))
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 78
    assert "/transport/relays/[smtp.example.net]:587" in r.stderr and why in r.stderr, r.stderr


def test_smarthost_verify_defaults_print_and_a_trusted_network_opt_out_is_valid(tmp_path):
    cfg = tmp_path / "ok.json"
    cfg.write_text(json.dumps({
        "listeners": [{"name": "mx", "address": "127.0.0.1:2525", "profile": "inbound"}],
        "transport": {"relays": {
            "[smtp.example.net]:587": {"user": "u", "password": "p"},
            "[10.0.0.5]:25": {"user": "u", "password": "p", "tls": "none", "verify": False,
                              "auth_plaintext": True}}}}))
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-v", "-f", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    relays = json.loads(r.stdout)["transport"]["relays"]
    assert relays["[smtp.example.net]:587"]["verify"] == "auto"
    assert relays["[smtp.example.net]:587"]["tls_name"] is None
    assert relays["[10.0.0.5]:25"]["verify"] is False


def test_connection_is_reused_and_destination_concurrency_holds(tmp_path, sink):
    dead = free_port()
    p = postern(tmp_path, {"queue": {"retry_min": "1h", "retry_max": "1h",
                                     "destination_concurrency": 1},
                           "transport": {"default": "relay:[127.0.0.1]:%d" % dead}})
    qids = [send(p, ["b@remote.test"], subject="reuse %d" % i) for i in range(3)]
    for q in qids:
        wait_log(p, r"%s: to=<b@remote\.test>, .*status=deferred" % q)
    # point the route at the sink (SIGHUP reload) and flush: one session takes all three
    p.config["transport"]["default"] = relay_to(sink)
    p.write_config()
    p.signal(signal.SIGHUP)
    wait_log(p, r"reloaded configuration")
    assert ctl(p, "flush").returncode == 0
    sink.wait_messages(3)
    for q in qids:
        wait_gone(p, q)
    conns = sink.wait_connections(1)
    assert len(conns) == 1, [c.verbs() for c in conns]
    assert conns[0].verbs().count("MAIL") == 3
    p.stop()


def test_idle_connection_is_cached_then_closed_with_quit(tmp_path, sink):
    """With nothing more to send, the session waits connection_cache_time for the next
    message to the same destination, then says QUIT."""
    p = postern(tmp_path, {"queue": {"connection_cache_time": "3s"},
                           "transport": {"default": relay_to(sink)}})
    first = send(p, ["b@remote.test"], subject="one")
    sink.wait_messages(1)
    wait_gone(p, first)
    second = send(p, ["c@remote.test"], subject="two")  # while the first session idles
    sink.wait_messages(2)
    wait_gone(p, second)
    [conn] = sink.connections()  # a snapshot
    assert conn.verbs().count("MAIL") == 2 and not conn.closed
    [conn] = sink.wait_connections(1, timeout=10)  # ended, after the cache time
    assert conn.verbs()[-1] == "QUIT"
    p.stop()


def test_cached_connection_closed_by_the_server_is_replaced(tmp_path, sink):
    """The server ends the session while it idles in the cache: the next message goes on a
    new connection, delivered at once, never deferred."""
    sink.opt["hangup_after_data"] = True
    p = postern(tmp_path, {"queue": {"connection_cache_time": "30s"},
                           "transport": {"default": relay_to(sink)}})
    first = send(p, ["b@remote.test"], subject="one")
    sink.wait_messages(1)
    wait_gone(p, first)
    sink.wait_connections(1)  # closed by the sink
    second = send(p, ["b@remote.test"], subject="two")
    sink.wait_messages(2)
    wait_gone(p, second)
    assert len(sink.connections()) == 2
    assert "status=deferred" not in p.log()
    p.stop()


def test_idle_connection_gives_its_place_to_another_destination(tmp_path, sink):
    """queue.concurrency 1: a session idling to one destination is closed at once when
    a message for another destination needs the only place (not after the cache time)."""
    other = SmtpSink(tmp_path / "other").start()
    try:
        p = postern(tmp_path, {"queue": {"connection_cache_time": "60s", "concurrency": 1},
                               "transport": {"default": relay_to(sink), "domains": {
                                   "other.test": {"route": relay_to(other)}}}})
        first = send(p, ["b@remote.test"])
        sink.wait_messages(1)
        wait_gone(p, first)
        second = send(p, ["b@other.test"])
        other.wait_messages(1)  # well before the 60 s cache time
        wait_gone(p, second)
        [conn] = sink.wait_connections(1, timeout=10)  # closed long before 60 s
        assert conn.verbs()[-1] == "QUIT"
        p.stop()
    finally:
        other.stop()


# ---- MX routing -------------------------------------------------------------------------------

def test_mx_preference_order(tmp_path, zone, sink):
    p = postern(tmp_path, mx_config(zone, sink))
    qid = send(p, ["b@remote.test"])
    sink.wait_messages(1)
    wait_log(p, r"%s: to=<b@remote\.test>, relay=mx1\.remote\.test\[127\.0\.0\.1\]:%d, .*"
                r"status=sent" % (qid, sink.port))
    assert "mx2.remote.test" not in p.log()
    p.stop()


def test_mx_failover_to_the_second_mx(tmp_path, zone, sink):
    p = postern(tmp_path, mx_config(zone, sink))
    qid = send(p, ["b@failover.test"])
    sink.wait_messages(1)
    wait_log(p, r"%s: to=<b@failover\.test>, relay=live\.failover\.test\[127\.0\.0\.1\]:%d, .*"
                r"status=sent" % (qid, sink.port))
    assert len(re.findall(r"%s: to=" % qid, p.log())) == 1  # one attempt, no deferral
    # the preferred MX that refused leaves its own line (Postfix's shape)
    assert re.search(r"postern/smtp\[\d+\]: connect to dead\.failover\.test\[127\.0\.0\.\d+\]"
                     r":\d+: Connection refused", p.log()), p.log()
    p.stop()


class BusyServer:
    """Answers every connection on 127.0.0.3:port with a 421 greeting and closes."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.3", port))
        self.sock.listen(8)
        self.count = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            c.sendall(b"421 4.3.2 busy.greet.test is too busy, try another MX\r\n")
            c.close()

    def stop(self):
        self.sock.close()


def test_mx_failover_after_a_4xx_greeting(tmp_path, zone, sink):
    busy = BusyServer(sink.port)
    try:
        p = postern(tmp_path, mx_config(zone, sink))
        qid = send(p, ["b@greet.test"])
        sink.wait_messages(1)
        wait_log(p, r"%s: to=<b@greet\.test>, relay=ok\.greet\.test\[127\.0\.0\.1\]:\d+, .*"
                    r"status=sent" % qid)
        assert busy.count == 1
        assert len(re.findall(r"%s: to=" % qid, p.log())) == 1
        assert re.search(r"%s: busy\.greet\.test\[127\.0\.0\.3\]:\d+: 421 4\.3\.2 " % qid,
                         p.log()), p.log()
        p.stop()
    finally:
        busy.stop()


def test_domain_without_mx_uses_its_address(tmp_path, zone, sink):
    p = postern(tmp_path, mx_config(zone, sink))
    qid = send(p, ["b@nomx.test"])
    sink.wait_messages(1)
    wait_log(p, r"%s: to=<b@nomx\.test>, relay=nomx\.test\[127\.0\.0\.1\]:\d+, .*status=sent" % qid)
    p.stop()


def test_null_mx_bounces_at_once(tmp_path, zone, sink):
    md = str(tmp_path / "maildir")
    cfg = mx_config(zone, sink, domains={"example.test": {"route": "maildir:" + md}})
    p = postern(tmp_path, cfg)
    qid = send(p, ["b@nullmx.test"], sender="alice@example.test")
    wait_log(p, r"%s: to=<b@nullmx\.test>, relay=none, .*dsn=5\.1\.10, status=bounced "
                r"\(.*null MX\)" % qid)
    wait_gone(p, qid)
    wait_for(lambda: len(maildir_files(md)) == 1, what="the DSN")
    _, msg = read_dsn(maildir_files(md)[0])
    _, [r], _ = dsn_fields(msg)
    assert r["Status"] == "5.1.10" and r["Action"] == "failed"
    assert "Remote-MTA" not in r
    assert sink.messages() == []
    p.stop()


def test_nonexistent_domain_bounces(tmp_path, zone, sink):
    p = postern(tmp_path, mx_config(zone, sink))
    qid = send(p, ["b@nowhere.test"], sender="")
    wait_log(p, r"%s: to=<b@nowhere\.test>, relay=none, .*dsn=5\.4\.4, status=bounced "
                r"\(Host or domain name not found" % qid)
    wait_gone(p, qid)
    p.stop()


def test_backup_mx_domain_goes_to_the_primary_skipping_ourselves(tmp_path, zone, sink):
    p = postern(tmp_path, mx_config(zone, sink))
    qid = send(p, ["b@backup.test"])
    sink.wait_messages(1)
    wait_log(p, r"%s: to=<b@backup\.test>, relay=primary\.backup\.test\[127\.0\.0\.1\]:\d+, .*"
                r"status=sent" % qid)
    p.stop()


def test_backup_primary_probe_alerts_and_delivers_when_it_is_back(tmp_path, zone, sink):
    """The primary of backup.test (its best MX above us) refuses with a 421 greeting: two
    failed probes raise backup.primary_down; mail for it waits (retry in an hour). When it
    answers again, backup.primary_up is raised and the waiting mail is delivered at once."""
    greeting = sink.opt["greeting"]
    sink.opt["greeting"] = "421 4.3.2 primary down for the test"
    cfg = mx_config(zone, sink)
    cfg["queue"] = {"backup_probe_interval": "300ms", "retry_min": "1h", "retry_max": "1h"}
    p = postern(tmp_path, cfg)
    wait_log(p, r"event backup\.primary_down ")
    [down] = p.events("backup.primary_down")
    assert (down["domain"], down["primary"], down["failed_probes"]) == \
        ("backup.test", "primary.backup.test", 2)
    assert "421" in down["error"]
    qid = send(p, ["b@backup.test"])
    wait_log(p, r"%s: to=<b@backup\.test>, .*status=deferred" % qid)
    sink.opt["greeting"] = greeting
    wait_log(p, r"event backup\.primary_up ")
    [up] = p.events("backup.primary_up")
    assert (up["domain"], up["primary"]) == ("backup.test", "primary.backup.test")
    assert up["down_s"] >= 0
    sink.wait_messages(1)  # now, not after the hour of its retry schedule
    wait_gone(p, qid)
    assert len(p.events("backup.primary_down")) == 1  # raised once per outage
    p.stop()


def test_we_never_deliver_to_ourselves(tmp_path, zone, sink):
    p = postern(tmp_path, mx_config(zone, sink), start=False)
    # our own name as the best MX: no usable MX at all
    p.start()
    qid = send(p, ["b@selfonly.test"])
    wait_log(p, r"%s: to=<b@selfonly\.test>, relay=none, .*dsn=4\.4\.6, status=deferred "
                r"\(mail for selfonly\.test loops back to myself\)" % qid)
    p.stop()
    # an MX whose address and port are one of our listeners is skipped too
    p2 = postern(tmp_path / "second", mx_config(zone, sink), start=False)
    p2.config["transport"]["mx_port"] = p2.port
    p2.write_config()
    p2.start()
    qid = send(p2, ["b@loop.test"])
    wait_log(p2, r"%s: to=<b@loop\.test>, relay=none, .*dsn=4\.4\.6, status=deferred "
                 r"\(mail for loop\.test loops back to myself\)" % qid)
    p2.stop()


def test_mx_answers_pointing_to_internal_addresses_are_refused(tmp_path, zone, sink):
    """Without transport.mx_allow_private, a domain's DNS (or an address literal) cannot
    aim mail at loopback or private hosts, IPv4-mapped forms included: such addresses are
    skipped, the mail is deferred with 4.4.4 and nothing reaches the server behind them.
    A route the admin wrote to the same address is the admin's choice and delivers."""
    cfg = mx_config(zone, sink, domains={"routed.test": {"route": relay_to(sink)}})
    del cfg["transport"]["mx_allow_private"]
    p = postern(tmp_path, cfg)
    cases = [("internal.test", "intra.internal.test", "127.0.0.1"),
             ("mapped.test", "v6.mapped.test", "::ffff:127.0.0.1"),
             ("[127.0.0.1]", "127.0.0.1", "127.0.0.1")]
    qids = [send(p, ["b@" + domain]) for domain, _, _ in cases]
    for qid, (domain, host, ip) in zip(qids, cases):
        wait_log(p, r"%s: to=<b@%s>, relay=none, .*dsn=4\.4\.4, status=deferred \(mail for "
                    r"%s: host %s has the loopback address %s, which is not used for "
                    r"delivery\)" % (qid, re.escape(domain), re.escape(domain),
                                      re.escape(host), re.escape(ip)))
    routed = send(p, ["b@routed.test"])
    [m] = sink.wait_messages(1)
    assert m.rcpts == ["b@routed.test"]
    wait_gone(p, routed)
    assert len(sink.connections()) == 1
    assert all(q in p.queue_files() for q in qids)
    p.stop()


def test_backup_probe_does_not_probe_internal_addresses(tmp_path, zone, sink):
    """The backup-MX probe follows the MX rule: a primary whose address is not public is
    never connected to; the probe fails and says why."""
    cfg = mx_config(zone, sink)
    del cfg["transport"]["mx_allow_private"]
    cfg["queue"] = {"backup_probe_interval": "300ms", "retry_min": "1h", "retry_max": "1h"}
    p = postern(tmp_path, cfg)
    wait_log(p, r"event backup\.primary_down ")
    [down] = p.events("backup.primary_down")
    assert (down["domain"], down["primary"]) == ("backup.test", "primary.backup.test")
    assert down["error"] == ("the primary's loopback address 127.0.0.1 is not used "
                             "(transport.mx_allow_private is off)")
    assert sink.connections() == []
    p.stop()


def test_wildcard_listener_does_not_make_every_mx_a_loop(tmp_path, zone):
    """The usual production setup listens on all addresses ("0.0.0.0:25"): an MX that is
    not this host, on the same port, is delivered to, not taken for a loop. Here the MX
    is ::1, which an IPv4 wildcard listener does not take. An MX whose address the
    wildcard listener does take (127.0.0.1) is still a loop."""
    p = postern(tmp_path, start=False)
    for attempt in range(3):
        # a wildcard bind also collides with an outgoing connection's ephemeral port on
        # 127.0.0.1 (free_port hands out ports from that range): try another port then
        sink = SmtpSink(tmp_path / ("v6sink%d" % attempt), host="::1", port=p.port).start()
        p.config["listeners"] = [{"name": "mx", "address": "0.0.0.0:%d" % p.port,
                                  "profile": "inbound"}]
        deep_merge(p.config, mx_config(zone, sink))
        p.write_config()
        try:
            p.start()
            break
        except AssertionError as e:
            sink.stop()
            if "Address already in use" not in str(e) or attempt == 2:
                raise
            p.ports["mx"] = free_port()
    try:
        qid = send(p, ["b@v6only.test"])
        [m] = sink.wait_messages(1)
        assert m.rcpts == ["b@v6only.test"]
        wait_log(p, r"%s: to=<b@v6only\.test>, relay=mx\.v6only\.test\[::1\]:%d, .*"
                    r"status=sent" % (qid, p.port))
        loop = send(p, ["b@loop.test"])
        wait_log(p, r"%s: to=<b@loop\.test>, relay=none, .*dsn=4\.4\.6, status=deferred "
                    r"\(mail for loop\.test loops back to myself\)" % loop)
        p.stop()
    finally:
        sink.stop()


# ---- LMTP and Maildir -------------------------------------------------------------------------

def test_lmtp_over_tcp_reports_per_recipient(tmp_path):
    s = SmtpSink(tmp_path / "lmtp", lmtp=True,
                 lmtp_replies={"full@lmtp.test": "452 4.2.2 mailbox full",
                               "gone@lmtp.test": "550 5.1.1 no such mailbox"}).start()
    try:
        p = postern(tmp_path, {"transport": {"domains": {
            "lmtp.test": {"route": "lmtp:127.0.0.1:%d" % s.port}}}})
        qid = send(p, ["ok@lmtp.test", "full@lmtp.test", "gone@lmtp.test"], sender="")
        [m] = s.wait_messages(1)
        assert m.rcpts == ["ok@lmtp.test"]
        assert "LHLO" in s.connections()[0].verbs()
        wait_log(p, r"postern/lmtp\[\d+\]: %s: to=<ok@lmtp\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]"
                    r":%d, .*dsn=2\.0\.0, status=sent" % (qid, s.port))
        wait_log(p, r"postern/lmtp\[\d+\]: %s: to=<full@lmtp\.test>, .*dsn=4\.2\.2, "
                    r"status=deferred" % qid)
        wait_log(p, r"postern/lmtp\[\d+\]: %s: to=<gone@lmtp\.test>, .*dsn=5\.1\.1, "
                    r"status=bounced" % qid)
        wait_for(lambda: b"\ntry 1 " in open(os.path.join(p.spool, "queue", qid), "rb").read(),
                 what="records")
        data = open(os.path.join(p.spool, "queue", qid), "rb").read()
        assert re.search(rb"\ndone 0 \d+ 2\.0\.0 ", data)
        assert re.search(rb"\nbounced 2 \d+ 5\.1\.1 ", data)
        # the retry only goes to the one still pending
        s.opt["lmtp_replies"] = {}
        s.wait_messages(2)
        assert s.messages()[1].rcpts == ["full@lmtp.test"]
        wait_gone(p, qid)
        p.stop()
    finally:
        s.stop()


def test_lmtp_over_unix_socket(tmp_path):
    path = str(tmp_path / "lmtp.sock")
    s = SmtpSink(tmp_path / "lmtp", lmtp=True, unix_path=path).start()
    try:
        p = postern(tmp_path, {"transport": {"default": "lmtp:unix:" + path}})
        qid = send(p, ["a@remote.test", "b@remote.test"])
        [m] = s.wait_messages(1)
        assert m.rcpts == ["a@remote.test", "b@remote.test"]
        wait_log(p, r"postern/lmtp\[\d+\]: %s: to=<b@remote\.test>, relay=\S*\[%s\], .*"
                    r"status=sent" % (qid, re.escape(path)))
        wait_gone(p, qid)
        p.stop()
    finally:
        s.stop()


def test_maildir_demo_routes(tmp_path):
    # the demo's transport table, with its run/ directories under the temp dir
    md, out = str(tmp_path / "run" / "maildir"), str(tmp_path / "run" / "outbound")
    p = postern(tmp_path, {"transport": {"default": "maildir:" + out,
                                         "domains": {"example.test": {"route": "maildir:" + md}}}})
    body = "line one\r\n\r\nline three\r\n"
    data = message("maildir", body=body, to="alice@example.test")
    qid = send(p, ["alice@example.test", "bob@example.test", "carol@elsewhere.test"], data=data)
    wait_gone(p, qid)
    files = maildir_files(md)
    assert len(files) == 2
    got = sorted(open(f, "rb").read() for f in files)
    want_tail = data.replace("\r\n", "\n").encode()
    for raw, rcpt in zip(got, ["alice@example.test", "bob@example.test"]):
        head = b"Return-Path: <a@example.org>\nDelivered-To: %s\nReceived: " % rcpt.encode()
        assert raw.startswith(head), raw[:200]
        assert raw.endswith(want_tail)
        assert b"\r" not in raw
    assert len(maildir_files(out)) == 1
    assert os.listdir(os.path.join(md, "tmp")) == []
    for rcpt in ("alice@example.test", "bob@example.test", "carol@elsewhere.test"):
        wait_log(p, r"postern/virtual\[\d+\]: %s: to=<%s>, relay=maildir, delay=[\d.]+, "
                    r"delays=\S+, dsn=2\.0\.0, status=sent \(delivered to maildir as "
                    % (qid, re.escape(rcpt)))
    p.stop()


def test_relative_paths_resolve_against_the_config_file_directory(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    cfg = tmp_path / "etc" / "rel.json"
    cfg.write_text('{"spool_dir": "../spool", "listeners": [{"name": "mx", "address": '
                   '"127.0.0.1:2525", "profile": "inbound"}], "transport": {"default": '
                   '"maildir:../run/outbound/", "domains": {"example.test": {"route": '
                   '"maildir:run/maildir/"}}}}')
    # started from another directory: the file's directory decides, not the start one
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-v", "-f", "../etc/rel.json"],
                       cwd=str(tmp_path / "elsewhere"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert '"spool_dir": "%s/spool"' % tmp_path in r.stdout
    assert '"maildir:%s/etc/run/maildir/"' % tmp_path in r.stdout
    assert '"maildir:%s/run/outbound/"' % tmp_path in r.stdout


def test_demo_config_routes_are_valid():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "etc", "postern.demo.json")) as f:
        text = f.read()
    assert '"example.test": { "route": "maildir:../run/maildir/" }' in text
    assert '"default": "maildir:../run/outbound/"' in text
    for cwd in (root, os.path.join(root, "etc"), "/"):
        r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-v", "-f",
                            os.path.join(root, "etc", "postern.demo.json")],
                           cwd=cwd, capture_output=True, text=True)
        if r.returncode != 0:
            # No `make demo-setup` here (a clean checkout): a generated file under run/
            # (certificate, DKIM key) is missing, and the error names it as resolved
            # against the config file's directory, whatever the working directory.
            assert "cannot read %s/run/" % root in r.stderr or \
                "%s/run/tls/cert.pem" % root in r.stderr, r.stderr
            continue
        assert '"spool_dir": "%s/run/spool"' % root in r.stdout, r.stdout[:500] + r.stderr
        assert '"maildir:%s/run/maildir/"' % root in r.stdout


@pytest.mark.parametrize("route,why", [
    ("smtp:host", "unknown route"),
    ("relay:[host]", "expected [host]:port"),
    ("relay:[h]:99999", "bad port"),
    ("lmtp:unix:relative.sock", "absolute socket path"),
])
def test_bad_routes_are_config_errors(tmp_path, route, why):
    cfg = tmp_path / "bad.json"
    cfg.write_text('{"listeners": [{"name": "mx", "address": "127.0.0.1:2525", "profile": '
                   '"inbound"}], "transport": {"domains": {"x.test": {"route": "%s"}}}}' % route)
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 78
    assert "/transport/domains/x.test/route: " in r.stderr and why in r.stderr, r.stderr


# ---- SMTPUTF8 ----------------------------------------------------------------------------------

def send_smtputf8(p, rcpts, data, sender="alice@example.test"):
    """Inject one message with MAIL FROM:<...> SMTPUTF8; returns its queue ID."""
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        assert r.cmd("EHLO client.example")[0] == 250
        assert r.cmd("MAIL FROM:<%s> SMTPUTF8" % sender)[0] == 250
        for rc in rcpts:
            assert r.cmd("RCPT TO:<%s>" % rc)[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(data.encode() + b".\r\n")
        code, lines = r.reply()
        assert code == 250, lines
        r.cmd("QUIT")
        return queued_id(lines)
    finally:
        r.close()


@pytest.fixture
def eai_sinks(tmp_path):
    """An SMTP server without SMTPUTF8 (remote.test), one with it (eai.test) and an LMTP
    server without it, like Dovecot 2.3 (lmtp.test); the sender's domain is a maildir."""
    plain = SmtpSink(tmp_path / "plain").start()
    eai = SmtpSink(tmp_path / "eai", smtputf8=True).start()
    lmtp = SmtpSink(tmp_path / "lmtp", lmtp=True).start()
    md = str(tmp_path / "maildir")
    cfg = {"transport": {"default": relay_to(plain), "domains": {
        "eai.test": {"route": relay_to(eai)},
        "lmtp.test": {"route": "lmtp:127.0.0.1:%d" % lmtp.port},
        "example.test": {"route": "maildir:" + md}}}}
    yield plain, eai, lmtp, md, cfg
    for s in (plain, eai, lmtp):
        s.stop()


def test_smtputf8_mail_that_needs_nothing_of_it_goes_to_any_server(tmp_path, eai_sinks):
    """MAIL FROM:<...> SMTPUTF8 with an all-ASCII envelope and header: delivered to servers
    with and without SMTPUTF8 and to an LMTP server without it (as Postfix does), never
    with the parameter (RFC 6531 3.2: only a message that needs it)."""
    plain, eai, lmtp, _, cfg = eai_sinks
    p = postern(tmp_path, cfg)
    data = message("ascii only", sender="alice@example.test", to="b@remote.test")
    qid = send_smtputf8(p, ["b@remote.test", "c@eai.test", "d@lmtp.test"], data)
    for sink, rcpt in ((plain, "b@remote.test"), (eai, "c@eai.test"), (lmtp, "d@lmtp.test")):
        [m] = sink.wait_messages(1)
        assert m.rcpts == [rcpt]
        assert "SMTPUTF8" not in [x.upper() for x in m.mail_params]
        assert m.data.endswith(data.encode())
    wait_gone(p, qid)
    assert "status=bounced" not in p.log()
    p.stop()


def test_utf8_header_bounces_only_where_smtputf8_is_missing_with_an_rfc6533_dsn(
        tmp_path, eai_sinks):
    """A header in UTF-8 needs SMTPUTF8: the server that offers it gets the message with
    the parameter; the SMTP and LMTP servers without it bounce it (553 5.6.7), and the DSN
    is an internationalized one (RFC 6533): global-delivery-status, the returned header
    as message/global-headers."""
    plain, eai, lmtp, md, cfg = eai_sinks
    p = postern(tmp_path, cfg)
    data = ("From: J\u00f6rg <alice@example.test>\r\nTo: b@remote.test\r\n"
            "Subject: gr\u00fc\u00dfe\r\nMessage-ID: <eai@client.test>\r\n\r\nhello\r\n")
    qid = send_smtputf8(p, ["b@remote.test", "c@eai.test", "d@lmtp.test"], data)
    [m] = eai.wait_messages(1)
    assert "SMTPUTF8" in m.mail_params and m.data.endswith(data.encode())
    for rcpt, comp in (("b@remote.test", "smtp"), ("d@lmtp.test", "lmtp")):
        wait_log(p, r"postern/%s\[\d+\]: %s: to=<%s>, relay=\S+, .*dsn=5\.6\.7, "
                    r"status=bounced \(SMTPUTF8 is required, but was not offered by host "
                    % (comp, qid, re.escape(rcpt)))
    assert plain.messages() == [] and lmtp.messages() == []
    wait_gone(p, qid)
    wait_for(lambda: len(maildir_files(md)) == 1, what="the DSN in the maildir")
    raw = open(maildir_files(md)[0], "rb").read()
    assert re.search(rb"Content-Type: multipart/report; report-type=global-delivery-status;",
                     raw)
    assert b"\nContent-Type: message/global-delivery-status\n" in raw
    assert b"\nFinal-Recipient: rfc822; b@remote.test\n" in raw
    assert b"\nFinal-Recipient: rfc822; d@lmtp.test\n" in raw
    assert b"\nStatus: 5.6.7\n" in raw
    assert b"c@eai.test" not in raw.split(b"message/global-headers")[0]
    returned = raw.split(b"Content-Type: message/global-headers\n"
                         b"Content-Transfer-Encoding: 8bit\n\n", 1)[1]
    assert returned.startswith(b"Received: ")
    assert "Subject: gr\u00fc\u00dfe\n".encode() in returned.split(b"\n\n")[0] + b"\n"
    p.stop()


# ---- crash safety -----------------------------------------------------------------------------

def test_sigkill_mid_queue_loses_nothing(tmp_path, sink):
    p = postern(tmp_path, {"queue": {"destination_concurrency": 2},
                           "transport": {"default": relay_to(sink)}})
    subjects = ["crash %02d" % i for i in range(12)]
    for s in subjects[:4]:
        send(p, ["b@remote.test"], subject=s)
    sink.wait_messages(4)
    # the rest hangs after the final dot: the sink has the data, Postern has no answer
    sink.opt["stall"] = "data-end"
    for s in subjects[4:]:
        send(p, ["b@remote.test"], subject=s)
    wait_for(lambda: sum("DATA" in c.verbs() and not c.closed for c in sink.connections()) >= 2,
             what="deliveries hanging at the final dot")
    queued = p.queue_files()
    assert len(queued) == 8
    p.kill9()
    sink.opt["stall"] = None
    p.start()
    wait_for(lambda: p.queue_files() == [], timeout=30,
             what="the queue to drain after the restart:\n" + p.log()[-3000:])
    got = set()
    for m in sink.messages():
        subj = re.search(rb"\r\nSubject: ([^\r]*)\r\n", m.data).group(1).decode()
        got.add(subj)
    assert got == set(subjects)
    assert "scheduled" in p.log()
    p.stop()


def test_sigterm_during_deliveries_exits_cleanly_and_keeps_them(tmp_path, sink):
    p = postern(tmp_path, {"transport": {"default": relay_to(sink)},
                           "timeouts": {"shutdown": "5s"}})
    sink.opt["stall"] = "data-end"
    done = send(p, ["b@remote.test"], subject="first")
    wait_for(lambda: any("DATA" in c.verbs() for c in sink.connections()), what="a delivery")
    started = time.monotonic()
    assert p.stop() == 0
    assert time.monotonic() - started < 5
    assert "stopped" in p.log()
    assert done in p.queue_files()
    sink.opt["stall"] = None
    p.start()
    sink.wait_messages(1)
    wait_gone(p, done)
    p.stop()


def test_restart_keeps_the_retry_schedule(tmp_path, sink):
    sink.opt["rcpt_replies"] = {"b@remote.test": "451 4.2.0 later"}
    p = postern(tmp_path, {"queue": {"retry_min": "1h", "retry_max": "1h"},
                           "transport": {"default": relay_to(sink)}})
    qid = send(p, ["b@remote.test"])
    wait_for(lambda: b"\ntry 1 " in open(os.path.join(p.spool, "queue", qid), "rb").read(),
             what="try record")
    assert p.stop() == 0
    p.start()
    wait_log(p, r"queue scan: 1 messages scheduled")
    # not due for an hour: no second attempt after the restart
    conns = len(sink.connections())
    time.sleep(1.5)
    assert len(sink.connections()) == conns
    assert qid in p.queue_files()
    p.stop()


def test_corrupt_queue_file_is_moved_aside_and_reported(tmp_path, sink):
    p = postern(tmp_path, {"queue": {"paused": True}, "transport": {"default": relay_to(sink)}})
    bad, empty, good = (send(p, ["b@remote.test"], subject=s) for s in ("bad", "empty", "good"))
    assert p.stop() == 0
    with open(os.path.join(p.spool, "queue", bad), "wb") as f:
        f.write(b"POSTERN-QUEUE 1\nsize 12\nthis is not an envelope\n")
    open(os.path.join(p.spool, "queue", empty), "wb").close()  # a crash mid-recycle
    p.config["queue"]["paused"] = False
    p.write_config()
    p.start()
    sink.wait_messages(1)
    wait_for(lambda: p.queue_files() == [], what="the queue to empty:\n" + p.log()[-3000:])
    corrupt = os.path.join(p.spool, "corrupt")
    assert os.listdir(corrupt) == [bad]  # kept for the admin, never retried, never lost
    with open(os.path.join(corrupt, bad), "rb") as f:
        assert b"this is not an envelope" in f.read()
    log = p.log()
    assert "%s: queue file is corrupt (cannot be parsed); moved to %s/%s" % (bad, corrupt, bad) \
        in log
    assert p.events("queue.corrupt") == [{"queue_id": bad, "moved_to": corrupt}]
    assert "%s: queue file vanished" % empty in log  # empty: no message, nothing to keep
    assert [m.data.count(b"Subject: good") for m in sink.messages()] == [1]
    p.stop()


def test_delivered_files_are_recycled_without_old_bytes(tmp_path, sink):
    """A delivered message's file goes back to tmp/, emptied, and carries the next message
    (the most recently recycled first): that one arrives byte-exact, with nothing of the
    longer message the file held before."""
    p = postern(tmp_path, {"transport": {"default": relay_to(sink)}})
    # the first MAIL starts the spool's refill of spare files; let it finish, so that the
    # only file pushed on the spare stack from now on is the recycled one
    r = Raw(p.port)
    r.reply()
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<a@example.org>")
    r.cmd("QUIT")
    p.wait_spares_settled()
    long_body = "".join("line %04d of a long message\r\n" % i for i in range(2000))
    first = send(p, ["b@remote.test"], data=message("long", long_body))
    sink.wait_messages(1)
    wait_gone(p, first)
    wait_for(lambda: first in p.spare_files(), what="the delivered file back in tmp/")
    assert p.tmp_files() == []  # emptied: no message bytes left in tmp/
    p.wait_spares_settled()  # a refill pushing fresh spares above it would take its turn
    send(p, ["b@remote.test"], data=message("short", "short\r\n"))
    sink.wait_messages(2)
    assert first not in p.spare_files()  # it carried the short message
    assert sink.messages()[1].data.endswith(b"\r\n\r\nshort\r\n")
    for i in range(60):
        send(p, ["b@remote.test"], data=message("more %d" % i, "more\r\n"))
    sink.wait_messages(62)
    assert all(m.data.endswith(b"\r\n\r\nmore\r\n") for m in sink.messages()[2:])
    wait_for(lambda: p.queue_files() == [], what="the queue to empty")
    assert 0 < len(p.spare_files()) <= 256  # a bounded number of spares
    p.stop()


# ---- posternctl ---------------------------------------------------------------------------------

def ctl(p, *args):
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path] + list(args),
                          capture_output=True, text=True, timeout=30)


def test_posternctl_queue_hold_release_flush_delete(tmp_path, sink):
    sink.opt["rcpt_replies"] = {"b@remote.test": "451 4.2.0 try later"}
    p = postern(tmp_path, {"queue": {"retry_min": "1h", "retry_max": "1h"},
                           "transport": {"default": relay_to(sink)}})
    r = ctl(p, "queue")
    assert r.returncode == 0 and "Mail queue is empty" in r.stdout
    one = send(p, ["b@remote.test", "c@remote.test"], subject="one")
    two = send(p, ["b@remote.test"], subject="two")
    for q in (one, two):
        wait_for(lambda q=q: b"\ntry 1 " in open(os.path.join(p.spool, "queue", q), "rb").read(),
                 what="try record")
    r = ctl(p, "queue", "--json")
    assert r.returncode == 0, r.stderr
    msgs = {m["queue_id"]: m for m in map(json.loads, r.stdout.splitlines())}
    assert set(msgs) == {one, two}
    m = msgs[one]
    assert m["sender"] == "a@example.org" and m["tries"] == 1 and not m["held"]
    assert m["next_try"] > m["arrival_time"] and m["message_size"] > 0
    states = {x["address"]: x for x in m["recipients"]}
    assert states["c@remote.test"]["state"] == "delivered"
    assert states["b@remote.test"]["state"] == "deferred"
    assert "451 4.2.0 try later" in states["b@remote.test"]["last_error"]
    text = ctl(p, "queue").stdout
    assert one in text and "<b@remote.test> deferred (last error: host " in text
    assert "-- 2 messages" in text

    assert ctl(p, "hold", one).returncode == 0
    assert "(held)" in ctl(p, "queue").stdout
    r = ctl(p, "flush", one)
    assert r.returncode == 1 and "hold" in r.stderr
    assert ctl(p, "release", one).returncode == 0
    sink.opt["rcpt_replies"] = {}
    r = ctl(p, "flush", one)
    assert r.returncode == 0, r.stderr
    wait_gone(p, one)
    assert two in p.queue_files()

    r = ctl(p, "status")
    assert r.returncode == 0 and re.search(r"^%s idle 1 \d+$" % two, r.stdout, re.M), r.stdout
    r = ctl(p, "delete", two)
    assert r.returncode == 0 and "removed" in r.stdout, (r.stdout, r.stderr)
    assert two not in p.queue_files()
    wait_log(p, r"postern/qmgr\[\d+\]: %s: removed" % two)
    r = ctl(p, "delete", two)
    assert r.returncode == 1 and "no such message" in r.stderr
    assert ctl(p, "ping").stdout.strip() == "pong"
    assert ctl(p, "flush").returncode == 0
    p.stop()
    r = ctl(p, "flush")
    assert r.returncode == 69 and "cannot reach the daemon" in r.stderr
    r = ctl(p, "queue")  # the listing reads the spool: works without the daemon
    assert r.returncode == 0 and "Mail queue is empty" in r.stdout


def test_posternctl_delete_and_hold_during_a_delivery(tmp_path, sink):
    sink.opt["stall"] = "rcpt"
    p = postern(tmp_path, {"transport": {"default": relay_to(sink)},
                           "smtp_client": {"rcpt_timeout": "1s"}})
    one = send(p, ["b@remote.test"], subject="one")
    wait_for(lambda: any(c.batch_of("RCPT") for c in sink.connections()),
             what="a delivery in progress")
    r = ctl(p, "delete", one)
    assert r.returncode == 0, r.stderr
    assert one not in p.queue_files()
    wait_for(lambda: all(c.closed for c in sink.connections()), what="the session to end")
    # hold while delivering: the attempt runs to its end (here a timeout), and no retry
    # follows until release
    two = send(p, ["b@remote.test"], subject="two")
    wait_for(lambda: len(sink.connections()) == 2, what="the second delivery")
    assert ctl(p, "hold", two).returncode == 0
    sink.opt["stall"] = None
    wait_log(p, r"%s: to=<b@remote\.test>, .*status=deferred \(conversation with " % two)
    time.sleep(2.5)  # retry_min is 1s: a retry would have happened by now
    assert two in p.queue_files() and sink.messages() == []
    assert "(held)" in ctl(p, "queue").stdout
    assert ctl(p, "release", two).returncode == 0  # its retry time is past: due at once
    sink.wait_messages(1)
    wait_gone(p, two)
    assert p.stop() == 0


def test_etrn_and_flush_domain_deliver_a_backup_domain_now(tmp_path, sink):
    """The primary is back: ETRN (RFC 1985) or "posternctl flush --domain" delivers what
    waits for that backup-MX domain now, not at the next retry an hour later; mail for
    other domains keeps its schedule. ETRN is refused for domains we are not backup for,
    and a second one within queue.etrn_interval is answered 250 without a flush."""
    dead = free_port()
    p = postern(tmp_path, {"queue": {"retry_min": "1h", "retry_max": "1h"},
                           "transport": {"default": "relay:[127.0.0.1]:%d" % dead}})
    backup = [send(p, ["u%d@backup.test" % i], subject="b%d" % i) for i in range(2)]
    other = send(p, ["x@remote.test"], subject="other")
    for q in backup + [other]:
        wait_log(p, r"%s: to=<[^>]*>, .*status=deferred" % q)
    p.config["transport"]["default"] = relay_to(sink)  # the primary is reachable again
    p.write_config()
    p.signal(signal.SIGHUP)
    wait_log(p, r"reloaded configuration")
    r = Raw(p.port)
    r.reply()
    assert r.cmd("ETRN backup.test")[0] == 503  # HELO first
    code, lines = r.cmd("EHLO primary.backup.test")
    assert "ETRN" in [ln[4:].split()[0] for ln in lines[1:]]
    code, lines = r.cmd("ETRN remote.test")
    assert code == 459 and "4.7.1" in lines[0]
    assert r.cmd("ETRN #queue")[0] == 501
    code, lines = r.cmd("ETRN backup.test")
    assert code == 253 and "2.0.0 OK, 2 pending messages for node backup.test started" \
        in lines[0], lines
    sink.wait_messages(2)
    for q in backup:
        wait_gone(p, q)
    code, lines = r.cmd("ETRN backup.test")
    assert code == 250 and "2.0.0 OK, queuing for node backup.test started" in lines[0]
    r.cmd("QUIT")
    assert other in p.queue_files()  # still waiting for its hour
    res = ctl(p, "flush", "--domain", "remote.test")
    assert res.returncode == 0 and "1 message scheduled" in res.stdout, res
    sink.wait_messages(3)
    wait_gone(p, other)
    assert ctl(p, "flush", "--domain").returncode != 0
    res = ctl(p, "flush", "a", "b")  # two words: only --domain DOMAIN
    assert res.returncode != 0 and "usage: flush" in res.stdout + res.stderr, res
    p.stop()


def etrn(port, node, source="127.0.0.1"):
    r = Raw(port, source=source)
    try:
        r.reply()
        r.cmd("EHLO primary.backup.test")
        return r.cmd("ETRN " + node)
    finally:
        r.close()


def test_etrn_only_from_the_primary_or_trusted_networks_once_a_minute(tmp_path, zone, sink):
    """ETRN flushes a domain out of its retry schedule: only the domain's primary MX (the
    MX hosts above us: primary.backup.test, 127.0.0.1) or relay.trusted_networks may ask,
    and at most once per queue.etrn_interval (extra ones: 250, one flush at its end).
    The messages come from the queue's index of recipient domains, which a restart
    rebuilds from the queue files."""
    cfg = mx_config(zone, sink, domains={"example.test": {"route": relay_to(sink)}})
    cfg["relay"] = {"trusted_networks": ["127.0.0.7/32"]}
    cfg["queue"] = {"retry_min": "1h", "retry_max": "1h", "etrn_interval": "2s"}
    sink.opt["rcpt_replies"] = {"u%d@backup.test" % i: "451 4.3.2 not now" for i in range(3)}
    p = postern(tmp_path, cfg)
    queued = [send(p, ["u%d@backup.test" % i, "x%d@example.test" % i], subject="b%d" % i)
              for i in range(3)]
    for q in queued:
        wait_log(p, r"%s: to=<u\d@backup\.test>, .*status=deferred" % q)
        wait_log(p, r"%s: to=<x\d@example\.test>, .*status=sent" % q)
    # delivered recipients leave the index: nothing waits for example.test
    assert "0 messages scheduled" in ctl(p, "flush", "--domain", "example.test").stdout
    p.stop()
    p.start()  # the index is rebuilt from the queue files
    sink.opt["rcpt_replies"] = {}
    code, lines = etrn(p.port, "backup.test", source="127.0.0.9")  # not the primary
    assert code == 459 and "4.7.1 Node backup.test not allowed: only its primary MX may ask" \
        in lines[0], lines
    wait_log(p, r"ETRN backup\.test refused: not a primary MX of the domain")
    assert etrn(p.port, "remote.test", source="127.0.0.9")[0] == 459  # not a backup domain
    code, lines = etrn(p.port, "backup.test")  # from the primary's address
    assert code == 253 and "OK, 3 pending messages for node backup.test started" in lines[0]
    code, lines = etrn(p.port, "backup.test", source="127.0.0.7")  # trusted, but too soon
    assert code == 250 and "OK, queuing for node backup.test started" in lines[0]
    assert etrn(p.port, "@backup.test")[0] == 250  # one flush per domain, @ or not
    sink.wait_messages(6)
    for q in queued:
        wait_gone(p, q)
    # the requests during the interval make one flush, when it is over
    wait_log(p, r"ETRN @backup\.test: the flush asked for during the last interval")
    assert len(re.findall(r"flush of @?backup\.test: ", p.log())) == 2
    time.sleep(2)  # that flush started a new interval: let it pass
    code, lines = etrn(p.port, "backup.test", source="127.0.0.7")
    assert code == 251 and "no messages waiting for node backup.test" in lines[0]
    for _ in range(2):  # the admin is not limited
        res = ctl(p, "flush", "--domain", "backup.test")
        assert res.returncode == 0 and "0 messages scheduled" in res.stdout, res
    p.stop()


def test_etrn_waiting_for_dns_is_told_to_retry_or_cancelled(tmp_path):
    """The primaries of the domain are looked up while the ETRN waits: a DNS server that
    never answers gives 458 4.4.3 (try again later); a session freed before the answer
    (here by a stop that gives sessions no time) cancels the lookup: a clean exit."""
    mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mute.bind(("127.0.0.1", 0))  # takes the queries, answers none
    try:
        p = postern(tmp_path, {"relay": {"trusted_networks": []},
                               "timeouts": {"shutdown": "0"},
                               "dns": {"servers": ["127.0.0.1:%d" % mute.getsockname()[1]],
                                       "timeout": "1s", "tries": 1}})
        code, lines = etrn(p.port, "backup.test", source="127.0.0.9")
        assert code == 458 and "4.4.3 Unable to queue messages for node backup.test" \
            in lines[0], lines
        waiting = Raw(p.port, source="127.0.0.9")
        waiting.reply()
        waiting.cmd("EHLO primary.backup.test")
        waiting.send("ETRN backup.test\r\n")
        wait_log(p, r"\[127\.0\.0\.9\]: ETRN backup\.test", count=2)
        assert p.stop() == 0
        waiting.close()
        assert len(re.findall(r"ETRN backup\.test refused", p.log())) == 1
    finally:
        mute.close()


def test_posternctl_usage_and_help(tmp_path):
    p = postern(tmp_path, start=False)
    assert ctl(p).returncode == 64
    assert ctl(p, "frobnicate").returncode == 64
    assert ctl(p, "flush", "a", "b", "c").returncode == 64
    assert ctl(p, "hold").returncode == 64
    r = ctl(p, "help")
    assert r.returncode == 0
    for word in ("queue [--json]", "flush [ID | --domain DOMAIN]", "hold ID", "release ID",
                 "delete ID"):
        assert word in r.stdout
    r = subprocess.run([os.path.join(BUILD, "posternctl"), "-f", str(tmp_path / "none.json"),
                        "queue"], capture_output=True, text=True)
    assert r.returncode == 78


def test_admin_socket_is_private(tmp_path):
    p = postern(tmp_path)
    st = os.stat(os.path.join(p.spool, "admin.sock"))
    assert st.st_mode & 0o777 == 0o600
    p.stop()
