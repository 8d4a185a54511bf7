"""Sender authentication at delivery, through the real daemon and a real sink:
Authentication-Results fields that claim our authserv-id (the host name) are removed from
incoming mail before it is delivered (RFC 8601 5), whether or not the checks left a
policy record for the recipient, while those of other hosts stay."""
import pytest

from postern import Postern, Raw
from smtp_sink import SmtpSink

HOST = "mx.test.example"   # the harness's hostname: our authserv-id
HEADER = ("Authentication-Results: MX.Test.Example. (forged); spf=pass "
          "smtp.mailfrom=a@example.org\r\n"
          "Authentication-Results: other.example; dkim=pass header.d=example.org\r\n"
          "Authentication-Results: \"mx.test.example\";\r\n\tdmarc=pass\r\n"
          "From: a@example.org\r\nSubject: forged results\r\n")


def send(p, data, rcpt="b@example.test"):
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
        send(p, HEADER + "\r\nbody\r\n")
        m = sink.wait_messages(1)[0]
        head = m.data.split(b"\r\n\r\n", 1)[0]
        assert b"(forged)" not in head and b"dmarc=pass" not in head, head
        assert b"Authentication-Results: other.example; dkim=pass" in head
        assert m.data.endswith(b"\r\n\r\nbody\r\n")
    finally:
        p.stop()
        sink.stop()
