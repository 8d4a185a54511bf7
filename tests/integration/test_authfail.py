"""auth/authfail (failed-login throttling) against a real redis-server (driver: rlcheck)."""
import time

import pytest

from rlcheck import RlCheck

FAST = ("--timeout", "250", "--reconnect-min", "50", "--reconnect-max", "400")


def driver(redis_server, *flags):
    d = RlCheck(redis_server.socket, *FAST, "--af-threshold", "3", *flags)
    d.wait_up()
    return d


@pytest.fixture
def af(redis_server):
    d = driver(redis_server)
    yield d
    d.close()


def test_threshold_blocks_and_is_crossed_once(af):
    answers = [af.cmd("affail 192.0.2.7 bob") for _ in range(5)]
    assert [a["ip"] for a in answers] == [1, 2, 3, 4, 5]
    assert [a["crossed"] for a in answers] == [0, 0, 1, 0, 0]   # one auth.bruteforce event
    assert answers[2]["crossed_ip"] == 1 and answers[2]["crossed_login"] == 1
    assert [a["blocked"] for a in answers] == [0, 0, 1, 1, 1]
    r = af.cmd("afcheck 192.0.2.7")
    assert r["blocked"] == 1 and r["by"] == "ip" and 890 <= r["retry"] <= 900


def test_login_blocked_from_other_addresses(af):
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        af.cmd("affail %s carol" % ip)
    r = af.cmd("afcheck 198.51.100.9 carol")
    assert r["blocked"] == 1 and r["by"] == "login" and r["ip"] == 0
    assert af.cmd("afcheck 198.51.100.9")["blocked"] == 0
    assert af.cmd("afcheck 198.51.100.9 dave")["blocked"] == 0


def test_login_that_looks_like_an_ip_does_not_block_that_ip(af):
    for _ in range(3):
        af.cmd("affail 192.0.2.50 203.0.113.5")
    assert af.cmd("afcheck 203.0.113.5")["blocked"] == 0


def test_ipv6_counted_per_64(af, redis_server):
    af.cmd("affail 2001:db8:1:2::1")
    af.cmd("affail 2001:db8:1:2:aaaa::2")
    r = af.cmd("affail 2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert r["ip"] == 3 and r["crossed"] == 1
    assert af.cmd("afcheck 2001:db8:1:3::1")["blocked"] == 0
    assert "pt:authfail:ip:{2001:db8:1:2::/64}" in redis_server.cli("KEYS", "pt:authfail:*")


def test_v4_mapped_address_counts_as_v4(af):
    af.cmd("affail ::ffff:192.0.2.80")
    assert af.cmd("afcheck 192.0.2.80")["ip"] == 1


def test_block_ends_with_the_window(redis_server):
    d = driver(redis_server, "--af-window", "1000")
    try:
        for _ in range(3):
            d.cmd("affail 192.0.2.9 erin")
        assert d.cmd("afcheck 192.0.2.9 erin")["blocked"] == 1
        assert redis_server.cli("PTTL", "pt:authfail:login:{erin}").isdigit()
        time.sleep(1.05)
        assert d.cmd("afcheck 192.0.2.9 erin")["blocked"] == 0
    finally:
        d.close()


@pytest.mark.parametrize("mode,blocked", [("open", 0), ("closed", 1)])
def test_fail_mode_when_redis_is_down(redis_server, mode, blocked):
    d = driver(redis_server, "--af-fail-mode", mode)
    try:
        redis_server.stop()
        d.raw("wait down")
        r = d.cmd("afcheck 192.0.2.10 frank")
        assert r["error"] == "down" and r["blocked"] == blocked and r["ms"] < 200
        r = d.cmd("affail 192.0.2.10 frank")
        assert r["error"] == "down" and r["crossed"] == 0
    finally:
        d.close()
