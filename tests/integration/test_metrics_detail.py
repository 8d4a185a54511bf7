"""Metrics in detail, scraped from /metrics after real SMTP sessions:
- postern_smtp_replies_total{class, stage}: every reply counted once under the SMTP stage it
  answers (connect, helo, starttls, auth, mail, rcpt, data, end, other).
"""
import base64

import pytest

from conftest import free_port, wait_for
from postern import Postern, Raw
from test_admin_http import get, parse_prometheus
from test_submission_auth import make_sasldb

USER, PASSWORD = "alice@example.test", "correct horse battery"


def scrape(port):
    code, _, body = get(port, "/metrics")
    assert code == 200
    return parse_prometheus(body)


def series(samples, name, *labels):
    """{(label values...): value} of one metric."""
    return {tuple(dict(ls)[k] for k in labels): v for (n, ls), v in samples.items() if n == name}


def plain(login, password):
    return base64.b64encode(("\0%s\0%s" % (login, password)).encode()).decode()


def test_metrics_replies_carry_their_stage(tmp_path, test_ca, redis_server):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    admin = free_port()
    p = Postern(tmp_path, test_ca, overrides={
        "redis": {"socket": redis_server.socket},
        "auth": {"sasldb": db, "mechanisms": ["PLAIN"]},
        "admin": {"http": {"address": "127.0.0.1:%d" % admin}},
    }).start()
    try:
        before = series(scrape(admin), "postern_smtp_replies_total", "class", "stage")
        # the start-up probes: a banner on each plain listener (none without a TLS
        # handshake on the implicit-TLS one), nothing else
        assert before == {("2xx", "connect"): 2}

        r = Raw(p.ports["submission"])
        assert r.reply()[0] == 220                                   # 2xx connect
        assert r.cmd("HELO")[0] == 501                               # 5xx helo
        assert r.cmd("EHLO c")[0] == 250                             # 2xx helo
        assert r.cmd("STARTTLS")[0] == 220                           # 2xx starttls
        r.starttls()
        assert r.cmd("EHLO c")[0] == 250                             # 2xx helo
        assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 530              # 5xx mail (no AUTH)
        assert r.cmd("AUTH PLAIN " + plain(USER, "wrong"))[0] == 535   # 5xx auth
        code, _ = r.cmd("AUTH PLAIN")
        assert code == 334                                           # 3xx auth
        assert r.cmd("*")[0] == 501                                  # 5xx auth (cancelled)
        assert r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0] == 235  # 2xx auth
        assert r.cmd("DATA")[0] == 503                               # 5xx data (no MAIL)
        assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250              # 2xx mail
        assert r.cmd("RCPT TO:<x@@bad>")[0] // 100 == 5              # 5xx rcpt
        assert r.cmd("RCPT TO:<someone@elsewhere.example>")[0] == 250  # 2xx rcpt
        body = b"Subject: t\r\n\r\nhi\r\n"
        r.send(b"BDAT 5\r\n" + body[:5])
        assert r.reply()[0] == 250                                   # 2xx data (a chunk)
        r.send(b"BDAT %d LAST\r\n" % (len(body) - 5) + body[5:])
        code, lines = r.reply()
        assert code == 250 and "queued as" in lines[-1]              # 2xx end
        assert r.cmd("NOOP")[0] == 250                               # 2xx other
        assert r.cmd("FOO")[0] == 500                                # 5xx other
        assert r.cmd("QUIT")[0] == 221                               # 2xx other
        r.close()
        wait_for(lambda: p.log().count("disconnect from") >= 4, what="session end")

        got = series(scrape(admin), "postern_smtp_replies_total", "class", "stage")
        assert got == {
            ("2xx", "connect"): 3, ("5xx", "helo"): 1, ("2xx", "helo"): 2,
            ("2xx", "starttls"): 1, ("5xx", "mail"): 1, ("5xx", "auth"): 2,
            ("3xx", "auth"): 1, ("2xx", "auth"): 1, ("5xx", "data"): 1, ("2xx", "mail"): 1,
            ("5xx", "rcpt"): 1, ("2xx", "rcpt"): 1, ("2xx", "data"): 1, ("2xx", "end"): 1,
            ("2xx", "other"): 2, ("5xx", "other"): 1,
        }
    finally:
        p.stop()


