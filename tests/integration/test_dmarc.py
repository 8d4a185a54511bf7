"""DMARC (RFC 7489) through "posternctl dmarc" with the daemon's code and the real resolver.

posternctl dmarc [--dns HOST:PORT] [--spf RESULT:DOMAIN] [--dkim [d=]DOMAIN:RESULT]...
[--sample N] MESSAGE|FROMDOMAIN runs mailauth/dmarc.c over lib/dns (c-ares) against
dnsmasq serving DMARC records (dns_zone.DnsZone); the first word of the output is the
result. Covers relaxed and strict alignment of SPF and DKIM identities, the fallback to
the organizational domain with sp=, no record, pct= with a chosen sample, a message file
whose Ed25519 DKIM signature (posternctl dkim sign) is verified first, a message with two
From fields, and usage errors.
"""
import os
import re
import subprocess

import pytest

from conftest import BUILD
from dns_zone import DnsZone

RUN_TIMEOUT = 30
EX_USAGE = 64

RECORDS = [
    ("_dmarc.example.test", "TXT", "v=DMARC1; p=reject; rua=mailto:d@example.test"),
    ("_dmarc.strict.test", "TXT", "v=DMARC1; p=quarantine; adkim=s; aspf=s"),
    ("_dmarc.org.test", "TXT", "v=DMARC1; p=reject; sp=quarantine"),
    ("_dmarc.half.test", "TXT", "v=DMARC1; p=reject; pct=50"),
    ("_dmarc.two.test", "TXT", "v=DMARC1; p=none"),
    ("_dmarc.two.test", "TXT", "v=DMARC1; p=reject"),
    ("nodmarc.test", "TXT", "v=spf1 -all"),
]


def ctl(*args, expect_rc=0):
    r = subprocess.run([os.path.join(BUILD, "posternctl")] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == expect_rc, (r.returncode, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    d = tmp_path_factory.mktemp("dmarcdns")
    keydir = tmp_path_factory.mktemp("dmarckeys")
    line = ctl("dkim", "keygen", "example.test", "e1", "--dir", keydir, "--type", "ed25519")
    records = RECORDS + [("e1._domainkey.example.test", "TXT",
                          re.findall(r'"([^"]*)"', line))]
    z = DnsZone(d, records=records).start()
    z.key = os.path.join(str(keydir), "example.test.e1.key")
    yield z
    z.stop()


def dmarc(zone, *args):
    out = ctl("dmarc", "--dns", zone.address, *args)
    return out.splitlines()[0].split(" ")[0], out


@pytest.mark.parametrize("args,want", [
    (["example.test"], "fail"),
    (["--spf", "pass:bounce.example.test", "example.test"], "pass"),     # relaxed SPF
    (["--spf", "fail:example.test", "example.test"], "fail"),
    (["--dkim", "d=mail.example.test:pass", "example.test"], "pass"),    # relaxed DKIM
    (["--dkim", "example.test:fail", "example.test"], "fail"),
    (["--dkim", "d=mail.strict.test:pass", "strict.test"], "fail"),      # adkim=s
    (["--spf", "pass:strict.test", "Strict.Test"], "pass"),              # aspf=s, exact
    (["--spf", "pass:other.test", "nodmarc.test"], "none"),
    (["two.test"], "none"),                                             # two records
])
def test_results(zone, args, want):
    word, out = dmarc(zone, *args)
    assert word == want, out


def test_fail_prints_the_policy_and_the_header_clause(zone):
    word, out = dmarc(zone, "example.test")
    assert "record: _dmarc.example.test p=reject sp=reject pct=100" in out
    assert "policy: reject, disposition: reject" in out
    assert re.search(r"^Authentication-Results: \S+; dmarc=fail \(p=reject sp=reject "
                     r"pct=100 dis=reject\) header.from=example.test$", out, re.M), out


def test_subdomain_falls_back_to_the_org_domain_with_sp(zone):
    word, out = dmarc(zone, "news.org.test")
    assert word == "fail"
    assert "record: _dmarc.org.test" in out
    assert "policy: quarantine" in out


def test_pct_sample_moves_reject_one_step_down(zone):
    _, out = dmarc(zone, "--sample", "10", "half.test")
    assert "disposition: reject" in out
    _, out = dmarc(zone, "--sample", "70", "half.test")
    assert "disposition: quarantine (sampled out by pct)" in out


def test_message_file_is_verified_then_evaluated(zone, tmp_path):
    msg = tmp_path / "in.eml"
    msg.write_text("From: Alice <alice@example.test>\nTo: bob@example.net\n"
                   "Subject: dmarc\n\nHello\n")
    signed = subprocess.run([os.path.join(BUILD, "posternctl"), "dkim", "sign", "--key",
                             zone.key, "--domain", "example.test", "--selector", "e1",
                             str(msg)], capture_output=True, check=True,
                            timeout=RUN_TIMEOUT).stdout
    good = tmp_path / "signed.eml"
    good.write_bytes(signed)
    out = ctl("dmarc", "--dns", zone.address, good)
    assert out.splitlines()[0] == "dkim: example.test pass", out
    assert out.splitlines()[1].startswith("pass aligned DKIM pass"), out
    assert "aligned: spf no, dkim yes example.test" in out
    bad = tmp_path / "changed.eml"
    bad.write_bytes(signed.replace(b"Hello", b"Hullo"))
    out = ctl("dmarc", "--dns", zone.address, bad)
    assert out.splitlines()[0] == "dkim: example.test fail", out
    assert out.splitlines()[1].startswith("fail "), out


def test_two_from_fields_cannot_be_evaluated(zone, tmp_path):
    msg = tmp_path / "two.eml"
    msg.write_text("From: a@example.test\nFrom: b@other.test\n\nx\n")
    out = ctl("dmarc", "--dns", zone.address, "--dkim", "example.test:pass", msg)
    assert out.startswith("permerror several From fields"), out


@pytest.mark.parametrize("args", [[], ["--spf", "nocolon", "example.test"],
                                  ["--bogus", "x", "example.test"]])
def test_usage_errors(zone, args):
    ctl("dmarc", *args, expect_rc=EX_USAGE)
