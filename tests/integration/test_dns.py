"""The DNS resolver (lib/dns.c) against real servers on loopback.

Drives tests/helpers/dnsq (the resolver on a libevent loop) against dnsmasq serving
dns_zone.DEFAULT_RECORDS, a blackhole that never answers, a SERVFAIL server and a port
with nothing listening. Checks the result kinds (ok / nxdomain / nodata / timeout /
refused / badname), failover to the next server, MX order and null MX, PTR, TXT
joining, the TTL cap, the cache (a second round sends nothing: dnsmasq's query log
proves it), coalescing, cancellation, and a leak-free run under valgrind.
"""
import shlex
import os
import shutil
import subprocess

import pytest

from conftest import helper_path
from dns_zone import (DnsZone, RcodeServer, RCODE_SERVFAIL, udp_tcp_port,
                      dns_server, dns_blackhole)  # noqa: F401 (fixtures)

FLAGS = ("cached",)
RUN_TIMEOUT = 60


class Line:
    def __init__(self, text):
        tokens = shlex.split(text)
        self.type, self.name, self.status = tokens[:3]
        self.ttl = self.ms = None
        self.cached = False
        rest = tokens[3:]
        while rest and (rest[0] in FLAGS or rest[0].startswith(("ttl=", "ms="))):
            tok = rest.pop(0)
            if tok == "cached":
                self.cached = True
            elif tok.startswith("ttl="):
                self.ttl = int(tok[4:])
            else:
                self.ms = int(tok[3:])
        self.data = rest

    def __repr__(self):
        return "Line(%s %s %s ttl=%s cached=%s %s)" % (self.type, self.name, self.status,
                                                        self.ttl, self.cached, self.data)


def dnsq(servers, *lookups, opts=(), expect_rc=0):
    """Run dnsq; return a list of rounds, each (lines, stats dict)."""
    cmd = [helper_path("dnsq")]
    for s in servers:
        cmd += ["--server", s]
    cmd += list(opts) + list(lookups)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == expect_rc, (r.returncode, r.stdout, r.stderr)
    rounds, lines = [], []
    for text in r.stdout.splitlines():
        if text.startswith("stats "):
            stats = dict(kv.split("=") for kv in text.split()[1:])
            rounds.append((lines, {k: int(v) for k, v in stats.items()}))
            lines = []
        elif not text.startswith("freed "):
            lines.append(Line(text))
    return rounds


def one(servers, rtype, name, opts=()):
    [(lines, _)] = dnsq(servers, rtype, name, opts=opts)
    return lines[0]


# ---- answers ----

def test_mx_is_sorted_by_preference(dns_server):
    line = one([dns_server.address], "MX", "example.test")
    assert line.status == "ok"
    assert line.data == ["10", "mx1.example.test", "20", "mx2.example.test",
                         "30", "mx3.example.test"]


def test_null_mx_is_reported_distinctly(dns_server):
    line = one([dns_server.address], "MX", "nullmx.test")
    assert (line.status, line.data) == ("ok", ["nullmx"])


def test_a_and_aaaa(dns_server):
    [(lines, _)] = dnsq([dns_server.address], "A", "mx1.example.test", "AAAA",
                        "mx1.example.test", "A", "multi.example.test", "A",
                        "MX1.Example.Test.")
    assert [(l.status, l.data) for l in lines] == [
        ("ok", ["192.0.2.10"]), ("ok", ["2001:db8::10"]),
        ("ok", ["192.0.2.20", "192.0.2.21"]), ("ok", ["192.0.2.10"])]


def test_cname_is_followed_for_a(dns_server):
    line = one([dns_server.address], "A", "www.example.test")
    assert (line.status, line.data) == ("ok", ["192.0.2.10"])


