"""DKIM with posternctl and a second implementation (Debian's python3-dkim, dkimpy).

Keys come from `posternctl dkim keygen`, and their TXT records are served by the test DNS
server (dns_zone.DnsZone, dnsmasq on loopback). A message signed by `posternctl dkim sign`
verifies with dkimpy (which asks the same DNS server), and messages signed by dkimpy (RSA
and Ed25519, relaxed and simple, with l=) verify with `posternctl dkim verify --dns`, the
daemon's verifier on the daemon's resolver. Failures are told apart: a changed body
(fail), a revoked key (permerror), no key (permerror), a DNS server failing (temperror).
"""
import base64
import os
import re
import stat
import subprocess

import pytest

from conftest import BUILD
from dns_zone import DnsZone, RcodeServer

dkim = pytest.importorskip("dkim", reason="python3-dkim (dkimpy) is needed: make deps")
import dns.resolver  # noqa: E402  (dnspython comes with python3-dkim)

DOMAIN = "example.test"
MESSAGE = (b"From: Alice <alice@example.test>\r\n"
           b"To: Bob <bob@example.net>\r\n"
           b"Subject: Interop  test\r\n"
           b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
           b"Message-ID: <interop-1@example.test>\r\n"
           b"\r\n"
           b"Hello Bob,\r\n"
           b"\r\n"
           b"  this line starts with spaces and ends with some.   \r\n"
           b".a line that starts with a dot\r\n"
           b"\r\n\r\n")


def ctl(*args, check=True):
    r = subprocess.run([os.path.join(BUILD, "posternctl")] + [str(a) for a in args],
                       capture_output=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("posternctl %s: exit %d\n%s" % (" ".join(map(str, args)),
                                                           r.returncode, r.stderr.decode()))
    return r


def keygen(tmp_path, selector, *opts):
    """posternctl dkim keygen; returns (key path, TXT strings from its zone line)."""
    r = ctl("dkim", "keygen", DOMAIN, selector, "--dir", tmp_path, *opts)
    line = r.stdout.decode().strip()
    assert line.startswith("%s._domainkey.%s. IN TXT (" % (selector, DOMAIN)), line
    strings = re.findall(r'"([^"]*)"', line)
    return os.path.join(str(tmp_path), "%s.%s.key" % (DOMAIN, selector)), strings


def zone(tmp_path, records):
    d = tmp_path / "dns"
    d.mkdir()
    return DnsZone(d, records=records).start()


def dnsfunc(z):
    """dkimpy's key lookup, sent to the test DNS server."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = z.port

    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        try:
            answer = res.resolve(name, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(list(answer)[0].strings)
    return lookup


def verify(tmp_path, z, message, name="msg.eml"):
    path = tmp_path / name
    path.write_bytes(message)
    return ctl("dkim", "verify", "--dns", z.address, path, check=False)


def ed25519_seed(pem_path):
    """The 32-byte seed of a PKCS#8 Ed25519 PEM key, base64 (dkimpy's key format)."""
    body = "".join(l for l in open(pem_path).read().splitlines() if not l.startswith("-----"))
    return base64.b64encode(base64.b64decode(body)[-32:])


@pytest.fixture
def keys(tmp_path):
    rsa, rsa_txt = keygen(tmp_path, "r2024")
    ed, ed_txt = keygen(tmp_path, "e2024", "--type", "ed25519")
    z = zone(tmp_path, [("r2024._domainkey." + DOMAIN, "TXT", rsa_txt),
                        ("e2024._domainkey." + DOMAIN, "TXT", ed_txt),
                        ("revoked._domainkey." + DOMAIN, "TXT", "v=DKIM1; k=rsa; p=")])
    yield {"rsa": rsa, "ed": ed, "zone": z}
    z.stop()


def test_keygen_writes_private_key_0600_and_prints_the_record(tmp_path):
    key, strings = keygen(tmp_path, "s1")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert open(key).read().startswith("-----BEGIN PRIVATE KEY-----")
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings)   # RSA 2048: split
    assert "".join(strings).startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    key, strings = keygen(tmp_path, "s2", "--type", "ed25519")
    assert strings[0].startswith("v=DKIM1; k=ed25519; p=") and len(strings) == 1
    # never over an existing key
    r = ctl("dkim", "keygen", DOMAIN, "s2", "--dir", tmp_path, "--type", "ed25519",
            check=False)
    assert r.returncode == 73 and b"File exists" in r.stderr
    assert ctl("dkim", "keygen", DOMAIN, "s3", "--bits", "512", check=False).returncode == 64


