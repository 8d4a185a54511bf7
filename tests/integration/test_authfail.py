"""auth/authfail (failed-login throttling) against a real redis-server (driver: rlcheck).

Thresholds here: 4 attempts per address, 3 failures per (login, address), 3 per login;
delays 100 ms doubling to 400 ms. Each test gets its own redis-server."""
import concurrent.futures
import time

import pytest

from rlcheck import RlCheck

FAST = ("--timeout", "250", "--reconnect-min", "50", "--reconnect-max", "400")
LIMITS = ("--af-ip-threshold", "4", "--af-login-ip-threshold", "3",
          "--af-login-threshold", "3", "--af-delay", "100", "--af-delay-max", "400")


def driver(redis_server, *flags):
    d = RlCheck(redis_server.socket, *FAST, *LIMITS, *flags)
    d.wait_up()
    return d


@pytest.fixture
def af(redis_server):
    d = driver(redis_server)
    yield d
    d.close()


def counter(answer, name):
    """(count, seconds left, crossed) of one counter in a driver answer."""
    n, left, crossed = (int(x) for x in answer[name].split("/"))
    return n, left, crossed


def attempt(d, ip, login, ok=False):
    """One AUTH through the throttle: begin, then end with the verdict unless refused."""
    b = d.cmd("afbegin %s" % ip)
    if b["refused"]:
        return b
    return d.cmd("afend %s %s %s" % (ip, login or "-", "ok" if ok else "fail"))


def test_address_blocks_at_its_threshold_before_any_verdict(af):
    answers = [attempt(af, "192.0.2.7", "user%d@example.test" % i) for i in range(4)]
    assert [counter(a, "ip")[0] for a in answers] == [1, 2, 3, 4]
    assert [counter(a, "ip")[2] for a in answers] == [0, 0, 0, 1]   # one alert
    assert [a["refused"] for a in answers] == [0, 0, 0, 0]
    b = af.cmd("afbegin 192.0.2.7")
    assert (b["refused"], b["by"], b["reserved"]) == (1, "ip", 0)
    assert 50 <= b["retry"] <= 900 and counter(b, "ip")[0] == 4      # nothing counted
    assert af.cmd("afbegin 192.0.2.8")["refused"] == 0


def test_a_success_gives_its_reservation_back_and_keeps_the_failures(af):
    for i in range(3):
        attempt(af, "192.0.2.9", "u%d@example.test" % i)
    a = attempt(af, "192.0.2.9", "good@example.test", ok=True)
    assert a["refused"] == 0 and counter(a, "ip")[0] == 3          # not 4, not 0
    assert attempt(af, "192.0.2.9", "u9@example.test")["refused"] == 0
    assert af.cmd("afbegin 192.0.2.9")["refused"] == 1


def test_an_exchange_without_verdict_gives_its_reservation_back(af):
    for _ in range(6):
        assert af.cmd("afbegin 192.0.2.10")["reserved"] == 1
        assert af.cmd("afrelease 192.0.2.10")["cmd"] == "afrelease"
    b = af.cmd("afbegin 192.0.2.10")
    assert b["refused"] == 0 and counter(b, "ip")[0] == 1


def test_racing_reservations_never_exceed_the_threshold(redis_server):
    """Twelve drivers (each its own Redis connection, as several nodes) begin at once."""
    drivers = [driver(redis_server) for _ in range(12)]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(drivers)) as pool:
            answers = list(pool.map(lambda d: d.cmd("afbegin 192.0.2.11"), drivers))
        assert sorted(a["reserved"] for a in answers) == [0] * 8 + [1] * 4
    finally:
        for d in drivers:
            d.close()


def test_login_blocked_from_one_address_whatever_the_verdict(redis_server):
    af = driver(redis_server, "--af-ip-threshold", "10")
    for _ in range(3):
        a = attempt(af, "192.0.2.20", "carol@example.test")
        assert a["refused"] == 0
    assert counter(a, "login_ip")[:3:2] == (3, 1)                     # crossed once
    wrong = attempt(af, "192.0.2.20", "carol@example.test")
    right = attempt(af, "192.0.2.20", "carol@example.test", ok=True)
    for r in (wrong, right):
        assert (r["refused"], r["by"]) == (1, "login_ip") and 50 <= r["retry"] <= 900
        assert counter(r, "login_ip")[2] == 0
    # the right password counted as a failure too: same counters, same delays
    assert counter(right, "login_ip")[0] == counter(wrong, "login_ip")[0] + 1
    assert counter(right, "login")[0] == counter(wrong, "login")[0] + 1
    assert counter(right, "ip")[0] == 5                # its reservation was kept
    # from another address the login is fine
    a = attempt(af, "192.0.2.21", "carol@example.test", ok=True)
    assert a["refused"] == 0
    af.close()