def test_ptr_ipv4_ipv6_and_mapped(dns_server):
    [(lines, _)] = dnsq([dns_server.address], "PTR", "192.0.2.11", "PTR", "2001:db8::10",
                        "PTR", "::ffff:192.0.2.10", "PTR", "192.0.2.20", "PTR", "192.0.2.99")
    assert [(l.status, sorted(l.data)) for l in lines] == [
        ("ok", ["mx2.example.test"]), ("ok", ["mx1.example.test"]),
        ("ok", ["mx1.example.test"]), ("ok", ["alias.example.test", "multi.example.test"]),
        ("nxdomain", [])]


def test_txt_strings_of_one_record_are_joined(dns_server):
    [(lines, _)] = dnsq([dns_server.address], "TXT", "multi.example.test", "TXT",
                        "_dmarc.example.test")
    assert lines[0].status == "ok"
    assert sorted(lines[0].data) == ["second record", "v=DKIM1; k=rsa; p=MIGfMA0GCSq"]
    assert lines[1].data == ["v=DMARC1; p=reject"]


def test_dnsbl_listed_and_not_listed(dns_server):
    [(lines, _)] = dnsq([dns_server.address], "DNSBL", "127.0.0.2@zen.test",
                        "DNSBL", "127.0.0.3@zen.test", "DNSBL", "2001:db8::1234@zen.test",
                        "TXT", "2.0.0.127.zen.test")
    assert [(l.status, l.data) for l in lines] == [
        ("ok", ["127.0.0.2"]), ("nxdomain", []), ("ok", ["127.0.0.4"]),
        ("ok", ["listed: see https://example.test/2"])]


def test_nxdomain_and_nodata_are_distinct(dns_server):
    [(lines, _)] = dnsq([dns_server.address], "A", "nx.example.test", "AAAA",
                        "mx2.example.test", "TXT", "mx2.example.test", "MX",
                        "mx1.example.test", "MX", "nx.example.test")
    assert [l.status for l in lines] == ["nxdomain", "nodata", "nodata", "nodata",
                                         "nxdomain"]


def test_name_outside_the_zones_is_refused_not_nxdomain(dns_server):
    line = one([dns_server.address], "A", "example.com")
    assert line.status == "refused"


def test_bad_names_are_refused_before_sending(dns_server):
    [(lines, stats)] = dnsq([dns_server.address], "A", "bad\\name.test", "A", "a..b.test",
                            "PTR", "1.2.3", "DNSBL", "300.1.1.1@zen.test",
                            "A", "x" * 64 + ".test")
    assert [l.status for l in lines] == ["badname"] * 5
    assert stats["sent"] == 0
    assert dns_server.query_count() == 1      # only the readiness probe


# ---- failures are temporary, never "does not exist" ----

def test_blackhole_times_out_within_timeout_times_tries(dns_blackhole):
    timeout_ms, tries = 500, 2
    [(lines, stats)] = dnsq([dns_blackhole.address], "A", "a.example.test", "MX",
                            "example.test", "PTR", "192.0.2.1",
                            opts=["--timeout-ms", str(timeout_ms), "--tries", str(tries),
                                  "--timing"])
    budget = timeout_ms * tries
    for l in lines:
        assert l.status == "timeout", l
        # c-ares alone would wait 500 + 1000 ms (doubling); the deadline stops at 1000.
        assert budget - 50 <= l.ms < budget + 400, l
    assert stats["deadlines"] == 3


def test_closed_port_is_temporary_never_nxdomain():
    port = udp_tcp_port()
    [(lines, _)] = dnsq(["127.0.0.1:%d" % port], "A", "a.example.test", "PTR",
                        "192.0.2.1", "MX", "example.test",
                        opts=["--timeout-ms", "300", "--tries", "1"])
    for l in lines:
        assert l.status in ("refused", "timeout"), l


@pytest.fixture
def servfail_server():
    srv = RcodeServer(RCODE_SERVFAIL).start()
    yield srv
    srv.stop()


