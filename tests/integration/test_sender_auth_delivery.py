"""Sender authentication at delivery, through the real daemon and a real sink:
Authentication-Results fields that claim our authserv-id (the host name) are removed from
incoming mail before it is delivered (RFC 8601 5), whether or not the checks left a
policy record for the recipient, while those of other hosts stay; and the bounce rule
"authenticated" sends a DSN only to a sender that SPF or aligned DKIM authenticated."""
import re

import pytest

from postern import Postern, Raw
from smtp_sink import SmtpSink
from test_delivery import inbound_config, maildir_files, postern, send, sink, wait_gone, \
    wait_log  # noqa: F401  (sink is a fixture)

HOST = "mx.test.example"   # the harness's hostname: our authserv-id
HEADER = ("Authentication-Results: MX.Test.Example. (forged); spf=pass "
          "smtp.mailfrom=a@example.org\r\n"
          "Authentication-Results: other.example; dkim=pass header.d=example.org\r\n"
          "Authentication-Results: \"mx.test.example\";\r\n\tdmarc=pass\r\n"
          "From: a@example.org\r\nSubject: forged results\r\n")


def send_data(p, data, rcpt="b@example.test"):
    r = Raw(p.port)
    try:
        r.reply()
        r.cmd("EHLO client.example")
        assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert r.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(data + ".\r\n")
        code, lines = r.reply()
        assert code == 250, lines
    finally:
        r.close()


@pytest.mark.parametrize("profile", ["inbound", "bare"])
def test_forged_authentication_results_are_removed_before_delivery(tmp_path, profile):
    sink = SmtpSink(tmp_path / "sink").start()
    over = {"queue": {"paused": False},
            "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port},
            "policy": {"profiles": {"bare": {"direction": "inbound",
                                             "checks": {"relay_access": {}}}}}}
    p = Postern(tmp_path, overrides=over)
    p.config["listeners"][0]["profile"] = profile
    p.write_config()
    p.start()
    try:
        send_data(p, HEADER + "\r\nbody\r\n")
        m = sink.wait_messages(1)[0]
        head = m.data.split(b"\r\n\r\n", 1)[0]
        assert b"(forged)" not in head and b"dmarc=pass" not in head, head
        assert b"Authentication-Results: other.example; dkim=pass" in head
        assert m.data.endswith(b"\r\n\r\nbody\r\n")
    finally:
        p.stop()
        sink.stop()


# ---- the bounce decision: domains.D.bounces "authenticated" ------------------------------

@pytest.mark.parametrize("sender,authenticated", [("someone@spf-pass.example", True),
                                                  ("someone@spf-fail.example", False)])
def test_bounces_authenticated_sends_a_dsn_only_to_an_spf_authenticated_sender(
        tmp_path, sink, sender, authenticated):
    """Inbound mail for example.test whose recipient the mailbox server then refuses:
    with bounces "authenticated", the DSN goes to a sender whose domain's SPF passed at
    receipt (the queue file says "sender_auth spf"), and is suppressed for one whose SPF
    failed (message.bounce_suppressed), since that sender may be forged."""
    from dns_zone import DnsZone
    d = tmp_path / "dns"
    d.mkdir()
    z = DnsZone(d, records=[("spf-pass.example", "TXT", "v=spf1 ip4:127.0.0.1 -all"),
                            ("spf-fail.example", "TXT", "v=spf1 ip4:192.0.2.1 -all")]).start()
    md = str(tmp_path / "maildir")
    sink.opt["rcpt_replies"] = {"bad@example.test": "550 5.1.1 <bad@example.test>: no such user"}
    cfg = inbound_config(sink, md, bounces="authenticated")
    cfg["transport"]["domains"] = {d: {"route": "maildir:" + md}
                                   for d in ("spf-pass.example", "spf-fail.example")}
    cfg["dns"] = {"servers": [z.address], "timeout": "1s", "tries": 1}
    cfg["policy"] = {"profiles": {"mx": {"direction": "inbound", "checks": {
        "relay_access": {}, "spf": {}}}}}
    p = postern(tmp_path, cfg, start=False)
    p.config["listeners"][0]["profile"] = "mx"
    p.write_config()
    p.start()
    try:
        qid = send(p, ["good@example.test", "bad@example.test"], sender=sender)
        wait_log(p, r"%s: to=<bad@example\.test>, .*status=bounced" % qid)
        wait_gone(p, qid)
        if authenticated:
            [dsn] = wait_log(p, r"%s: sender non-delivery notification: (\w+)" % qid)
            wait_gone(p, dsn)
            assert len(maildir_files(md)) == 1
            assert p.events("message.bounce_suppressed") == []
        else:
            wait_log(p, r"%s: sender non-delivery notification to <%s> not sent: "
                        r"bounces=authenticated for <bad@example\.test>"
                     % (qid, re.escape(sender)))
            [ev] = p.events("message.bounce_suppressed")
            assert ev["bounces"] == "authenticated"
            assert maildir_files(md) == []
    finally:
        p.stop()
        z.stop()
