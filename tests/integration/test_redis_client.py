"""lib/redis under failure: Redis stopped, restarted, frozen (SIGSTOP), script cache flushed.

The driver (rlcheck) uses a 250 ms command timeout and reconnects between 50 and 400 ms,
so every scenario resolves in about a second.
"""
import os
import signal
import subprocess
import time

import pytest

from conftest import free_port, wait_for
from rlcheck import RlCheck

TIMEOUT_MS = 250
FAST = ("--timeout", str(TIMEOUT_MS), "--reconnect-min", "50", "--reconnect-max", "400",
        "--class", "default=100/60000")


@pytest.fixture
def client(redis_server):
    d = RlCheck(redis_server.socket, *FAST)
    d.wait_up()
    yield d
    d.close()


def eval_calls(redis_server):
    for line in redis_server.cli("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_eval:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def test_redis_stopped_fails_fast_then_recovers_after_restart(client, redis_server):
    assert client.cmd("take alice 1")["error"] == "none"
    redis_server.stop()
    assert client.raw("wait down") == "state down"
    for _ in range(3):
        r = client.cmd("take alice 1")
        assert r["error"] == "down" and r["ms"] < 200 and r["granted"] == 0
        assert r["reply"] == "451 4.3.0 Error: temporary local problem, please try again later"
        assert r["accept"] == 0                       # fail_mode tempfail
    redis_server.start()
    client.wait_up()
    r = client.cmd("take alice 1")
    assert r["error"] == "none" and r["granted"] == 1
    sha = redis_server.cli("SCRIPT", "LOAD", subprocess.run(
        [client.proc.args[0], "--print-script"], capture_output=True, text=True).stdout)
    assert redis_server.cli("SCRIPT", "EXISTS", sha) == "1"  # reloaded on reconnect


def test_noscript_falls_back_to_eval(client, redis_server):
    assert client.cmd("take alice 1")["granted"] == 1
    assert redis_server.cli("SCRIPT", "FLUSH") == "OK"
    before = eval_calls(redis_server)
    r = client.cmd("take alice 1")
    assert r["error"] == "none" and r["granted"] == 1 and r["remaining"] == 98
    assert eval_calls(redis_server) == before + 1
    assert client.cmd("take alice 1")["remaining"] == 97  # EVAL re-cached it


def test_frozen_redis_times_out_without_hanging(client, redis_server):
    pid = redis_server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        r = client.cmd("take alice 1", timeout=3)
        assert r["error"] == "timeout"
        assert TIMEOUT_MS - 10 <= r["ms"] <= TIMEOUT_MS + 250
        assert client.raw("wait down", timeout=3) == "state down"
        started = time.monotonic()
        for _ in range(5):
            r = client.cmd("take alice 1", timeout=3)
            assert r["error"] in ("timeout", "down") and r["ms"] <= TIMEOUT_MS + 250
        assert time.monotonic() - started < 5 * (TIMEOUT_MS + 250) / 1000
    finally:
        os.kill(pid, signal.SIGCONT)
    client.wait_up(timeout=5)
    assert client.cmd("take alice 1")["error"] == "none"


def test_fail_mode_open_accepts_on_errors(redis_server):
    d = RlCheck(redis_server.socket, *FAST, "--fail-mode", "open")
    try:
        d.wait_up()
        redis_server.stop()
        d.raw("wait down")
        r = d.cmd("take alice 3")
        assert r["error"] == "down" and r["accept"] == 3 and r["reply"] == ""
    finally:
        d.close()


def test_redis_absent_at_start_then_appears(tmp_path, redis_server):
    redis_server.stop()
    d = RlCheck(redis_server.socket, *FAST)
    try:
        assert d.raw("wait down") == "state down"
        assert d.cmd("take alice 1")["error"] == "down"
        redis_server.start()
        d.wait_up(timeout=5)
        assert d.cmd("take alice 1")["granted"] == 1
    finally:
        d.close()


def test_tcp_address(tmp_path):
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
                             "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "PING"],
                                        capture_output=True, text=True).stdout.strip()
                 == "PONG", what="redis-server on TCP")
        d = RlCheck(None, *FAST, address="127.0.0.1:%d" % port)
        try:
            d.wait_up()
            assert d.cmd("take alice 2")["granted"] == 2
        finally:
            d.close()
    finally:
        proc.terminate()
        proc.wait(10)
