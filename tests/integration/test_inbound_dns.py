"""The DNS checks of the shipped inbound profile (rdns, helo, dnsbl, sender_domain) through
the daemon and a real test DNS server on loopback (dnsmasq, dns_zone.py). Clients bind to
127.0.1.X, whose PTR records the zone serves; the harness's loopback exemption
(policy.dns_skip_networks) is turned off here. strict.test has strict_dns (refusals);
example.test gets the same findings as scored symbols (kept in the queue file)."""
import re

import pytest

from dns_zone import DnsZone
from postern import Postern, Raw

RECORDS = [
    ("mail.good.test", "A", "127.0.1.2"),                 # forward-confirmed (PTR too)
    ("good.test", "MX", (10, "mail.good.test")),
    ("4.1.0.127.in-addr.arpa", "PTR", "fake.good.test"),   # PTR does not resolve back
    ("fake.good.test", "A", "127.0.1.99"),
    ("dyn-127-0-1-5.pool.isp.test", "A", "127.0.1.5"),     # a dynamic-looking name
    ("mail6.good.test", "A", "127.0.1.6"),                 # listed on bl.test
    ("6.1.0.127.bl.test", "A", "127.0.0.2"),
    ("nullmx.test", "MX", (0, ".")),
]


@pytest.fixture
def daemon(tmp_path):
    d = tmp_path / "dns"
    d.mkdir()
    zone = DnsZone(d, records=RECORDS).start()
    over = {
        "dns": {"servers": [zone.address], "timeout": "1s", "tries": 1},
        "relay": {"local_domains": ["example.test", "strict.test"]},
        "domains": {"strict.test": {"strict_dns": True}},
        "policy": {"dns_skip_networks": [],
                   # the shipped inbound profile (policy/profile.c), with one DNSBL zone
                   # (none ship)
                   "profiles": {"inbound": {"direction": "inbound", "checks": {
                       "relay_access": {}, "ratelimit": {}, "rcpt_verify": {}, "greylist": {},
                       "backscatter": {}, "backlog": {}, "rdns": {}, "helo": {},
                       "dnsbl": {"zones": {"bl.test": {"refuse": "strict"}}},
                       "sender_domain": {}, "early_talker": {}, "virus": {}}}}},
    }
    p = Postern(tmp_path, overrides=over)
    yield p, zone
    p.stop()
    zone.stop()


def session(p, src, helo="mail.good.test", sender="a@good.test", rcpt="u@example.test",
            data=True):
    """(code, text) of the RCPT refusal, or of the end of DATA; plus the queue id."""
    r = Raw(p.port, source=src)
    try:
        r.reply()
        code, lines = r.cmd("EHLO " + helo)
        if code != 250:
            return code, " ".join(lines), None
        assert r.cmd("MAIL FROM:<%s>" % sender)[0] == 250
        code, lines = r.cmd("RCPT TO:<%s>" % rcpt)
        if code != 250 or not data:
            return code, " ".join(lines), None
        assert r.cmd("DATA")[0] == 354
        r.send("Subject: dns\r\n\r\nhello\r\n.\r\n")
        code, lines = r.reply()
        text = " ".join(lines)
        m = re.search(r"queued as (\S+)", text)
        return code, text, m.group(1) if m else None
    finally:
        r.close()


def symbols(p, qid):
    return " ".join(line for line in p.records(qid) if "syms=" in line)


def test_confirmed_reverse_dns_names_the_client(daemon):
    p, _ = daemon
    p.start()
    code, text, qid = session(p, "127.0.1.2")
    assert code == 250, text
    env, msg = p.read_queue_file(qid)
    assert b"(mail.good.test [127.0.1.2])" in msg.split(b"\r\n\r\n")[0]
    assert "RDNS_" not in symbols(p, qid) and "HELO_" not in symbols(p, qid)