def test_servfail_is_temporary(servfail_server):
    # c-ares 1.18 reports "every server failed" as connection refused (see lib/dns.h).
    line = one([servfail_server.address], "A", "a.example.test",
               opts=["--timeout-ms", "300", "--tries", "2", "--timing"])
    assert line.status == "refused" and line.ms < 300


def test_servfail_moves_on_to_the_next_server(servfail_server, dns_server):
    line = one([servfail_server.address, dns_server.address], "MX", "example.test")
    assert line.status == "ok" and line.data[:2] == ["10", "mx1.example.test"]


def test_second_server_answers_when_the_first_is_dead(dns_server, dns_blackhole):
    line = one([dns_blackhole.address, dns_server.address], "A", "mx1.example.test",
               opts=["--timeout-ms", "300", "--tries", "2", "--timing"])
    assert (line.status, line.data) == ("ok", ["192.0.2.10"])
    assert line.ms >= 250


# ---- cache ----

def test_second_round_is_served_from_cache_without_queries(dns_server):
    lookups = ["MX", "example.test", "A", "mx1.example.test", "PTR", "2001:db8::10",
               "TXT", "multi.example.test", "MX", "nullmx.test", "A", "www.example.test"]
    (r1, s1), (r2, s2) = dnsq([dns_server.address], *lookups, opts=["--repeat", "2"])
    assert all(l.status == "ok" and not l.cached for l in r1)
    assert all(l.status == "ok" and l.cached for l in r2)
    assert [l.data for l in r1] == [l.data for l in r2]
    assert s2["sent"] == s1["sent"] == 6 and s2["cache_hits"] == 6
    assert dns_server.query_count("example.test", "MX") == 1
    assert dns_server.query_count("mx1.example.test", "A") == 1


def test_negative_answers_are_cached(dns_server):
    (r1, s1), (r2, s2) = dnsq([dns_server.address], "A", "nx.example.test", "AAAA",
                              "mx2.example.test", opts=["--repeat", "2",
                                                        "--negative-ttl-ms", "45000"])
    assert [(l.status, l.ttl) for l in r1] == [("nxdomain", 45), ("nodata", 45)]
    assert [(l.status, l.cached) for l in r2] == [("nxdomain", True), ("nodata", True)]
    assert s2["sent"] == s1["sent"]
    assert dns_server.query_count("nx.example.test") == 1


def test_temporary_failures_are_never_cached(dns_server, dns_blackhole):
    (r1, s1), (r2, s2) = dnsq([dns_blackhole.address], "A", "a.example.test",
                              opts=["--repeat", "2", "--timeout-ms", "200", "--tries", "1"])
    assert r1[0].status == r2[0].status == "timeout" and not r2[0].cached
    assert s2["sent"] == s1["sent"] + 1
    (r1, s1), (r2, s2) = dnsq([dns_server.address], "A", "example.com",
                              opts=["--repeat", "2"])
    assert r2[0].status == "refused" and s2["sent"] == s1["sent"] + 1


def test_ttl_is_capped_at_max_ttl(dns_server):
    assert dns_server.ttl == 3600
    line = one([dns_server.address], "A", "mx1.example.test")
    assert line.ttl == 300                  # the default max_ttl: 5 minutes
    (r1, _), (r2, _) = dnsq([dns_server.address], "MX", "example.test",
                            opts=["--repeat", "2", "--max-ttl-ms", "20000"])
    assert r1[0].ttl == 20 and r2[0].cached and r2[0].ttl <= 20


def test_zone_ttl_below_the_cap_is_kept(tmp_path):
    zone = DnsZone(tmp_path, ttl=42).start()
    try:
        line = one([zone.address], "A", "mx1.example.test")
    finally:
        zone.stop()
    assert line.ttl == 42


