"""Connection limits: per listener (port 25 cannot crowd out submission users), and per
client, where an IPv6 client is its /64 (limits.ipv6_prefix) and an IPv4 client on a
dual-stack listener is its own address.

The IPv6 test runs in a network namespace of its own (unshare -rn) where loopback carries
2001:db8::/64 and 2001:db8:0:1::/64: this file is also the script that runs inside it.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from conftest import free_port, wait_for
from postern import Postern, Raw

HERE = os.path.dirname(os.path.abspath(__file__))


def test_each_listener_has_its_own_limit(tmp_path, test_ca):
    p = Postern(tmp_path, test_ca, overrides={
        "limits": {"connections": 10, "connections_per_ip": 10}})
    p.config["listeners"][0]["connections"] = 2        # the MX port
    p.write_config()
    p.start()
    before = p.log().count("disconnect from")
    held = [Raw(p.port) for _ in range(2)]
    for h in held:
        assert h.reply()[0] == 220
    r = Raw(p.port)
    code, lines = r.reply()
    assert code == 421 and lines[0].startswith("421 4.7.0 ") and "too many connections" in \
        lines[0]
    assert r.closed()
    assert "connection limit 2 of listener mx reached" in p.log()
    # submission users still get in while port 25 is full
    sub = Raw(p.ports["submission"])
    assert sub.reply()[0] == 220
    sub.close()
    for h in held:
        h.close()
    wait_for(lambda: p.log().count("disconnect from") >= before + 4, what="sessions gone")
    r = Raw(p.port)
    assert r.reply()[0] == 220   # the slots come back
    r.close()
    p.stop()


# ---- IPv6, in a network namespace -----------------------------------------------------------

NETNS_ADDRS = ["2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8:0:1::1"]


def in_netns(tmp):
    """Runs inside the namespace: returns what each client was told, as JSON on stdout."""
    def ip(*args):
        subprocess.run(["ip"] + list(args), check=True)
    ip("link", "set", "lo", "up")
    for a in NETNS_ADDRS:
        ip("-6", "addr", "add", a + "/64", "dev", "lo", "nodad")
    ip("addr", "add", "127.0.0.2/8", "dev", "lo")
    port = free_port()
    p = Postern(pathlib.Path(tmp), overrides={
        "limits": {"connections_per_ip": 1},
        "listeners": [{"name": "mx", "address": "[::]:%d" % port, "profile": "inbound"}]})
    p.ports["mx"] = port
    p.start()
    out = {}
    held = []

    def greet(source):
        r = Raw(port, host="::1" if ":" in source else "127.0.0.1", source=source)
        code, lines = r.reply()
        held.append(r)
        return lines[0]

    out["first"] = greet("2001:db8::2")
    out["same_64"] = greet("2001:db8::3")
    out["other_64"] = greet("2001:db8:0:1::1")
    out["v4_first"] = greet("127.0.0.1")
    out["v4_other"] = greet("127.0.0.2")
    out["v4_same"] = greet("127.0.0.1")
    for r in held:
        r.close()
    p.stop()
    out["log"] = p.log()
    print(json.dumps(out))


def test_ipv6_clients_count_by_their_64(tmp_path):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare(1) and ip(8) for a private network namespace")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no user/network namespaces here: " + probe.stderr.decode())
    r = subprocess.run(["unshare", "-rn", sys.executable, os.path.abspath(__file__),
                        str(tmp_path)], capture_output=True, text=True, timeout=60,
                       cwd=HERE, env=dict(os.environ, PYTHONPATH=HERE))
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["first"].startswith("220 "), out
    assert out["same_64"].startswith("421 4.7.0 ") and "from 2001:db8::/64" in \
        out["same_64"], out["same_64"]
    assert out["other_64"].startswith("220 "), out
    # IPv4 clients of a dual-stack listener are themselves, not all of ::ffff:0:0/64
    assert out["v4_first"].startswith("220 ") and out["v4_other"].startswith("220 "), out
    assert out["v4_same"].startswith("421 4.7.0 ") and "from 127.0.0.1" in out["v4_same"]


if __name__ == "__main__":
    in_netns(sys.argv[1])