def test_metrics_refusal_at_connect_and_after_data(tmp_path):
    """A connection over the per-IP limit gets its 421 at connect; a message over the size
    limit its 552 at end (after the final dot), not at data."""
    admin = free_port()
    p = Postern(tmp_path, overrides={
        "limits": {"connections_per_ip": 1, "message_size": 2000},
        "admin": {"http": {"address": "127.0.0.1:%d" % admin}},
    }).start()
    try:
        holder = Raw(p.port)
        assert holder.reply()[0] == 220
        extra = Raw(p.port)
        assert extra.reply()[0] == 421
        extra.close()
        assert holder.cmd("EHLO c")[0] == 250
        assert holder.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert holder.cmd("RCPT TO:<b@example.test>")[0] == 250
        assert holder.cmd("DATA")[0] == 354
        holder.send(b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n")
        holder.send((b"y" * 70 + b"\r\n") * 40 + b".\r\n")
        assert holder.reply()[0] == 552
        holder.cmd("QUIT")
        holder.close()
        got = series(scrape(admin), "postern_smtp_replies_total", "class", "stage")
        assert got[("4xx", "connect")] == 1
        assert got[("5xx", "end")] == 1
        assert got[("3xx", "data")] == 1
        assert ("5xx", "data") not in got
    finally:
        p.stop()


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def one_message(port, rcpts, data):
    """EHLO, MAIL, the RCPTs, and DATA if one was accepted: (RCPT codes, final code)."""
    r = Raw(port)
    try:
        assert r.reply()[0] == 220
        assert r.cmd("EHLO client.example")[0] == 250
        assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
        codes = [r.cmd("RCPT TO:<%s>" % rc)[0] for rc in rcpts]
        if 250 not in codes:
            return codes, None
        assert r.cmd("DATA")[0] == 354
        r.send(data.encode() + b".\r\n")
        return codes, r.reply()[0]
    finally:
        r.close()


def test_metrics_spam_actions_gtube_refused_and_clean_passed(tmp_path, redis_server):
    """The real spam check at the medium level: GTUBE is refused (action refuse), a clean
    message gets no action (none)."""
    admin = free_port()
    p = Postern(tmp_path, overrides={
        "redis": {"socket": redis_server.socket},
        "policy": {"disabled_checks": [], "profiles": {"inbound": {
            "direction": "inbound", "checks": {"relay_access": {}, "spam": {}}}}},
        "admin": {"http": {"address": "127.0.0.1:%d" % admin}},
    }).start()
    try:
        assert series(scrape(admin), "postern_spam_actions_total", "action", "direction") == {}
        msg = "From: a@example.org\r\nTo: b@example.test\r\nSubject: %s\r\n\r\n%s\r\n"
        assert one_message(p.port, ["b@example.test"], msg % ("test", GTUBE)) == ([250], 550)
        assert one_message(p.port, ["b@example.test"],
                           msg % ("Minutes", "The notes of the project review.")) == ([250], 250)
        assert series(scrape(admin), "postern_spam_actions_total", "action", "direction") == {
            ("refuse", "inbound"): 1, ("none", "inbound"): 1}
    finally:
        p.stop()


def test_metrics_spam_actions_per_recipient_and_direction(tmp_path):
    """Through the test check (chosen scores per recipient) at the medium level (tag 5,
    spam 8, kill 12): each recipient's level action once, where it takes effect."""
    admin = free_port()
    p = Postern(tmp_path, binary="postern-test", overrides={
        "relay": {"local_domains": ["example.test"], "backup_domains": ["backup.test"]},
        "domains": {"example.test": {"level": "medium"}, "backup.test": {"level": "medium"}},
        "policy": {"profiles": {"inbound": {"direction": "inbound", "checks": {
            "relay_access": {},
            "testsym": {"emit_for": ["tag TEST_SCORE*6", "mark TEST_SCORE*9",
                                     "kill TEST_SCORE*20"]},
            "testpeer": {"stages": ["rcpt"], "emit_for": ["early TEST_SCORE*20"]}}}}},
        "admin": {"http": {"address": "127.0.0.1:%d" % admin}},
    })
    # a submission-direction listener without login (trusted clients)
    p.config["policy"]["profiles"]["outbound"] = {"direction": "submission", "checks": {
        "relay_access": {}, "submission_auth": {}, "testsym": {"emit": ["TEST_SCORE*9"]}}}
    p.config["relay"]["trusted_networks"] = ["127.0.0.1/32"]
    sub = free_port()
    p.config["listeners"].append({"name": "out", "address": "127.0.0.1:%d" % sub,
                                  "profile": "outbound", "tls": "none", "auth": "off"})
    p.write_config()
    p.start()
    msg = "From: a@example.org\r\nSubject: t\r\n\r\nhello\r\n"
    try:
        # one message, four recipients: kill's refusal becomes the spam action (subject)
        # because the others accept it
        assert one_message(p.port, ["a@example.test", "tag@example.test",
                                    "mark@example.test", "kill@example.test"],
                           msg) == ([250] * 4, 250)
        # only kill@: the message is refused
        assert one_message(p.port, ["kill@example.test"], msg) == ([250], 550)
        # refused at RCPT already (the score is known there); the other recipient passes
        assert one_message(p.port, ["early@example.test", "b@example.test"],
                           msg) == ([550, 250], 250)
        # backup domain: header-only changes, so the Subject is not touched (tag)
        assert one_message(p.port, ["mark@backup.test"], msg) == ([250], 250)
        # submission: the spam score tags (no Subject prefix on outgoing mail)
        assert one_message(sub, ["x@elsewhere.example"], msg) == ([250], 250)
        got = series(scrape(admin), "postern_spam_actions_total", "action", "direction")
        assert got == {("none", "inbound"): 2, ("tag", "inbound"): 1,
                       ("subject", "inbound"): 2, ("refuse", "inbound"): 2,
                       ("tag", "backup"): 1, ("tag", "submission"): 1}
    finally:
        p.stop()