@pytest.mark.parametrize("which,selector", [("rsa", "r2024"), ("ed", "e2024")])
def test_postern_signature_verifies_with_dkimpy(tmp_path, keys, which, selector):
    msg = tmp_path / "in.eml"
    msg.write_bytes(MESSAGE.replace(b"\r\n", b"\n"))   # LF file: posternctl makes CRLF
    signed = ctl("dkim", "sign", "--key", keys[which], "--domain", DOMAIN, "--selector",
                 selector, msg).stdout
    assert signed.startswith(b"DKIM-Signature: v=1; a=%s-sha256; c=relaxed/relaxed; d=%s;"
                             % (b"rsa" if which == "rsa" else b"ed25519", DOMAIN.encode()))
    assert all(len(l) <= 998 for l in signed.split(b"\r\n"))
    assert dkim.verify(signed, dnsfunc=dnsfunc(keys["zone"]))
    r = verify(tmp_path, keys["zone"], signed)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert r.stdout.decode().startswith("pass d=example.test s=%s" % selector)
    # dkimpy sees a changed body too
    assert not dkim.verify(signed.replace(b"Hello Bob", b"Hello Eve"),
                           dnsfunc=dnsfunc(keys["zone"]))


@pytest.mark.parametrize("alg,canon,length", [
    (b"rsa-sha256", (b"relaxed", b"relaxed"), False),
    (b"rsa-sha256", (b"simple", b"simple"), False),
    (b"rsa-sha256", (b"relaxed", b"simple"), True),
    (b"ed25519-sha256", (b"relaxed", b"relaxed"), False),
])
def test_dkimpy_signature_verifies_in_postern(tmp_path, keys, alg, canon, length):
    if alg == b"rsa-sha256":
        selector, privkey = b"r2024", open(keys["rsa"], "rb").read()
    else:
        selector, privkey = b"e2024", ed25519_seed(keys["ed"])
    sig = dkim.sign(MESSAGE, selector, DOMAIN.encode(), privkey, canonicalize=canon,
                    signature_algorithm=alg, length=length)
    signed = sig + MESSAGE
    assert dkim.verify(signed, dnsfunc=dnsfunc(keys["zone"]))
    r = verify(tmp_path, keys["zone"], signed)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert out.startswith("pass d=example.test s=%s a=%s" % (selector.decode(), alg.decode()))
    assert "Authentication-Results: " in out and "dkim=pass" in out
    assert "header.d=example.test" in out and "header.s=%s" % selector.decode() in out
    if length:
        assert " l=" in out and "body-truncated" not in out
        # text added after the signed part still passes, but is reported
        r = verify(tmp_path, keys["zone"], signed + b"Click here: http://spam.example/\r\n")
        assert r.returncode == 0 and "body-truncated" in r.stdout.decode()


def test_failures_are_told_apart(tmp_path, keys):
    msg = tmp_path / "in.eml"
    msg.write_bytes(MESSAGE)
    signed = ctl("dkim", "sign", "--key", keys["rsa"], "--domain", DOMAIN, "--selector",
                 "r2024", msg).stdout
    r = verify(tmp_path, keys["zone"], signed.replace(b"Hello Bob", b"Hello Eve"))
    assert r.returncode == 1
    assert r.stdout.decode().startswith("fail d=example.test s=r2024 a=rsa-sha256 bits=2048")
    assert "(body hash mismatch)" in r.stdout.decode()
    for sel, want in [(b"revoked", "permerror d=example.test s=revoked a=rsa-sha256 "),
                      (b"absent", "permerror d=example.test s=absent a=rsa-sha256 ")]:
        r = verify(tmp_path, keys["zone"], signed.replace(b"s=r2024;", b"s=%s;" % sel))
        assert r.returncode == 1 and r.stdout.decode().startswith(want), r.stdout.decode()
    assert "(key revoked)" in verify(tmp_path, keys["zone"],
                                     signed.replace(b"s=r2024;", b"s=revoked;")).stdout.decode()
    # a failing DNS server: temporary (exit 75), not "no key"
    bad = RcodeServer().start()
    try:
        r = verify(tmp_path, bad, signed)
    finally:
        bad.stop()
    assert r.returncode == 75
    assert r.stdout.decode().startswith("temperror d=example.test s=r2024")
    # no signature at all
    r = verify(tmp_path, keys["zone"], MESSAGE)
    assert r.returncode == 1 and "dkim=none" in r.stdout.decode()
