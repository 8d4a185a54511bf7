"""The spam check in the daemon (END stage, model shared through Redis): GTUBE is refused
during the SMTP dialogue (550 5.7.1) at every level's kill score; learning with posternctl
changes what two daemons on one Redis score, within their refresh interval, and a
confident spam is marked (+++SPAM+++ subject prefix, X-Spam headers) at the medium level.
"""
import json
import os
import re
import subprocess

import pytest

from conftest import BUILD, wait_for
from postern import Postern, Raw, message, queued_id, send_raw_message

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
HIGH = "strict.example.test"
LOW = "lax.example.test"


def daemon(tmp_path, redis_server, name="postern", ca=None):
    over = {"redis": {"socket": redis_server.socket},
            "relay": {"local_domains": ["example.test", HIGH, LOW]},
            "domains": {"example.test": {"level": "medium"}, HIGH: {"level": "high"},
                        LOW: {"level": "low"}},
            "policy": {"disabled_checks": [], "profiles": {"inbound": {
                "direction": "inbound",
                "checks": {"relay_access": {}, "spam": {"refresh": "300ms"}}}}}}
    return Postern(tmp_path, ca=ca, overrides=over, name=name).start()


def send(p, data, rcpt="b@example.test"):
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        return send_raw_message(r, rcpts=(rcpt,), data=data)
    finally:
        r.close()


def spam_msg(i, subject="Cheap meds"):
    return message("%s %d" % (subject, i), "Buy cheap pills online now, best price pharmacy, "
                   "limited offer number %d, order today\r\n" % i,
                   "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <%d.s@example.org>\r\n" % i)


def ham_msg(i):
    return message("Minutes %d" % i, "The meeting notes from the project review are "
                   "attached; please check the agenda for item %d before Tuesday\r\n" % i,
                   "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <%d.h@example.org>\r\n" % i)


def posternctl(p, *args):
    r = subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path, "spam"]
                       + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def symbols(p, qid):
    line = [l for l in p.records(qid) if l.startswith("policy ")][0]
    m = re.search(r"syms=(\S+)", line)
    return line, dict(kv.split(":") for kv in m.group(1).split(",")) if m else {}


def test_gtube_is_refused_at_every_level(tmp_path, redis_server):
    p = daemon(tmp_path, redis_server)
    for rcpt in ("b@example.test", "c@" + HIGH, "d@" + LOW):
        code, lines = send(p, message("test", GTUBE + "\r\n"), rcpt)
        assert code == 550 and "5.7.1" in lines[0], lines
    ev = p.events("message.rejected")[-1]
    assert ev["symbols"]["GTUBE"] == 500
    # an ordinary message passes (the classifier abstains: nothing learned)
    code, lines = send(p, ham_msg(1))
    assert code == 250
    line, syms = symbols(p, queued_id(lines))
    assert " pass " in line and "BAYES_SPAM" not in syms
    p.stop()


def test_learning_reaches_both_nodes_and_spam_is_marked(tmp_path, redis_server, test_ca):
    a = daemon(tmp_path, redis_server, "node-a", test_ca)
    b = daemon(tmp_path, redis_server, "node-b", test_ca)
    spam_dir, ham_dir = tmp_path / "spam", tmp_path / "ham"
    spam_dir.mkdir()
    ham_dir.mkdir()
    for i in range(15):
        (spam_dir / ("%d.eml" % i)).write_text(spam_msg(i))
        (ham_dir / ("%d.eml" % i)).write_text(ham_msg(i))
    posternctl(a, "learn", "--spam", str(spam_dir))
    posternctl(a, "learn", "--ham", str(ham_dir))
    probe = spam_msg(99, "cheap pills")
    for node in (a, b):
        qids = []

        def learned():
            code, lines = send(node, probe)
            assert code == 250
            qids.append(queued_id(lines))
            return "BAYES_SPAM" in symbols(node, qids[-1])[1]
        wait_for(learned, timeout=15, interval=0.2, what="the node to load the model")
        line, syms = symbols(node, qids[-1])
        # 8 <= BAYES_SPAM (10 at most) < 12 at medium: marked, with the Subject prefix
        assert 8 <= float(syms["BAYES_SPAM"]) <= 10
        assert " mark " in line and "prefix=+++SPAM+++%20" in line
    # the same message scored offline: the same score
    f = tmp_path / "probe.eml"
    f.write_text(probe)
    offline = json.loads(posternctl(a, "score", "--json", str(f)))
    assert offline["action"] == "mark"
    assert offline["symbols"]["BAYES_SPAM"] == pytest.approx(float(syms["BAYES_SPAM"]), abs=0.01)
    # ham of the same shape passes on both
    for node in (a, b):
        code, lines = send(node, ham_msg(42))
        line, syms = symbols(node, queued_id(lines))
        assert " pass " in line and float(syms["BAYES_HAM"]) < 0
    a.stop()
    b.stop()