def test_login_guessed_from_many_addresses_is_delayed_never_refused(af):
    answers = [attempt(af, "198.51.100.%d" % i, "dave@example.test") for i in range(1, 8)]
    assert [counter(a, "login")[0] for a in answers] == [1, 2, 3, 4, 5, 6, 7]
    assert [counter(a, "login")[2] for a in answers] == [0, 0, 1, 0, 0, 0, 0]
    # the delay of a verdict comes from the failures before it: 3 -> 100 ms, doubling, cap
    assert [a["delay"] for a in answers] == [0, 0, 0, 100, 200, 400, 400]
    assert all(a["refused"] == 0 for a in answers)
    right = attempt(af, "198.51.100.99", "dave@example.test", ok=True)
    wrong = attempt(af, "198.51.100.98", "dave@example.test")
    assert right["refused"] == 0 and right["delay"] == 400 and wrong["delay"] == 400
    assert counter(right, "login")[0] == 7                 # a success is not a failure


def test_failure_without_a_login_counts_for_the_address_only(af, redis_server):
    af.cmd("afbegin 192.0.2.30")
    a = af.cmd("afend 192.0.2.30 - fail")
    assert counter(a, "ip")[0] == 1 and counter(a, "login")[0] == 0
    assert redis_server.cli("KEYS", "pt:authfail:login*") == ""


def test_unreserved_failure_is_counted_at_the_end(af):
    """Redis was down at AUTH (fail_mode open) but is back for the verdict."""
    a = af.cmd("afend 192.0.2.31 erin@example.test fail unreserved")
    assert counter(a, "ip")[0] == 1


def test_keys_follow_the_design_one_slot_per_script(af, redis_server):
    attempt(af, "2001:db8:1:2::1", "Frank@Example.test")
    attempt(af, "2001:db8:1:2:ffff::9", "frank@example.test")
    keys = sorted(redis_server.cli("KEYS", "pt:authfail:*").split())
    assert keys == ["pt:authfail:ip:{2001:db8:1:2::/64}",
                    "pt:authfail:login:{frank@example.test}",
                    "pt:authfail:login:{frank@example.test}:ip:2001:db8:1:2::/64"]
    for k in keys:
        ttl = int(redis_server.cli("PTTL", k))
        assert 0 < ttl <= 900000
    assert counter(af.cmd("afbegin 2001:db8:1:3::1"), "ip")[0] == 1   # another /64


def test_v4_mapped_address_counts_as_v4(af):
    attempt(af, "::ffff:192.0.2.80", "g@example.test")
    assert counter(af.cmd("afbegin 192.0.2.80"), "ip")[0] == 2


def test_windows_end_and_blocks_with_them(redis_server):
    d = driver(redis_server, "--af-window", "1000")
    try:
        for i in range(4):
            attempt(d, "192.0.2.90", "h%d@example.test" % i)
        assert d.cmd("afbegin 192.0.2.90")["refused"] == 1
        time.sleep(1.05)
        assert d.cmd("afbegin 192.0.2.90")["refused"] == 0
    finally:
        d.close()


@pytest.mark.parametrize("mode,refused", [("open", 0), ("closed", 1)])
def test_fail_mode_when_redis_is_down(redis_server, mode, refused):
    d = driver(redis_server, "--af-fail-mode", mode)
    try:
        redis_server.stop()
        d.raw("wait down")
        b = d.cmd("afbegin 192.0.2.10")
        assert b["error"] == "down" and b["refused"] == refused and b["by"] == "none"
        assert b["reserved"] == 0 and b["ms"] < 200
        e = d.cmd("afend 192.0.2.10 ivan@example.test ok unreserved")
        assert e["error"] == "down" and e["refused"] == refused and e["delay"] == 0
        assert counter(e, "login")[2] == 0
    finally:
        d.close()
