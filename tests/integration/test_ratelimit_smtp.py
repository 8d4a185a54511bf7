"""Per-user recipient rate limits through real SMTP sessions, shared by several nodes."""
import base64
import signal
import subprocess
import time

import pytest

from conftest import RedisServer, wait_for
from postern import Postern, Raw, message
from test_submission_auth import make_sasldb

USER, PASSWORD = "news@example.test", "pw-news"
OTHER = "bulk@example.test"


def limits(redis_socket, fail_mode="tempfail"):
    return {
        "redis": {"socket": redis_socket, "timeout": "250ms"},
        "ratelimit": {
            "fail_mode": fail_mode,
            "classes": {
                "default": {"recipients": 5, "window": "2s"},
                "newsletter": {"recipients": 8, "window": "2s"},
                "slow": {"recipients": 100, "window": "1h", "messages_per_hour": 2},
            },
            "users": {OTHER: {"class": "newsletter"}, "slow@example.test": {"class": "slow"}},
        },
    }


def start(tmp_path, test_ca, redis_socket, name="postern", fail_mode="tempfail"):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD), (OTHER, PASSWORD), ("slow@example.test", PASSWORD)])
    over = limits(redis_socket, fail_mode)
    over["auth"] = {"sasldb": db, "senders": {}}
    return Postern(tmp_path, test_ca, overrides=over, name=name).start()


def login(port, user=USER):
    r = Raw(port, tls=True)
    r.reply()
    r.cmd("EHLO c")
    auth = base64.b64encode(("\0%s\0%s" % (user, PASSWORD)).encode()).decode()
    assert r.cmd("AUTH PLAIN " + auth)[0] == 235
    return r


def rcpts(r, n, start=0):
    r.send("".join("RCPT TO:<r%d@elsewhere.example>\r\n" % i for i in range(start, start + n)))
    return [r.reply() for _ in range(n)]


@pytest.fixture
def node(tmp_path, test_ca, redis_server):
    p = start(tmp_path, test_ca, redis_server.socket)
    p.redis = redis_server
    yield p
    p.stop()


def test_sixth_recipient_is_deferred_then_refill(node):
    r = login(node.ports["submissions"])
    assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
    got = rcpts(r, 6)
    assert [c for c, _ in got] == [250] * 5 + [450]
    assert "4.7.1" in got[5][1][0] and "retry in" in got[5][1][0]
    assert r.cmd("DATA")[0] == 354
    r.send(message() + ".\r\n")
    code, lines = r.reply()
    assert code == 250 and "(quota: 0/5 left)" in lines[0]
    # the bucket is empty: a new transaction is refused at MAIL FROM, never with 5xx
    code, lines = r.cmd("MAIL FROM:<%s>" % USER)
    assert code == 450 and "4.7.1" in lines[0]
    time.sleep(2.1)
    assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
    assert rcpts(r, 1, 10)[0][0] == 250


def test_pipelined_batch_of_ten_gets_exactly_five(node):
    r = login(node.ports["submissions"])
    r.send("MAIL FROM:<%s>\r\n" % USER + "".join(
        "RCPT TO:<p%d@elsewhere.example>\r\n" % i for i in range(10)) + "DATA\r\n")
    codes = [r.reply()[0] for _ in range(12)]
    assert codes[0] == 250 and codes[1:11].count(250) == 5 and codes[1:11].count(450) == 5
    assert codes[11] == 354
    r.send(message() + ".\r\n")
    assert r.reply()[0] == 250
    assert node.log().count("event sender.rate_limited") == 1


def test_newsletter_class_has_its_own_bucket(node):
    a = login(node.ports["submissions"])
    a.cmd("MAIL FROM:<%s>" % USER)
    assert [c for c, _ in rcpts(a, 6)].count(250) == 5
    b = login(node.ports["submissions"], OTHER)
    b.cmd("MAIL FROM:<%s>" % OTHER)
    assert [c for c, _ in rcpts(b, 9)].count(250) == 8


def test_messages_per_hour(node):
    r = login(node.ports["submissions"], "slow@example.test")
    for _ in range(2):
        assert r.cmd("MAIL FROM:<slow@example.test>")[0] == 250
        assert r.cmd("RCPT TO:<x@elsewhere.example>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(message() + ".\r\n")
        assert r.reply()[0] == 250
    code, lines = r.cmd("MAIL FROM:<slow@example.test>")
    assert code == 450 and "4.7.1" in lines[0]


def test_two_nodes_share_one_limit(tmp_path, test_ca, redis_server):
    a = start(tmp_path, test_ca, redis_server.socket, name="a")
    b = start(tmp_path, test_ca, redis_server.socket, name="b")
    ra, rb = login(a.ports["submissions"]), login(b.ports["submissions"])
    ra.cmd("MAIL FROM:<%s>" % USER)
    rb.cmd("MAIL FROM:<%s>" % USER)
    got = [c for c, _ in rcpts(ra, 3)] + [c for c, _ in rcpts(rb, 3)] + [c for c, _ in rcpts(ra, 2)]
    assert got.count(250) == 5
    a.stop()
    b.stop()


def test_redis_down_tempfails_then_recovers(node):
    r = login(node.ports["submissions"])
    node.redis.stop()
    code, lines = r.cmd("MAIL FROM:<%s>" % USER)
    assert code == 451 and "4.3.0" in lines[0]
    assert node.queue_files() == []
    wait_for(lambda: node.events("redis.unavailable"))
    [down] = node.events("redis.unavailable")
    assert sorted(down) == ["address", "error"] and down["error"]
    assert down["address"] == "unix:" + node.redis.socket
    node.redis.start()
    wait_for(lambda: node.events("redis.recovered"), timeout=15)
    [up] = node.events("redis.recovered")
    assert sorted(up) == ["address", "down_s"] and up["address"] == down["address"]
    assert up["down_s"] >= 0
    assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
    assert rcpts(r, 1)[0][0] == 250


def test_open_mode_accepts_when_redis_is_down(tmp_path, test_ca, redis_server):
    p = start(tmp_path, test_ca, redis_server.socket, fail_mode="open")
    r = login(p.ports["submissions"])
    redis_server.stop()
    assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
    assert rcpts(r, 7)[0][0] == 250
    p.stop()


def test_posternctl_ratelimit_show_and_reset(node):
    import json
    import os
    from conftest import BUILD
    ctl = [os.path.join(BUILD, "posternctl"), "-f", node.config_path, "ratelimit"]
    r = login(node.ports["submissions"])
    r.cmd("MAIL FROM:<%s>" % USER)
    assert [c for c, _ in rcpts(r, 6)].count(250) == 5
    out = subprocess.run(ctl + ["show", USER, "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert "default" in json.dumps(shown) and "5" in json.dumps(shown)
    out = subprocess.run(ctl + ["reset", USER], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    r.cmd("RSET")
    r2 = login(node.ports["submissions"])
    r2.cmd("MAIL FROM:<%s>" % USER)
    assert [c for c, _ in rcpts(r2, 5)].count(250) == 5
