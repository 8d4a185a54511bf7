"""Webhooks raised by the running daemon, with the data fields of docs/webhooks.md: rate
limits and brute force (once per window), rejections (coalesced per client and stage,
with a count), client strings that are not UTF-8, the queue watch, posternctl's test.
message.bounced / .deferred, queue.corrupt and redis.* are checked in test_delivery.py and
test_ratelimit_smtp.py (from the daemon's log, which shows each event's data)."""
import base64

import pytest

from conftest import wait_for
from postern import Postern, Raw
from test_submission_auth import make_sasldb
from webhook_receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
USER, PASSWORD = "hooks@example.test", "hooks-password"


@pytest.fixture
def setup(tmp_path, test_ca, redis_server):
    rcv = Receiver(secret=SECRET).start()
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    p = Postern(tmp_path, test_ca, overrides={
        "redis": {"socket": redis_server.socket},
        "auth": {"sasldb": db},
        "authfail": {"login_ip_threshold": 2, "window": "1m"},
        "ratelimit": {"classes": {"default": {"recipients": 2, "window": "1m"}}},
        "webhooks": {"outbox_dir": str(tmp_path / "outbox"), "coalesce_window": "1s",
                     "endpoints": [{"name": "ops", "url": rcv.url, "secret": SECRET,
                                    "events": ["*"]}]},
    }).start()
    yield p, rcv
    p.stop()
    rcv.stop()


def session(p, password=PASSWORD):
    r = Raw(p.ports["submissions"], tls=True)
    r.reply()
    r.cmd("EHLO c")
    auth = base64.b64encode(("\0%s\0%s" % (USER, password)).encode()).decode()
    return r, r.cmd("AUTH PLAIN " + auth)[0]


def by_type(rcv, t):
    return [e for e in rcv.events() if e and e["type"] == t]


def test_rate_limit_event_once_per_window_signed(setup):
    p, rcv = setup
    for _ in range(3):
        r, code = session(p)
        assert code == 235
        r.cmd("MAIL FROM:<%s>" % USER)
        r.send("".join("RCPT TO:<x%d@elsewhere.example>\r\n" % i for i in range(4)))
        [r.reply() for _ in range(4)]
        r.close()
    wait_for(lambda: by_type(rcv, "sender.rate_limited"), what="rate-limit webhook")
    ev = by_type(rcv, "sender.rate_limited")
    assert len(ev) == 1
    d = ev[0]["data"]
    assert sorted(d) == ["class", "client_ip", "limit", "limit_type", "listener", "login",
                         "retry_after_s", "sender", "window_s"]
    assert (d["login"], d["class"], d["limit_type"], d["limit"], d["window_s"]) == \
        (USER, "default", "recipients", 2, 60)
    assert d["sender"] == USER and d["client_ip"] == "127.0.0.1"
    assert d["listener"] == "submissions" and 1 <= d["retry_after_s"] <= 60
    assert all(r.signature_ok for r in rcv.requests)


def test_bruteforce_event(setup):
    p, rcv = setup
    for _ in range(2):
        r, code = session(p, "wrong")
        assert code == 535
        r.close()
    wait_for(lambda: by_type(rcv, "auth.bruteforce"), what="brute-force webhook")
    d = by_type(rcv, "auth.bruteforce")[0]["data"]
    # the login reached its limit from this address: blocked there, whatever the password
    assert sorted(d) == ["blocked_for_s", "client_ip", "failures", "listener", "login",
                         "scope", "threshold", "window_s"]
    assert d["login"] == USER
    assert (d["scope"], d["client_ip"], d["failures"]) == ("login_ip", "127.0.0.1", 2)
    assert (d["threshold"], d["window_s"], d["listener"]) == (2, 60, "submissions")
    assert 1 <= d["blocked_for_s"] <= 60
    r, code = session(p)
    assert code == 421


