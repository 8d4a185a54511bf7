"""policy/ratelimit through lib/redis against a real redis-server (driver: rlcheck).

Classes are short (5 recipients per 2 s) so refills are observed without long sleeps.
"""
import json
import threading
import time

import pytest

from rlcheck import RlCheck

FIVE_PER_2S = "default=5/2000"


@pytest.fixture
def rl(redis_server):
    d = RlCheck(redis_server.socket, "--class", FIVE_PER_2S,
                "--class", "newsletter=100/3600000/3/50", "--user", "news@example.com=newsletter")
    d.wait_up()
    yield d
    d.close()


def test_five_pass_sixth_refused_then_refilled(rl):
    for i in range(5):
        r = rl.cmd("take alice 1")
        assert (r["granted"], r["remaining"], r["error"]) == (1, 4 - i, "none")
    r = rl.cmd("take alice 1")
    assert r["granted"] == 0 and r["limited"] == "rcpt" and r["first"] == 1
    assert 1 <= r["retry"] <= 2
    assert r["reply"] == ("450 4.7.1 Recipient rate limit exceeded for alice (5/2s); "
                          "retry in %d s" % r["retry"])
    again = rl.cmd("take alice 1")
    assert again["granted"] == 0 and again["first"] == 0   # one event per window
    time.sleep(r["retry"])
    r = rl.cmd("take alice 1")
    assert r["granted"] == 1


def test_batch_of_ten_gets_exactly_five(rl):
    r = rl.cmd("take alice 10")
    assert (r["granted"], r["requested"], r["remaining"]) == (5, 10, 0)
    assert r["accept"] == 5 and r["first"] == 1


def test_mail_from_refused_when_quota_exhausted(rl):
    assert rl.cmd("mail alice")["granted"] == 1
    rl.cmd("take alice 5")
    r = rl.cmd("mail alice")
    assert r["granted"] == 0 and r["limited"] == "rcpt"
    assert r["reply"].startswith("450 4.7.1 Sending quota exceeded for alice: "
                                 "5 recipients per 2s; retry in ")


def test_messages_per_hour(rl):
    for left in (2, 1, 0):
        r = rl.cmd("mail news@example.com")
        assert r["granted"] == 1 and r["msg_remaining"] == left and r["msg_limit"] == 3
    r = rl.cmd("mail news@example.com")
    assert r["granted"] == 0 and r["limited"] == "msg" and r["first"] == 1
    assert 3500 < r["retry"] <= 3600
    assert r["reply"].startswith("450 4.7.1 Message rate limit exceeded for "
                                 "news@example.com: 3 messages per 1h; retry in ")


def test_newsletter_class_has_its_own_bucket(rl, redis_server):
    assert rl.cmd("take alice 5")["granted"] == 5
    r = rl.cmd("take news@example.com 60")
    assert (r["granted"], r["limit"], r["remaining"]) == (60, 100, 40)
    keys = set(redis_server.cli("KEYS", "pt:rl:*").split())
    assert "pt:rl:{news@example.com}:newsletter" in keys
    assert "pt:rl:{alice}:default" in keys


def test_user_names_are_case_folded_and_escaped(rl, redis_server):
    assert rl.cmd("take Alice 3")["granted"] == 3
    assert rl.cmd("take ALICE 3")["granted"] == 2
    rl.cmd("take a}b 1")
    keys = redis_server.cli("KEYS", "pt:rl:*").split()
    assert "pt:rl:{a%7Db}:default" in keys


def test_two_clients_share_one_exact_limit(redis_server):
    flags = ("--class", "default=20/60000")
    clients = [RlCheck(redis_server.socket, *flags) for _ in range(2)]
    for c in clients:
        c.wait_up()
    # each client takes a token first, so both take part however the threads are
    # scheduled (one thread may otherwise spend the whole quota before the other starts)
    granted = [c.cmd("take shared 1")["granted"] for c in clients]
    assert granted == [1, 1]

    def run(i):
        for _ in range(30):
            granted[i] += clients[i].cmd("take shared 1")["granted"]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    assert sum(granted) == 20


def test_cancelled_take_never_answers(rl):
    assert rl.raw("cancel alice 1") == "cancelled"
    r = rl.cmd("take alice 1")               # the next line is this take's answer
    assert r["cmd"] == "take" and r["requested"] == 1
    assert r["remaining"] in (3, 4)          # the cancelled take may have been spent


def test_admin_show_and_reset(rl):
    rl.cmd("take alice 2")
    assert rl.raw("show alice") == "user alice class default"
    line = rl.line()
    assert line.startswith("recipients limit=5 window=2s used=2 remaining=3 tokens=3.")
    assert rl.line() == "messages off"
    shown = json.loads(rl.raw("show alice json"))
    assert shown["recipients"]["used"] == 2 and shown["messages"] is None
    assert rl.raw("reset alice") == "alice: 2 keys deleted"
    assert rl.cmd("take alice 5")["granted"] == 5
