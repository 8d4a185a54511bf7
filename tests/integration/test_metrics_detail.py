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
