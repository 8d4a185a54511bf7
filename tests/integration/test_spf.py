"""SPF (RFC 7208) through "posternctl spf" with the daemon's code and the real resolver.

posternctl spf [--dns HOST:PORT] IP SENDER [HELO] runs mailauth/spf.c over lib/dns (c-ares)
on a private loop, against dnsmasq serving SPF-shaped test zones (dns_zone.DnsZone):
each case checks the first word of the output (the result) and the explanation after it.
Covers ip4/ip6/a/mx/ptr/include/exists/all, redirect= and exp= with macros, record
selection (none, two records), the lookup and void limits, the HELO identity for the
null sender, a dead server (temperror, with the timeout from the config file when --dns
is not given), and usage errors.
"""
import os
import subprocess

import pytest

from conftest import BUILD
from dns_zone import Blackhole, DnsZone
from postern import Postern

RUN_TIMEOUT = 30
EX_USAGE = 64

RECORDS = [
    ("pass.test", "TXT", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"),
    ("exp.test", "TXT", "v=spf1 -all exp=why.exp.test"),
    ("why.exp.test", "TXT", "%{l} may not send mail for %{d} from %{i}."),
    ("mx.test", "TXT", "v=spf1 mx a:web.mx.test/30 -all"),
    ("mx.test", "MX", (10, "mx1.mx.test")),
    ("mx.test", "MX", (20, "mx2.mx.test")),
    ("mx1.mx.test", "A", "198.51.100.10"),
    ("mx2.mx.test", "A", "198.51.100.20"),
    ("mx2.mx.test", "AAAA", "2001:db8:2::20"),
    ("web.mx.test", "A", "198.51.100.100"),
    ("ptr.test", "TXT", "v=spf1 ptr:ptr.test ~all"),
    ("host.ptr.test", "A", "203.0.113.7"),
    ("7.113.0.203.in-addr.arpa", "PTR", "host.ptr.test"),
    ("inc.test", "TXT", "v=spf1 include:_spf.pass.test include:%{d2}.nothing.test ?all"),
    ("_spf.pass.test", "TXT", ["v=spf1 ip4:203.0.113.0", "/24 -all"]),   # strings joined
    ("redir.test", "TXT", "v=spf1 redirect=pass.test"),
    ("exists.test", "TXT", "v=spf1 exists:%{ir}.%{v}.list.exists.test -all"),
    ("9.2.0.192.in-addr.list.exists.test", "A", "127.0.0.2"),
    ("two.test", "TXT", "v=spf1 +all"),
    ("two.test", "TXT", "v=spf1 -all"),
    ("other.test", "TXT", "some-verification=abc"),
    ("broken.test", "TXT", "v=spf1 ip4:192.0.2.1 foo -all"),
    ("void.test", "TXT", "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test ?all"),
    ("limit.test", "TXT", "v=spf1 a a a a a a a a a a a ip4:192.0.2.0/24"),
    ("limit.test", "A", "198.51.100.1"),
    ("helo.test", "TXT", "v=spf1 a -all"),
    ("helo.test", "A", "192.0.2.77"),
]


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    d = tmp_path_factory.mktemp("spfdns")
    z = DnsZone(d, records=RECORDS).start()
    yield z
    z.stop()


def spf(*args, dns=None, config=None, expect_rc=0):
    cmd = [os.path.join(BUILD, "posternctl")]
    if config:
        cmd += ["-f", config]
    cmd += ["spf"]
    if dns:
        cmd += ["--dns", dns]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == expect_rc, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def result(zone, ip, sender, helo="client.example.org"):
    out = spf(ip, sender, helo, dns=zone.address)
    first = out.splitlines()[0]
    word, _, text = first.partition(" ")
    return word, text, out


@pytest.mark.parametrize("ip,sender,want", [
    ("192.0.2.9", "a@pass.test", "pass"),
    ("2001:db8::25", "a@pass.test", "pass"),
    ("::ffff:192.0.2.9", "a@pass.test", "pass"),              # IPv4-mapped is IPv4
    ("198.51.100.1", "a@pass.test", "fail"),
    ("198.51.100.20", "a@mx.test", "pass"),                   # second MX host
    ("2001:db8:2::20", "a@mx.test", "pass"),                  # its AAAA
    ("198.51.100.102", "a@mx.test", "pass"),                  # a:/30
    ("198.51.100.104", "a@mx.test", "fail"),
    ("203.0.113.7", "a@ptr.test", "pass"),                    # validated PTR name
    ("203.0.113.8", "a@ptr.test", "softfail"),
    ("203.0.113.50", "a@inc.test", "pass"),                   # include, joined strings
    ("192.0.2.1", "a@inc.test", "permerror"),                 # include of nothing
    ("192.0.2.1", "a@redir.test", "pass"),
    ("192.0.2.9", "a@exists.test", "pass"),
    ("192.0.2.10", "a@exists.test", "fail"),
    ("192.0.2.1", "a@nosuchdomain.test", "none"),
    ("192.0.2.1", "a@other.test", "none"),
    ("192.0.2.1", "a@two.test", "permerror"),
    ("192.0.2.1", "a@broken.test", "permerror"),
    ("192.0.2.1", "a@void.test", "permerror"),                # third void lookup
    ("192.0.2.1", "a@limit.test", "permerror"),               # eleventh DNS mechanism
])
def test_results(zone, ip, sender, want):
    word, text, out = result(zone, ip, sender)
    assert word == want, out
    assert text, out


def test_fail_prints_the_expanded_explanation_first(zone):
    word, text, out = result(zone, "198.51.100.7", "joe@exp.test")
    assert word == "fail"
    assert text == "joe may not send mail for exp.test from 198.51.100.7."
    assert "mechanism: -all (record of exp.test)" in out
    assert "Received-SPF: fail" in out
    assert "Authentication-Results: " in out and "spf=fail smtp.mailfrom=joe@exp.test" in out


def test_pass_explains_the_matching_mechanism(zone):
    word, text, out = result(zone, "192.0.2.9", "a@pass.test")
    assert word == "pass"
    assert "ip4:192.0.2.0/24" in text
    assert "identity: mailfrom pass.test" in out


def test_null_sender_checks_helo(zone):
    word, _, out = result(zone, "192.0.2.77", "", "helo.test")
    assert word == "pass"
    assert "identity: helo helo.test" in out
    assert "smtp.helo=helo.test" in out
    word, _, _ = result(zone, "192.0.2.78", "", "helo.test")
    assert word == "fail"


def test_dead_server_is_temperror_with_the_config_timeout(tmp_path):
    hole = Blackhole().start()
    try:
        p = Postern(tmp_path, overrides={"dns": {"servers": [hole.address], "timeout": "100ms",
                                                 "tries": 1}})
        out = spf("192.0.2.1", "a@example.test", config=p.config_path)
    finally:
        hole.stop()
    assert out.split()[0] == "temperror", out


@pytest.mark.parametrize("args", [
    ("not-an-ip", "a@example.test"),
    ("192.0.2.1",),
    ("--dns",),
    ("192.0.2.1", "a@example.test", "helo", "extra"),
])
def test_usage_errors(zone, args):
    spf(*args, dns=zone.address if args != ("--dns",) else None, expect_rc=EX_USAGE)