def test_message_rejected_event_at_rcpt_data_and_mail(setup):
    p, rcv = setup
    r, code = session(p)
    assert code == 235
    assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
    assert [r.cmd("RCPT TO:<x%d@elsewhere.example>" % i)[0] for i in range(3)] == [250, 250, 450]
    assert r.cmd("DATA")[0] == 354
    r.send("Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
    assert r.reply()[0] == 554
    assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 450  # the quota is spent
    r.close()
    wait_for(lambda: len(by_type(rcv, "message.rejected")) == 3, what="message.rejected")
    ev = {e["data"]["stage"]: e["data"] for e in by_type(rcv, "message.rejected")}
    common = ["client_ip", "code", "count", "enhanced_code", "first_seen", "helo",
              "last_seen", "listener", "login", "reason", "sender", "stage", "text"]
    assert sorted(ev["rcpt"]) == sorted(common + ["queue_id", "recipients"])
    assert sorted(ev["data"]) == sorted(common + ["queue_id", "recipients"])
    assert sorted(ev["mail"]) == common
    rcpt, data = ev["rcpt"], ev["data"]
    assert (rcpt["code"], rcpt["enhanced_code"], rcpt["reason"]) == (450, "4.7.1", "rate_limited")
    assert rcpt["recipients"] == ["x2@elsewhere.example"]
    assert (rcpt["login"], rcpt["sender"], rcpt["helo"]) == (USER, USER, "c")
    assert (rcpt["client_ip"], rcpt["listener"]) == ("127.0.0.1", "submissions")
    assert (data["code"], data["enhanced_code"], data["reason"]) == (554, "5.5.2", "policy")
    assert data["recipients"] == ["x0@elsewhere.example", "x1@elsewhere.example"]
    assert data["queue_id"] == rcpt["queue_id"] and "bare" in data["text"]
    assert ev["mail"]["reason"] == "rate_limited"
    assert all(e["count"] == 1 and e["first_seen"] == e["last_seen"] for e in ev.values())


def test_redis_outage_is_reported_as_redis_unavailable_not_rate_limited(tmp_path, test_ca,
                                                                         redis_server):
    rcv = Receiver(secret=SECRET).start()
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    p = Postern(tmp_path, test_ca, overrides={
        "redis": {"socket": redis_server.socket},
        "auth": {"sasldb": db},
        "webhooks": {"outbox_dir": str(tmp_path / "outbox"), "coalesce_window": "1s",
                     "endpoints": [{"name": "ops", "url": rcv.url, "secret": SECRET,
                                    "events": ["message.rejected"]}]},
    }).start()
    try:
        r, code = session(p)
        assert code == 235
        redis_server.stop()
        code, lines = r.cmd("MAIL FROM:<%s>" % USER)
        assert code == 451 and "4.3.0" in lines[0]
        r.close()
        wait_for(lambda: by_type(rcv, "message.rejected"), what="message.rejected")
        [ev] = by_type(rcv, "message.rejected")
        assert (ev["data"]["stage"], ev["data"]["code"]) == ("mail", 451)
        assert ev["data"]["reason"] == "redis_unavailable"
    finally:
        p.stop()
        rcv.stop()


def test_refused_rcpt_flood_is_one_event_per_client_stage_and_window(setup):
    """An unauthenticated client refused 10 times in a row (relaying on the MX) costs two
    outbox files, not ten: the first refusal at once, the other nine as one event with
    "count": 9 when the window (coalesce_window, 1 s here) ends."""
    p, rcv = setup
    r = Raw(p.port)
    r.reply()
    r.cmd("EHLO flood.example")
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert [r.cmd("RCPT TO:<x%d@elsewhere.example>" % i)[0] for i in range(10)] == [554] * 10
    r.close()
    wait_for(lambda: len(by_type(rcv, "message.rejected")) == 2, what="the counted event")
    first, rest = [e["data"] for e in by_type(rcv, "message.rejected")]
    assert (first["count"], first["recipients"]) == (1, ["x0@elsewhere.example"])
    assert (rest["count"], rest["recipients"]) == (9, ["x9@elsewhere.example"])
    assert first["first_seen"] <= rest["first_seen"] <= rest["last_seen"]
    assert (rest["stage"], rest["reason"], rest["client_ip"]) == ("rcpt", "relay", "127.0.0.1")
    assert len(p.events("message.rejected")) == 10  # each one is still logged
    r = Raw(p.port)  # another stage, or another window: sent at once
    r.reply()
    r.cmd("EHLO flood.example")
    r.cmd("MAIL FROM:<a@example.org>")
    assert r.cmd("RCPT TO:<y@elsewhere.example>")[0] == 554
    r.close()
    wait_for(lambda: len(by_type(rcv, "message.rejected")) == 3, what="the next window")
    assert by_type(rcv, "message.rejected")[2]["data"]["count"] == 1


def test_client_strings_that_are_not_utf8_do_not_empty_the_event(setup):
    """A HELO name or a tried login with bytes that are not UTF-8 keeps every field of the
    event; the bad bytes become U+FFFD (they used to turn the whole data into {})."""
    p, rcv = setup
    r = Raw(p.port)
    r.reply()
    r.send(b"EHLO bad\xff\xc0.example\r\n")
    assert r.reply()[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<x@elsewhere.example>")[0] == 554
    r.close()
    wait_for(lambda: by_type(rcv, "message.rejected"), what="message.rejected")
    d = by_type(rcv, "message.rejected")[0]["data"]
    assert d["helo"] == "bad\ufffd\ufffd.example"
    assert (d["stage"], d["client_ip"], d["recipients"]) == \
        ("rcpt", "127.0.0.1", ["x@elsewhere.example"])
    login = b"bad\xfe@example.test"
    for _ in range(2):
        r = Raw(p.ports["submissions"], tls=True)
        r.reply()
        r.cmd("EHLO c")
        auth = base64.b64encode(b"\0" + login + b"\0wrong").decode()
        assert r.cmd("AUTH PLAIN " + auth)[0] == 535
        r.close()
    wait_for(lambda: by_type(rcv, "auth.bruteforce"), what="auth.bruteforce")
    d = by_type(rcv, "auth.bruteforce")[0]["data"]
    assert d["login"] == "bad\ufffd@example.test"
    assert (d["scope"], d["client_ip"], d["failures"]) == ("login_ip", "127.0.0.1", 2)


def test_posternctl_webhooks_list_and_test(setup):
    import json
    import os
    import subprocess
    from conftest import BUILD
    p, rcv = setup
    ctl = [os.path.join(BUILD, "posternctl"), "-f", p.config_path, "webhooks"]
    out = subprocess.run(ctl + ["--json"], capture_output=True, text=True)
    assert out.returncode == 0 and "ops" in out.stdout, out.stdout + out.stderr
    out = subprocess.run(ctl + ["test", "ops"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: by_type(rcv, "webhook.test"), timeout=20, what="test event")
    [ev] = by_type(rcv, "webhook.test")
    assert ev["data"] == {"endpoint": "ops", "message": "test event from posternctl"}


def test_queue_stuck_event(tmp_path, redis_server):
    rcv = Receiver(secret=SECRET).start()
    p = Postern(tmp_path, overrides={
        "queue": {"paused": True},
        "webhooks": {"outbox_dir": str(tmp_path / "outbox"), "queue_stuck_after": "1s",
                     "endpoints": [{"name": "ops", "url": rcv.url, "secret": SECRET,
                                    "events": ["queue.*"]}]},
    }, name="stuck").start()
    r = Raw(p.port)
    r.reply()
    from postern import queued_id, send_raw_message
    code, lines = send_raw_message(r)
    assert code == 250
    wait_for(lambda: by_type(rcv, "queue.stuck"), timeout=15, what="queue.stuck")
    d = by_type(rcv, "queue.stuck")[0]["data"]
    assert sorted(d) == ["oldest_age_s", "oldest_queue_id", "queue_size", "threshold_s"]
    assert d["oldest_queue_id"] == queued_id(lines)
    assert d["queue_size"] == 1 and d["threshold_s"] == 1 and d["oldest_age_s"] >= 1
    p.stop()
    rcv.stop()