def test_no_ptr_is_scored_and_refused_for_strict_domains(daemon):
    p, _ = daemon
    p.start()
    code, text, qid = session(p, "127.0.1.3")
    assert code == 250 and "RDNS_NONE" in symbols(p, qid)
    code, text, _ = session(p, "127.0.1.3", rcpt="u@strict.test")
    assert code == 550 and "5.7.25 Client host rejected: cannot find your reverse " \
                           "hostname, [127.0.1.3]" in text
    # postmaster@ is always reachable
    assert session(p, "127.0.1.3", rcpt="postmaster@strict.test")[0] == 250


def test_unconfirmed_and_dynamic_names(daemon):
    p, _ = daemon
    p.start()
    code, text, qid = session(p, "127.0.1.4")
    assert code == 250 and "RDNS_MISMATCH" in symbols(p, qid)
    assert session(p, "127.0.1.4", rcpt="u@strict.test")[0] == 550
    code, text, qid = session(p, "127.0.1.5", helo="dyn-127-0-1-5.pool.isp.test")
    assert code == 250 and "RDNS_DYNAMIC" in symbols(p, qid)
    code, text, _ = session(p, "127.0.1.5", helo="dyn-127-0-1-5.pool.isp.test",
                            rcpt="u@strict.test")
    assert code == 550 and "looks like a dynamic or residential address" in text


def test_helo_checks(daemon):
    p, _ = daemon
    p.start()
    code, text, qid = session(p, "127.0.1.2", helo="nohost.test")
    assert code == 250 and "HELO_NO_DNS" in symbols(p, qid)
    code, text, _ = session(p, "127.0.1.2", helo="nohost.test", rcpt="u@strict.test")
    assert code == 550 and "<nohost.test>: Helo command rejected: Host not found" in text
    code, text, _ = session(p, "127.0.1.2", helo="localhost", rcpt="u@strict.test")
    assert code == 550 and "need fully-qualified hostname" in text
    # our own name: refused whatever the recipient's settings
    code, text, _ = session(p, "127.0.1.2", helo="mx.test.example")
    assert code == 550 and "mx.test.example is my own name; you are not me" in text


def test_dnsbl_listing(daemon):
    p, _ = daemon
    p.start()
    code, text, qid = session(p, "127.0.1.6", helo="mail6.good.test")
    assert code == 250 and "DNSBL_BL_TEST" in symbols(p, qid)
    code, text, _ = session(p, "127.0.1.6", helo="mail6.good.test", rcpt="u@strict.test")
    assert code == 554 and "Client host [127.0.1.6] blocked using bl.test" in text
    # an unlisted client passes
    assert session(p, "127.0.1.2", rcpt="u@strict.test")[0] == 250


def test_sender_domain_is_scored_by_default_and_refused_for_strict_domains(daemon):
    p, zone = daemon
    p.start()
    code, text, qid = session(p, "127.0.1.2", sender="a@nx.test")
    assert code == 250 and "SENDER_DOMAIN_NXDOMAIN" in symbols(p, qid)
    code, text, _ = session(p, "127.0.1.2", sender="a@nx.test", rcpt="u@strict.test")
    assert code == 550 and "5.1.8 <a@nx.test>: Sender address rejected: Domain not found" \
        in text
    code, text, _ = session(p, "127.0.1.2", sender="a@nullmx.test", rcpt="u@strict.test")
    assert code == 550 and "5.7.27" in text
    # the null sender is not checked; our own domains are not looked up
    assert session(p, "127.0.1.2", sender="", rcpt="u@strict.test")[0] == 250
    assert session(p, "127.0.1.2", sender="me@example.test", rcpt="u@strict.test")[0] == 250
    assert zone.query_count("example.test") == 0


def test_loopback_is_exempt_in_the_harness_setting(daemon):
    p, zone = daemon
    p.config["policy"]["dns_skip_networks"] = ["127.0.0.0/8"]
    p.write_config()
    p.start()
    code, text, qid = session(p, "127.0.1.3", sender="a@nx.test", rcpt="u@strict.test")
    assert code == 250, text
    assert zone.query_count("nx.test") == 0
    assert zone.query_count("3.1.0.127.in-addr.arpa") == 0
