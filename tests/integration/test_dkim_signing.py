"""DKIM signing in the daemon: mail from logged-in senders is signed at receipt for its
From domain (or a parent domain) with the keys of dkim.sign, so the queued copy is the
signed one; it arrives at a real sink signed, and verifies with dkimpy (a second
implementation) and with `posternctl dkim verify`, both asking the test DNS server for
the keys that `posternctl dkim keygen` made. Unauthenticated mail and mail from domains
without keys are not signed; `postern -n` refuses a key file that cannot be read."""
import os
import re
import subprocess

import pytest

from conftest import BUILD
from postern import Postern, queued_id
from smtp_sink import SmtpSink
from test_dkim import dnsfunc, keygen, verify, zone
from test_ratelimit_smtp import PASSWORD, USER, login
from test_submission_auth import make_sasldb

dkim = pytest.importorskip("dkim", reason="python3-dkim (dkimpy) is needed: make deps")

DOMAIN = "example.test"


@pytest.fixture
def keys(tmp_path):
    rsa, rsa_txt = keygen(tmp_path, "r1")
    ed, ed_txt = keygen(tmp_path, "e1", "--type", "ed25519")
    z = zone(tmp_path, [("r1._domainkey." + DOMAIN, "TXT", rsa_txt),
                        ("e1._domainkey." + DOMAIN, "TXT", ed_txt)])
    yield {"rsa": rsa, "ed": ed, "zone": z}
    z.stop()


def signing(keys, which=("rsa", "ed")):
    sel = {"rsa": ("r1", "rsa-sha256"), "ed": ("e1", "ed25519-sha256")}
    return {"sign": {DOMAIN: {"keys": [
        {"selector": sel[w][0], "algorithm": sel[w][1], "file": keys[w]} for w in which]}}}


def node(tmp_path, test_ca, redis_server, sink, dkim_conf, profiles=None, paused=False,
         senders=None, dns=None):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    over = {"redis": {"socket": redis_server.socket},
            "auth": {"sasldb": db, "senders": senders or {}},
            "queue": {"paused": paused}, "dkim": dkim_conf}
    if sink is not None:
        over["transport"] = {"default": "relay:[127.0.0.1]:%d" % sink.port}
    if profiles:
        over["policy"] = {"profiles": profiles}
    if dns is not None:
        over["dns"] = {"servers": [dns.address], "timeout": "1s", "tries": 1}
        over["dkim"] = dict(dkim_conf, warn_unsigned=True)
    return Postern(tmp_path, test_ca, overrides=over).start()


