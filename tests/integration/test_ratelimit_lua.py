"""The rate-limit Lua script (policy/ratelimit_script.c) run directly in a real redis-server.

Most tests inject "now" (the script's first argument; production passes "" and Redis's
clock is used), so many windows are simulated instantly and exactly. The headline test is
the exact bound: over a randomized sequence of requests spanning many windows, no window
of W ms ever holds more than N grants, and each request gets exactly what a perfect
sliding-window limiter would give it.
"""
import random
import time

import pytest

from rlcheck import Resp, RespError, script_source

FIELDS = ("refused", "first", "remaining", "retry", "used", "marker", "tokens")


@pytest.fixture
def lua(redis_server):
    r = Resp(redis_server.socket)
    r.sha = r.call("SCRIPT", "LOAD", script_source())
    yield r
    r.close()


def keys_of(user, cls, suffix=""):
    base = "pt:rl:{%s}:%s%s" % (user, cls, suffix)
    return [base, base + ":log"]


def command(r, buckets, k, now, op="take"):
    """buckets: [(keys, N, W, burst, role)]"""
    keys, args = [], []
    for bkeys, n, w, burst, role in buckets:
        keys += bkeys
        args += [n, w, burst, role]
    return ["EVALSHA", r.sha, len(keys)] + keys + ["" if now is None else now, k, op] + args


def decode(reply):
    if isinstance(reply, RespError):
        raise reply
    out = {"granted": reply[0], "b": []}
    for i in range(1, len(reply), len(FIELDS)):
        b = dict(zip(FIELDS, reply[i:i + len(FIELDS)]))
        b["tokens"] = float(b["tokens"])
        out["b"].append(b)
    return out


def take(r, k, now, n=5, w=2000, burst=None, user="u", cls="c", op="take"):
    bucket = (keys_of(user, cls), n, w, burst or n, "spend")
    return decode(r.pipeline([command(r, [bucket], k, now, op)])[0])


def test_n_pass_then_refused_with_retry_time(lua):
    for i in range(5):
        res = take(lua, 1, 1000 + i)
        assert res["granted"] == 1 and res["b"][0]["remaining"] == 4 - i
    res = take(lua, 1, 1500)
    assert res["granted"] == 0
    b = res["b"][0]
    assert b["refused"] == 1 and b["first"] == 1
    assert b["retry"] == 1000 + 2000 - 1500   # the oldest grant leaves the window then
    assert take(lua, 1, 2999)["granted"] == 0
    assert take(lua, 1, 3000)["granted"] == 1  # window is (now - W, now]


def test_refill_over_time_with_small_burst(lua):
    # 10 per 10 s, at most 2 at once: one token comes back every second
    assert take(lua, 5, 0, n=10, w=10000, burst=2)["granted"] == 2
    res = take(lua, 1, 500, n=10, w=10000, burst=2)
    assert res["granted"] == 0 and res["b"][0]["retry"] == 500
    assert take(lua, 1, 1000, n=10, w=10000, burst=2)["granted"] == 1
    assert take(lua, 3, 3000, n=10, w=10000, burst=2)["granted"] == 2


def test_tokens_never_exceed_capacity(lua):
    take(lua, 1, 0, n=5, w=2000)
    res = take(lua, 0, 10 ** 7, n=5, w=2000, op="show")
    assert res["b"][0]["tokens"] == 5.0 and res["b"][0]["remaining"] == 5


def test_cost_larger_than_capacity_gets_what_fits(lua):
    res = take(lua, 8, 0)
    assert res["granted"] == 5
    assert res["b"][0]["refused"] == 1 and res["b"][0]["first"] == 1
    assert res["b"][0]["remaining"] == 0


def test_every_key_has_a_ttl_no_longer_than_the_window(lua):
    take(lua, 1, None, w=2000)           # Redis's own clock
    take(lua, 9, None, w=2000)           # and a refusal
    for key in keys_of("u", "c"):
        ttl = lua.call("PTTL", key)
        assert 0 < ttl <= 2000, (key, ttl)


