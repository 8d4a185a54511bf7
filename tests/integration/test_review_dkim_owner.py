"""Security review: DKIM signing at receipt never lends one hosted domain's signature to
a user of another. A login of shop.test that writes From: ceo@example.test (a domain
with keys) is accepted as before (auth.header_from_must_match is off by default) but
leaves unsigned, with a warning; a user of example.test writing as another address of
example.test is still signed, as is an address auth.senders gives the login."""
import re

import pytest

from postern import Postern, queued_id
from test_dkim import keygen
from test_ratelimit_smtp import PASSWORD, USER, login
from test_submission_auth import make_sasldb

OUTSIDER = "mallory@shop.test"
DOMAIN = "example.test"


@pytest.fixture
def node(tmp_path, test_ca, redis_server):
    key, _ = keygen(tmp_path, "e1", "--type", "ed25519")
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD), (OUTSIDER, PASSWORD),
                     ("partner@agency.test", PASSWORD)])
    p = Postern(tmp_path, test_ca, overrides={
        "redis": {"socket": redis_server.socket},
        "auth": {"sasldb": db,
                 "senders": {"partner@agency.test": {
                     "addresses": ["partner@agency.test", "press@example.test"]}}},
        "queue": {"paused": True},
        "dkim": {"sign": {DOMAIN: {"keys": [
            {"selector": "e1", "algorithm": "ed25519-sha256", "file": key}]}}},
    }).start()
    yield p
    p.stop()


def send(p, user, header_from):
    r = login(p.ports["submissions"], user=user)
    assert r.cmd("MAIL FROM:<%s>" % user)[0] == 250
    assert r.cmd("RCPT TO:<reader@elsewhere.example>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send("From: Someone <%s>\r\nTo: reader@elsewhere.example\r\nSubject: s\r\n\r\nhi\r\n"
           ".\r\n" % header_from)
    code, lines = r.reply()
    r.close()
    assert code == 250, lines
    return p.read_queue_file(queued_id(lines))[1]


def signed_for(data):
    return re.findall(rb"^DKIM-Signature:.*?\bd=([^;\s]+)", data, re.M | re.S)


def test_review_dkim_another_hosted_domain_is_not_signed(node):
    data = send(node, OUTSIDER, "ceo@example.test")
    assert signed_for(data) == [], data[:600]
    assert re.search(r"not signed: login mallory@shop.test may not sign for "
                     r"From: <ceo@example.test> \(d=example.test\)", node.log())


def test_review_dkim_own_domain_and_granted_addresses_are_signed(node):
    assert signed_for(send(node, USER, USER)) == [b"example.test"]
    assert signed_for(send(node, USER, "other@example.test")) == [b"example.test"]
    assert signed_for(send(node, "partner@agency.test", "press@example.test")) == \
        [b"example.test"]