def submit(p, body, sender=USER, rcpts=("reader@elsewhere.example",), headers=""):
    r = login(p.ports["submissions"])
    assert r.cmd("MAIL FROM:<%s>" % sender)[0] == 250
    for rc in rcpts:
        assert r.cmd("RCPT TO:<%s>" % rc)[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send("From: Sender <%s>\r\nTo: reader@elsewhere.example\r\nSubject: signed?\r\n%s\r\n"
           "%s.\r\n" % (sender, headers, body))
    code, lines = r.reply()
    r.close()
    return code, lines


def signatures(data):
    return re.findall(rb"^DKIM-Signature:.*?(?=^\S)", data, re.M | re.S)


def test_submitted_mail_arrives_signed_and_verifies_with_dkimpy_and_postern(
        tmp_path, test_ca, redis_server, keys):
    sink = SmtpSink(tmp_path / "sink").start()
    p = node(tmp_path, test_ca, redis_server, sink, signing(keys))
    try:
        code, lines = submit(p, "Hello,\r\n\r\n  a line with spaces.  \r\n.dot first\r\n\r\n")
        assert code == 250, lines
        m = sink.wait_messages(1)[0]
        sigs = signatures(m.data)
        assert len(sigs) == 2, m.data[:2000]
        assert b"a=rsa-sha256" in sigs[0] and b"a=ed25519-sha256" in sigs[1]
        assert all(b"d=example.test" in s and b"c=relaxed/relaxed" in s for s in sigs)
        # below Postern's own Received:, which stays the first field
        assert m.data.startswith(b"Received: ") and m.data.index(b"\r\nDKIM-Signature:") < \
            m.data.index(b"\r\nFrom:")
        d = dkim.DKIM(m.data)
        assert d.verify(idx=0, dnsfunc=dnsfunc(keys["zone"]))
        assert d.verify(idx=1, dnsfunc=dnsfunc(keys["zone"]))
        r = verify(tmp_path, keys["zone"], m.data)
        assert r.stdout.decode().count("pass d=example.test") == 2, r.stdout.decode()
        assert re.search(r"postern/dkim\[\d+\]: \S+: signed d=example.test", p.log())
    finally:
        p.stop()
        sink.stop()


def test_the_queued_copy_is_the_signed_one_and_a_large_body_moves_intact(
        tmp_path, test_ca, redis_server, keys):
    p = node(tmp_path, test_ca, redis_server, None, signing(keys, ("rsa",)), paused=True)
    try:
        body = "".join("line %06d of a long message body\r\n" % i for i in range(20000))
        code, lines = submit(p, body)             # 700 KB: moved in several chunks
        assert code == 250, lines
        env, data = p.read_queue_file(queued_id(lines))
        assert len(signatures(data)) == 1
        assert data.endswith(body.encode())
        assert dkim.DKIM(data).verify(dnsfunc=dnsfunc(keys["zone"]))
    finally:
        p.stop()


def test_a_subdomain_is_signed_with_the_parent_key_and_other_domains_are_not(
        tmp_path, test_ca, redis_server, keys):
    p = node(tmp_path, test_ca, redis_server, None, signing(keys, ("ed",)), paused=True,
             senders={USER: {"addresses": [USER, "@news.example.test", "@other.example"]}})
    try:
        code, lines = submit(p, "hi\r\n", sender="a@news.example.test")
        assert code == 250, lines
        env, data = p.read_queue_file(queued_id(lines))
        assert b"d=example.test" in signatures(data)[0]
        assert dkim.DKIM(data).verify(dnsfunc=dnsfunc(keys["zone"]))
        code, lines = submit(p, "hi\r\n", sender="a@other.example")
        assert code == 250, lines
        assert signatures(p.read_queue_file(queued_id(lines))[1]) == []
    finally:
        p.stop()


def test_inbound_mail_is_not_signed(tmp_path, test_ca, redis_server, keys):
    from postern import Raw
    p = node(tmp_path, test_ca, redis_server, None, signing(keys, ("ed",)), paused=True)
    try:
        r = Raw(p.port)
        r.reply()
        r.cmd("EHLO c")
        assert r.cmd("MAIL FROM:<a@example.test>")[0] == 250
        assert r.cmd("RCPT TO:<b@example.test>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send("From: a@example.test\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
        code, lines = r.reply()
        r.close()
        assert code == 250
        assert signatures(p.read_queue_file(queued_id(lines))[1]) == []
    finally:
        p.stop()


def test_check_config_refuses_a_missing_or_unreadable_key(tmp_path, test_ca, keys):
    p = Postern(tmp_path, test_ca, overrides={"dkim": {"sign": {DOMAIN: {"keys": [
        {"selector": "r1", "file": str(tmp_path / "missing.key")}]}}}})
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "missing.key" in r.stderr, r.stderr
    p.config["dkim"] = signing(keys, ("ed",))
    p.config["dkim"]["sign"][DOMAIN]["keys"][0]["algorithm"] = "rsa-sha256"
    p.write_config()
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "is not an RSA key" in r.stderr, r.stderr
    p.config["dkim"] = signing(keys)
    p.write_config()
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_newsletter_with_one_click_unsubscribe_arrives_signed_with_it_in_h(
        tmp_path, test_ca, redis_server, keys):
    # issue 19: refused without List-Unsubscribe, passes with it, and the signature
    # Postern adds covers List-Unsubscribe and List-Unsubscribe-Post
    sink = SmtpSink(tmp_path / "sink").start()
    sub = {"direction": "submission",
           "checks": {"submission_auth": {}, "sender_owner": {}, "relay_access": {},
                      "newsletter": {"dkim_domain": DOMAIN}}}
    p = node(tmp_path, test_ca, redis_server, sink, signing(keys, ("rsa",)),
             profiles={"submissions": sub})
    try:
        code, lines = submit(p, "news\r\n")
        assert code == 550 and "Newsletter rule unsubscribe" in " ".join(lines)
        code, lines = submit(p, "news\r\n", headers=(
            "List-Unsubscribe: <https://example.test/u/1>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"))
        assert code == 250, lines
        m = sink.wait_messages(1)[0]
        sig = signatures(m.data)[0]
        h = re.search(rb"h=([^;]*);", sig).group(1).replace(b"\r\n", b"").replace(b"\t", b"")
        fields = [f.strip().lower() for f in h.split(b":")]
        assert b"list-unsubscribe" in fields and b"list-unsubscribe-post" in fields, h
        assert dkim.DKIM(m.data).verify(dnsfunc=dnsfunc(keys["zone"]))
    finally:
        p.stop()
        sink.stop()


def test_unsigned_mail_from_a_domain_with_dmarc_reject_is_warned_once(
        tmp_path, test_ca, redis_server, keys):
    import time
    z = zone_with(tmp_path, [("_dmarc.reject.example", "TXT", "v=DMARC1; p=reject"),
                             ("_dmarc.relaxed.example", "TXT", "v=DMARC1; p=none")])
    p = node(tmp_path, test_ca, redis_server, None, signing(keys, ("ed",)), paused=True,
             senders={USER: {"addresses": [USER, "@reject.example", "@relaxed.example"]}},
             dns=z)
    try:
        for sender in ("a@reject.example", "b@reject.example", "a@relaxed.example", USER):
            code, lines = submit(p, "hi\r\n", sender=sender)
            assert code == 250, lines
        rx = re.compile(r"postern/dkim\[\d+\]: warning: mail from logged-in senders at "
                        r"(\S+) leaves unsigned \(no key in dkim\.sign\), but \S+ publishes "
                        r"DMARC p=reject")
        for _ in range(100):
            if rx.search(p.log()):
                break
            time.sleep(0.05)
        time.sleep(0.3)    # the relaxed.example lookup has had its time too
        assert rx.findall(p.log()) == ["reject.example"], p.log()[-2000:]
        assert z.query_count("_dmarc.reject.example") == 1
    finally:
        p.stop()
        z.stop()


def zone_with(tmp_path, records):
    d = tmp_path / "dns2"
    d.mkdir()
    from dns_zone import DnsZone
    return DnsZone(d, records=records).start()


# A logged-in sender on a listener whose profile has the inbound direction (AUTH on any
# listener): its mail is signed, and the level's spam action applies (a submission profile
# only tags, policy/decide.c). 9 points: the default level (medium) marks (spam 8, kill 12).
MARKING_PROFILE = {"direction": "inbound",
                   "checks": {"relay_access": {}, "testsym": {"emit": ["TEST_SCORE*9"]}}}


def marked_submission(tmp_path, test_ca, redis_server, sink, dkim_conf):
    """Submit a message that scores 9 with the queue paused, check the session's policy
    record, then restart delivering (as test_policy_apply.py does); the record."""
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    p = Postern(tmp_path, test_ca, binary="postern-test", overrides={
        "redis": {"socket": redis_server.socket}, "auth": {"sasldb": db}, "dkim": dkim_conf,
        "policy": {"profiles": {"submissions": MARKING_PROFILE}},
        "queue": {"paused": True, "retry_min": "1s", "retry_max": "2s"},
        "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port}}).start()
    code, lines = submit(p, "marked?\r\n")
    assert code == 250, lines
    rec = [l for l in p.records(queued_id(lines)) if l.startswith("policy ")]
    p.stop()
    p.config["queue"]["paused"] = False
    p.write_config()
    p.start()
    assert len(rec) == 1 and " mark " in rec[0], rec
    return p, rec[0]


def test_a_signed_message_is_tagged_not_subject_marked_and_still_verifies(
        tmp_path, test_ca, redis_server, keys):
    # a level's "subject" action (mark: +++SPAM+++ prefix) is applied at delivery; the
    # signature made at receipt covers Subject, so a message Postern signed keeps its
    # Subject and is tagged by the unsigned X-Spam-* fields instead
    sink = SmtpSink(tmp_path / "sink").start()
    p = None
    try:
        p, rec = marked_submission(tmp_path, test_ca, redis_server, sink,
                                   signing(keys, ("rsa",)))
        assert "prefix=" not in rec and " HS " in rec, rec
        try:
            m = sink.wait_messages(1)[0]
        except AssertionError:
            raise AssertionError(p.log()[-4000:])
        assert b"\r\nSubject: signed?\r\n" in m.data, m.data[:1500]
        assert b"+++SPAM+++" not in m.data
        assert b"\r\nX-Spam-Flag: YES\r\n" in m.data
        assert len(signatures(m.data)) == 1
        assert dkim.DKIM(m.data).verify(dnsfunc=dnsfunc(keys["zone"]))
        assert verify(tmp_path, keys["zone"], m.data).stdout.decode().count(
            "pass d=example.test") == 1
    finally:
        if p is not None:
            p.stop()
        sink.stop()


def test_unsigned_mail_of_the_same_level_still_gets_the_subject_prefix(
        tmp_path, test_ca, redis_server, keys):
    # the same message without a key for its domain: nothing signed, the mark applies
    sink = SmtpSink(tmp_path / "sink").start()
    p = None
    try:
        p, rec = marked_submission(tmp_path, test_ca, redis_server, sink, {})
        assert "prefix=+++SPAM+++%20" in rec, rec
        try:
            m = sink.wait_messages(1)[0]
        except AssertionError:
            raise AssertionError(p.log()[-4000:])
        assert b"\r\nSubject: +++SPAM+++ signed?\r\n" in m.data, m.data[:1500]
        assert signatures(m.data) == []
    finally:
        if p is not None:
            p.stop()
        sink.stop()


def test_check_config_refuses_signing_the_spam_tag_fields(tmp_path, test_ca, keys):
    p = Postern(tmp_path, test_ca, overrides={"dkim": signing(keys, ("ed",))})
    p.config["dkim"]["sign"][DOMAIN]["headers"] = ["from", "subject", "X-Spam-Flag"]
    p.write_config()
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "X-Spam-Flag" in r.stderr, r.stderr