def test_keys_expire(lua):
    take(lua, 1, None, w=1000)
    time.sleep(1.1)
    assert lua.call("EXISTS", *keys_of("u", "c")) == 0


def test_first_refusal_once_per_window(lua):
    take(lua, 5, 0)
    firsts = [take(lua, 1, t)["b"][0]["first"] for t in (10, 500, 1999)]
    assert firsts == [1, 0, 0]
    # the marker lasts W from the first refusal; then a refusal is "first" again
    take(lua, 5, 2010)                   # refills and exhausts again
    assert take(lua, 1, 2011)["b"][0]["first"] == 1


def test_show_writes_nothing(lua):
    res = take(lua, 3, 0, op="show")
    assert res["granted"] == 3 and res["b"][0]["remaining"] == 5
    assert lua.call("EXISTS", *keys_of("u", "c")) == 0


def test_need_bucket_refusal_spends_nothing(lua):
    rcpt = (keys_of("u", "c"), 5, 2000, 5, "need")
    msg = (keys_of("u", "c", ":msg"), 3, 3600000, 3, "spend")
    decode(lua.pipeline([command(lua, [(rcpt[0], 5, 2000, 5, "spend")], 5, 0)])[0])
    res = decode(lua.pipeline([command(lua, [rcpt, msg], 1, 10)])[0])
    assert res["granted"] == 0
    assert res["b"][0]["refused"] == 1 and res["b"][1]["refused"] == 0
    assert res["b"][1]["remaining"] == 3     # no message unit was spent
    assert lua.call("EXISTS", keys_of("u", "c", ":msg")[0]) == 0


def test_lost_state_hash_is_recounted_from_the_log(lua):
    take(lua, 4, 0)
    lua.call("DEL", keys_of("u", "c")[0])
    assert take(lua, 5, 10)["granted"] == 1


def test_bad_arguments_are_an_error(lua):
    with pytest.raises(RespError):
        lua.call("EVALSHA", lua.sha, 2, "a", "b", "", 1, "take", 5)


def run_random(lua, seed, n, w, burst, windows):
    """Random batches at random (increasing) times; returns [(t, k, granted)]."""
    rnd = random.Random(seed)
    t, reqs = 0, []
    while t < windows * w:
        t += rnd.choice([0, 1, 3, rnd.randint(0, w // 4), rnd.randint(0, w)])
        reqs.append((t, rnd.randint(1, n + 2)))
    bucket = (keys_of("r%d" % seed, "c"), n, w, burst, "spend")
    replies = lua.pipeline([command(lua, [bucket], k, t) for t, k in reqs])
    return [(t, k, decode(rep)["granted"]) for (t, k), rep in zip(reqs, replies)]


def max_in_any_window(grants, w):
    """Largest sum of grants in a window (a, a + w]; windows ending at a grant suffice."""
    best, lo, total = 0, 0, 0
    for hi in range(len(grants)):
        total += grants[hi][1]
        while grants[lo][0] <= grants[hi][0] - w:
            total -= grants[lo][1]
            lo += 1
        best = max(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_exact_bound_randomized_many_windows(lua, seed):
    n, w = 7, 1000
    seq = run_random(lua, seed, n, w, n, windows=60)
    grants = [(t, g) for t, _, g in seq if g]
    assert max_in_any_window(grants, w) == n          # never above, and reached
    # and nothing is refused that a perfect sliding window would grant
    for i, (t, k, g) in enumerate(seq):
        used = sum(g2 for t2, _, g2 in seq[:i] if t2 > t - w)
        assert g == min(k, n - used), (i, t, k, g, used)


@pytest.mark.parametrize("seed", range(3))
def test_exact_bound_randomized_with_burst(lua, seed):
    n, w = 12, 1000
    seq = run_random(lua, 100 + seed, n, w, 3, windows=60)
    grants = [(t, g) for t, _, g in seq if g]
    assert max_in_any_window(grants, w) <= n
    assert all(g <= 3 for _, _, g in seq)
