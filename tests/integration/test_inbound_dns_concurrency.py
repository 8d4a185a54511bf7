"""The inbound DNS checks send a stage's lookups side by side, proved in the daemon without
timing: a holding DNS proxy (dns_hold.py, in front of dnsmasq) answers none of a stage's
queries until it has received all of them. A daemon that waited for one answer before
asking the next question would leave its batch incomplete, and the proxy would log it as
"timeout" (after a generous hold; the time never decides the result, the log does).

One inbound connection from 127.0.1.7 with rdns, helo, dnsbl (two IP zones, one domain
zone) and sender_domain:
  CONNECT  PTR of the client + both DNSBL zones              one batch of 3
           then A of the PTR name (forward confirmation: needs the PTR answer first)
  HELO     A, AAAA, MX of the HELO name + its RHSBL query     one batch of 4
  MAIL     MX, A, AAAA of the sender domain + its RHSBL query one batch of 4
The stages themselves follow the SMTP dialogue (the HELO name is not known at CONNECT),
so a session costs one round trip per stage (two at CONNECT), not one per lookup."""
import re

from dns_hold import HoldingDns
from dns_zone import DnsZone
from postern import Postern, Raw

CLIENT = "127.0.1.7"
RECORDS = [
    ("7.1.0.127.in-addr.arpa", "PTR", "conc.good.test"),
    ("conc.good.test", "A", CLIENT),
    ("helo.good.test", "A", CLIENT),
    ("send.test", "MX", (10, "mail.send.test")),
    ("mail.send.test", "A", "127.0.1.8"),
]
BATCHES = [
    {"PTR 7.1.0.127.in-addr.arpa", "A 7.1.0.127.bl.test", "A 7.1.0.127.bl2.test"},
    {"A conc.good.test"},
    {"A helo.good.test", "AAAA helo.good.test", "MX helo.good.test",
     "A helo.good.test.rhs.test"},
    {"MX send.test", "A send.test", "AAAA send.test", "A send.test.rhs.test"},
]


def test_each_stage_sends_all_its_dns_queries_before_any_answer_concurrently(tmp_path):
    d = tmp_path / "dns"
    d.mkdir()
    zone = DnsZone(d, records=RECORDS).start()
    hold = HoldingDns(d, zone, BATCHES).start()
    p = Postern(tmp_path, overrides={
        # timeout: longer than the proxy's hold, so a failing daemon shows as "timeout"
        # in the proxy's log rather than as a DNS failure
        "dns": {"servers": [hold.address], "timeout": "10s", "tries": 1},
        "relay": {"local_domains": ["example.test"]},
        "policy": {"dns_skip_networks": [],
                   "profiles": {"inbound": {"direction": "inbound", "checks": {
                       "relay_access": {}, "rdns": {}, "helo": {},
                       "dnsbl": {"zones": {"bl.test": {}, "bl2.test": {},
                                           "rhs.test": {"type": "domain"}}},
                       "sender_domain": {}}}}},
    })
    try:
        p.start()
        r = Raw(p.port, source=CLIENT, timeout=30)
        try:
            assert r.reply()[0] == 220
            assert r.cmd("EHLO helo.good.test")[0] == 250
            assert r.cmd("MAIL FROM:<a@send.test>")[0] == 250
            assert r.cmd("RCPT TO:<u@example.test>")[0] == 250
            r.cmd("QUIT")
        finally:
            r.close()
        log = hold.lines()
        releases = [l for l in log if l.startswith("release ")]
        assert releases == ["release %d full" % k for k in range(len(BATCHES))], log
        # each batch's queries all came before its release, and each exactly as expected
        for k, batch in enumerate(BATCHES):
            rel = log.index("release %d full" % k)
            got = {l.split(" ", 2)[2] for l in log[:rel] if l.startswith("query %d " % k)}
            assert got == batch, (k, log)
        # the forward-confirmed name shows that the answers reached the checks
        assert re.search(r"connect from conc\.good\.test\[127\.0\.1\.7\]", p.log()) or \
            "conc.good.test" in p.log(), p.log()[-3000:]
    finally:
        p.stop()
        hold.stop()
        zone.stop()
