"""Redis Sentinel: Postern finds the master through Debian's redis-sentinel, follows a
failover while clients submit under rate limits, sends AUTH when Redis wants a password,
and warns when the server would evict keys. A master, a replica and three sentinels run
on loopback TCP ports."""
import os
import subprocess
import time

import pytest

from conftest import BUILD, free_port, wait_for
from postern import Postern
from test_ratelimit_smtp import PASSWORD, USER, login, rcpts
from test_submission_auth import make_sasldb

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/redis-sentinel"),
                                reason="redis-sentinel is not installed (make deps)")


def cli(port, *args):
    r = subprocess.run(["redis-cli", "-p", str(port)] + list(args), capture_output=True,
                       text=True, timeout=10)
    return r.stdout.strip()


class Cluster:
    """A master, one replica and three sentinels watching them (quorum 2)."""

    def __init__(self, directory):
        self.dir = str(directory)
        self.procs = {}
        self.master, self.replica = free_port(), free_port()
        self.sentinels = [free_port() for _ in range(3)]

    def _server(self, name, port, *extra):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        self.procs[name] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", d, "--loglevel", "warning"] + list(extra),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: cli(port, "PING") == "PONG", what=name)

    def start(self):
        self._server("master", self.master)
        self._server("replica", self.replica, "--replicaof", "127.0.0.1", str(self.master))
        for i, port in enumerate(self.sentinels):
            conf = os.path.join(self.dir, "sentinel%d.conf" % i)
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                        "sentinel monitor mymaster 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds mymaster 500\n"
                        "sentinel failover-timeout mymaster 3000\n"
                        "sentinel parallel-syncs mymaster 1\n" % (port, self.dir, self.master))
            self.procs["sentinel%d" % i] = subprocess.Popen(
                ["redis-sentinel", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in self.sentinels:
            wait_for(lambda: cli(port, "SENTINEL", "get-master-addr-by-name", "mymaster")
                     .split() == ["127.0.0.1", str(self.master)], what="sentinel")
        return self

    def master_port(self):
        out = cli(self.sentinels[0], "SENTINEL", "get-master-addr-by-name", "mymaster").split()
        return int(out[1]) if len(out) == 2 else None

    def kill(self, name):
        self.procs[name].kill()
        self.procs[name].wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path).start()
    yield c
    c.stop()


def node(tmp_path, test_ca, c, name):
    db = str(tmp_path / ("sasldb-" + name))
    make_sasldb(db, [(USER, PASSWORD)])
    over = {
        "redis": {"sentinels": ["127.0.0.1:%d" % p for p in c.sentinels],
                  "master_name": "mymaster", "timeout": "250ms",
                  "reconnect_min": "50ms", "reconnect_max": "300ms"},
        "ratelimit": {"classes": {"default": {"recipients": 1000, "window": "1h"}}},
        "auth": {"sasldb": db, "senders": {}},
    }
    return Postern(tmp_path, test_ca, overrides=over, name=name).start()


def test_the_master_is_found_through_the_sentinels(tmp_path, test_ca, cluster):
    p = node(tmp_path, test_ca, cluster, "n1")
    try:
        wait_for(lambda: "master mymaster is at 127.0.0.1:%d" % cluster.master in p.log(),
                 what="master found")
        r = login(p.ports["submissions"])
        r.cmd("MAIL FROM:<%s>" % USER)
        assert [x[0] for x in rcpts(r, 3)] == [250, 250, 250]
        r.close()
        keys = cli(cluster.master, "KEYS", "pt:rl:*")
        assert "pt:rl:{news@example.test}:default" in keys
    finally:
        p.stop()


def test_a_failover_is_followed_and_every_recipient_is_accepted_or_deferred(
        tmp_path, test_ca, cluster):
    nodes = [node(tmp_path, test_ca, cluster, "n%d" % i) for i in (1, 2)]
    try:
        for p in nodes:
            wait_for(lambda: "connected to" in p.log(), what="connected")
        codes = []

        def submit_round():
            for p in nodes:
                r = login(p.ports["submissions"])
                mail = r.cmd("MAIL FROM:<%s>" % USER)[0]
                codes.extend(x[0] for x in rcpts(r, 2)) if mail == 250 else codes.append(mail)
                r.close()

        submit_round()
        assert set(codes) == {250}
        old = cluster.master
        cluster.kill("master")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            submit_round()
            if cluster.master_port() not in (None, old) and codes[-4:] == [250] * 4:
                submit_round()   # a full round after the switch
                break
            time.sleep(0.2)
        assert cluster.master_port() == cluster.replica
        assert codes[-4:] == [250] * 4, codes
        # during the switch: only acceptances and temporary refusals, never a 5xx
        assert all(c == 250 or 400 <= c < 500 for c in codes), codes
        for p in nodes:
            assert "127.0.0.1:%d" % cluster.replica in p.log()
        assert "news@example.test" in cli(cluster.replica, "KEYS", "pt:rl:*")
        # the limit's promise across the failover: recipients granted (250) against the
        # grants the new master holds; replication is asynchronous, so what the old
        # master granted in its last moment may be missing (under-counted), never more
        log = cli(cluster.replica, "ZRANGE", "pt:rl:{news@example.test}:default:log", "0", "-1")
        recorded = sum(int(m.rsplit(":", 1)[1]) for m in log.split() if ":" in m)
        granted = codes.count(250)
        under = granted - recorded
        print("sentinel failover: %d recipients granted, %d recorded on the new master, "
              "under-count %d (%d rounds)" % (granted, recorded, under, len(codes) // 4))
        # a grant can also be recorded and its reply lost to the switch (the client got a
        # 4xx and will retry): over-counted, the safe side
        tempfails = sum(1 for c in codes if 400 <= c < 500)
        assert -tempfails <= under <= granted, (granted, recorded, tempfails)
    finally:
        for p in nodes:
            p.stop()


def test_auth_is_sent_when_redis_needs_a_password(tmp_path, test_ca):
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--requirepass", "s3cret-pw", "--loglevel", "warning",
         "--maxmemory-policy", "allkeys-lru"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: "NOAUTH" in cli(port, "PING") or cli(port, "PING") == "PONG",
                 what="redis")
        db = str(tmp_path / "sasldb")
        make_sasldb(db, [(USER, PASSWORD)])
        over = {"redis": {"address": "127.0.0.1:%d" % port, "password": "s3cret-pw"},
                "auth": {"sasldb": db, "senders": {}}}
        p = Postern(tmp_path, test_ca, overrides=over).start()
        try:
            wait_for(lambda: "connected to 127.0.0.1:%d" % port in p.log(), what="connected")
            wait_for(lambda: "maxmemory-policy allkeys-lru" in p.log(), what="eviction warning")
            assert "********" in subprocess.run(
                [os.path.join(BUILD, "postern"), "-n", "-v", "-f", p.config_path], capture_output=True,
                text=True).stdout
        finally:
            p.stop()
        over["redis"]["password"] = "wrong"
        p = Postern(tmp_path, test_ca, overrides=over, name="wrong").start()
        try:
            wait_for(lambda: "AUTH refused" in p.log(), what="AUTH refused logged")
        finally:
            p.stop()
    finally:
        proc.kill()
        proc.wait()
