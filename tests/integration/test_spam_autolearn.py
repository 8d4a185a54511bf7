"""Autolearn in the daemon (policy.profiles.P.checks.spam.autolearn), with a real Redis:
a message whose score (from rules, not the classifier) reaches the spam threshold is
learned as spam (also when it is refused at END), a clean one as ham (`posternctl spam stats` counts them, on the model
every node shares); GTUBE is never learned; the same message sent twice is learned once;
with autolearn off (the default) nothing is learned.
"""
import json
import os
import re
import subprocess

from conftest import BUILD, free_port, wait_for
from postern import Postern, Raw, queued_id, send_raw_message
from test_admin_http import get, parse_prometheus

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

# rules only (the model is empty, so the classifier abstains): MISSING_DATE 1,
# FORGED_MUA_OUTLOOK 2, SUBJ_ALL_CAPS 1, HTML_ONLY_LITTLE_TEXT 1.5, LINK_TEXT_MISMATCH 2,
# URL_SHORTENER 1: 8.5, below the medium level's kill (12), so it is accepted and marked
AUTOLEARN = {"enabled": True, "spam": 6, "spam_rules": 6}
STRICT = "strict.example.test"   # level high: kill at 8, so the message above is refused


def daemon(tmp_path, redis_server, name, autolearn=None, admin=None):
    spam = {"refresh": "300ms"}
    if autolearn is not None:
        spam["autolearn"] = autolearn
    over = {"redis": {"socket": redis_server.socket},
            "relay": {"local_domains": ["example.test", STRICT]},
            "domains": {"example.test": {"level": "medium"}, STRICT: {"level": "high"}},
            "policy": {"disabled_checks": [], "profiles": {"inbound": {
                "direction": "inbound",
                "checks": {"relay_access": {}, "spam": spam}}}}}
    if admin is not None:
        over["admin"] = {"http": {"address": "127.0.0.1:%d" % admin}}
    return Postern(tmp_path, overrides=over, name=name).start()


def counters(admin, name, label):
    code, _, body = get(admin, "/metrics")
    assert code == 200
    return {dict(ls)[label]: v for (n, ls), v in parse_prometheus(body).items() if n == name}


def spammy(i):
    return ("From: Winner <win@lottery.example.org>\r\nTo: b@example.test\r\n"
            "Subject: CHEAP PILLS FOR YOU TODAY\r\nX-Mailer: Microsoft Outlook 16.0\r\n"
            "Message-ID: <%d.al@lottery.example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=us-ascii\r\n\r\n"
            "<html><body><a href=\"http://bit.ly/x%d\">http://www.paypal.com/</a> "
            "order %d now</body></html>\r\n" % (i, i, i))


def clean(i):
    return ("From: Alice <alice@example.org>\r\nTo: b@example.test\r\nSubject: Minutes %d\r\n"
            "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <%d.clean@example.org>\r\n"
            "\r\nThe meeting notes from the project review are attached; please check the "
            "agenda for item %d before Tuesday.\r\n" % (i, i, i))


def send(p, data, rcpt="b@example.test"):
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        return send_raw_message(r, rcpts=(rcpt,), data=data)
    finally:
        r.close()


def stats(p):
    r = subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path, "spam",
                        "stats", "--json"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_log(p, text, what):
    wait_for(lambda: text in p.log(), timeout=20, interval=0.1, what=what)


def test_autolearn_learns_spam_and_ham_once_and_never_gtube(tmp_path, redis_server):
    admin = free_port()
    p = daemon(tmp_path, redis_server, "node", AUTOLEARN, admin)
    code, lines = send(p, spammy(1))
    assert code == 250, lines
    qid = queued_id(lines)
    wait_for(lambda: stats(p)["spam"] == 1, timeout=20, interval=0.1,
             what="the spam to be learned")
    assert re.search(r"%s: autolearn: learned as spam \(score [0-9.]+\)" % qid, p.log())
    assert stats(p)["ham"] == 0

    code, lines = send(p, clean(1))
    assert code == 250, lines
    qid = queued_id(lines)
    wait_for(lambda: stats(p)["ham"] == 1, timeout=20, interval=0.1,
             what="the ham to be learned")
    assert "%s: autolearn: learned as ham" % qid in p.log()

    # the same message again: not learned a second time
    code, lines = send(p, spammy(1))
    assert code == 250, lines
    wait_log(p, "%s: autolearn: not learned: duplicate" % queued_id(lines), "the duplicate")

    # GTUBE: refused at END, never learned
    code, lines = send(p, spammy(2).replace("order 2 now", GTUBE))
    assert code == 550, lines
    wait_log(p, "autolearn: not learned: gtube", "the GTUBE skip")

    # a new spam is learned after all that: the counts show exactly the two learned ones
    code, lines = send(p, spammy(3))
    assert code == 250, lines
    wait_for(lambda: stats(p)["spam"] == 2, timeout=20, interval=0.1,
             what="the second spam to be learned")
    # refused as spam at END (the high level's kill): learned as spam all the same
    code, lines = send(p, spammy(4), "c@" + STRICT)
    assert code == 550 and "5.7.1" in lines[0], lines
    wait_for(lambda: stats(p)["spam"] == 3, timeout=20, interval=0.1,
             what="the refused spam to be learned")
    st = stats(p)
    assert (st["spam"], st["ham"]) == (3, 1)
    assert st["features"] > 0
    # counted once the daemon has the merge's answer (just after Redis has the counts)
    wait_for(lambda: counters(admin, "postern_spam_autolearn_total", "class") ==
             {"spam": 3, "ham": 1}, timeout=10, interval=0.1, what="the autolearn counters")
    assert counters(admin, "postern_spam_autolearn_skipped_total", "reason") == {
        "duplicate": 1, "gtube": 1}
    p.stop()


def test_autolearn_is_off_by_default(tmp_path, redis_server):
    off = daemon(tmp_path, redis_server, "off")
    on = daemon(tmp_path, redis_server, "on", AUTOLEARN)
    for data in (spammy(10), clean(10)):
        code, lines = send(off, data)
        assert code == 250, lines
    # the other node, with autolearn on, learns its message after those were accepted
    code, lines = send(on, spammy(11))
    assert code == 250, lines
    wait_for(lambda: stats(on)["spam"] == 1, timeout=20, interval=0.1,
             what="the node with autolearn on to learn")
    st = stats(off)
    assert (st["spam"], st["ham"]) == (1, 0)
    assert "autolearn:" not in off.log()
    off.stop()
    on.stop()


def test_autolearn_skips_a_message_with_a_recipient_refused_before_data(tmp_path, redis_server):
    p = daemon(tmp_path, redis_server, "node", AUTOLEARN)
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        assert r.cmd("EHLO client.example")[0] == 250
        assert r.cmd("MAIL FROM:<win@lottery.example.org>")[0] == 250
        assert r.cmd("RCPT TO:<b@example.test>")[0] == 250
        assert r.cmd("RCPT TO:<someone@elsewhere.example>")[0] // 100 == 5   # no relaying
        assert r.cmd("DATA")[0] == 354
        r.send(spammy(20).encode() + b".\r\n")
        code, lines = r.reply()
    finally:
        r.close()
    assert code == 250, lines
    wait_log(p, "%s: autolearn: not learned: refused_early" % queued_id(lines),
             "the refused_early skip")
    assert stats(p)["spam"] == 0
    p.stop()