def test_expired_entry_is_queried_again(dns_server):
    (r1, s1), (r2, s2) = dnsq([dns_server.address], "A", "mx1.example.test",
                              opts=["--repeat", "2", "--max-ttl-ms", "1000",
                                    "--pause-ms", "1100"])
    assert r1[0].ttl == 1 and not r2[0].cached and s2["sent"] == s1["sent"] + 1
    assert dns_server.query_count("mx1.example.test", "A") == 2


def test_cache_capacity_evicts(dns_server):
    lookups = ["A", "mx1.example.test", "A", "mx2.example.test"]
    (_, s1), (_, s2) = dnsq([dns_server.address], *lookups,
                            opts=["--repeat", "2", "--cache-size", "2"])
    assert s2["sent"] == s1["sent"]
    (_, s1), (_, s2) = dnsq([dns_server.address], *lookups,
                            opts=["--repeat", "2", "--cache-size", "1"])
    assert s2["cache_hits"] <= 1 and s2["sent"] >= s1["sent"] + 1
    (_, s1), (_, s2) = dnsq([dns_server.address], *lookups,
                            opts=["--repeat", "2", "--cache-size", "0"])
    assert s2["cache_hits"] == 0 and s2["sent"] == s1["sent"] + 2
    (_, s1), (_, s2) = dnsq([dns_server.address], *lookups,
                            opts=["--repeat", "2", "--cache-memory", "64"])
    assert s2["cache_hits"] == 0 and s2["sent"] == s1["sent"] + 2


def test_identical_lookups_share_one_query(dns_server):
    [(lines, stats)] = dnsq([dns_server.address], "A", "mx1.example.test", "A",
                            "MX1.example.test.", "A", "mx1.example.test", "AAAA",
                            "mx1.example.test")
    assert [l.status for l in lines] == ["ok"] * 4
    assert stats["sent"] == 2 and stats["coalesced"] == 2
    assert dns_server.query_count("mx1.example.test", "A") == 1


# ---- cancellation ----

def test_cancelled_lookup_never_calls_back(dns_server):
    [(lines, stats)] = dnsq([dns_server.address], "A", "mx1.example.test", "A",
                            "mx1.example.test", "A", "bad\\name", opts=["--cancel", "1"])
    assert [l.status for l in lines] == ["cancelled", "ok", "badname"]
    assert stats["sent"] == 1 and stats["coalesced"] == 1


def test_cancelled_query_still_fills_the_cache(dns_server):
    (r1, _), (r2, s2) = dnsq([dns_server.address], "MX", "example.test",
                             opts=["--cancel", "1", "--repeat", "2"])
    assert r1[0].status == "cancelled"
    assert r2[0].status == "ok" and r2[0].cached and s2["sent"] == 1


def test_cancel_before_deadline_on_blackhole(dns_blackhole):
    (r1, s1), = dnsq([dns_blackhole.address], "A", "a.example.test", "A",
                     "b.example.test", opts=["--cancel", "1", "--timeout-ms", "200",
                                             "--tries", "2"])
    assert [l.status for l in r1] == ["cancelled", "timeout"]
    assert s1["deadlines"] == 1


# ---- cleanup ----

def test_dnsq_is_leak_free_under_valgrind(dns_server, dns_blackhole):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    if "asan" in os.path.basename(os.environ.get("POSTERN_BUILD", "")):
        pytest.skip("valgrind cannot run an AddressSanitizer build (ASan checks it instead)")
    cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=all",
           "--errors-for-leak-kinds=all", "--error-exitcode=99", "-q",
           helper_path("dnsq"), "--server", dns_blackhole.address,
           "--server", dns_server.address, "--timeout-ms", "200", "--tries", "1",
           "--repeat", "2", "--cancel", "1", "--free-pending",
           "MX", "example.test", "MX", "example.test", "A", "mx1.example.test",
           "TXT", "multi.example.test", "PTR", "2001:db8::10", "A", "nx.example.test",
           "A", "bad name", "A", "example.com"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert "freed pending=8" in r.stdout
