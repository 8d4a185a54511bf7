"""The spam classifier's model shared through Redis: `posternctl spam learn` on one node
changes the score another node (tests/helpers/spamsnap: the daemon's snapshot code) sees
within its refresh interval; `posternctl spam score` scores as that node does; GTUBE passes
every kill threshold; forget (all, or messages), stats, mbox input, paths on stdin.
"""
import json
import os
import subprocess

import pytest

from conftest import BUILD, helper_path, wait_for

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
REFRESH_MS = 300


def message(subject, body, n=0):
    return ("From: Sender %d <s%d@example.org>\nTo: bob@example.net\n"
            "Date: Fri, 04 Dec 2026 12:00:%02d +0000\nMessage-ID: <%d.x@example.org>\n"
            "Subject: %s\n\n%s\n" % (n, n, n % 60, n, subject, body))


def spam_body(i):
    return message("Cheap meds %d" % i, "Buy cheap pills online now, best price pharmacy, "
                   "limited offer number %d, order today" % i, i)


def ham_body(i):
    return message("Minutes %d" % i, "The meeting notes from the project review are "
                   "attached; please check the agenda for item %d before Tuesday" % i, i)


@pytest.fixture
def corpus(tmp_path):
    d = {"spam": tmp_path / "spam", "ham": tmp_path / "ham"}
    for label, make in (("spam", spam_body), ("ham", ham_body)):
        d[label].mkdir()
        for i in range(15):
            (d[label] / ("%02d.eml" % i)).write_text(make(i))
    probe = tmp_path / "probe.eml"
    probe.write_text(message("cheap pills", "best price pharmacy, buy cheap pills online"))
    gtube = tmp_path / "gtube.eml"
    gtube.write_text(message("test", GTUBE))
    d["probe"], d["gtube"] = str(probe), str(gtube)
    return d


@pytest.fixture
def ctl(tmp_path, redis_server):
    cfg = tmp_path / "postern.json"
    cfg.write_text(json.dumps({
        "hostname": "mx.test", "spool_dir": str(tmp_path / "spool"),
        "redis": {"socket": redis_server.socket},
        "listeners": [{"name": "mx", "address": "127.0.0.1:25", "profile": "inbound"}],
    }))

    def run(*args, stdin=None, check=True):
        r = subprocess.run([os.path.join(BUILD, "posternctl"), "-f", str(cfg), "spam"]
                           + list(args), capture_output=True, text=True, input=stdin,
                           timeout=60)
        if check:
            assert r.returncode == 0, r.stderr
        return r
    return run


class Node:
    """Another process with the daemon's snapshot of the model."""

    def __init__(self, socket):
        self.proc = subprocess.Popen([helper_path("spamsnap"), socket, str(REFRESH_MS)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def score(self, path):
        self.proc.stdin.write(path + "\n")
        self.proc.stdin.flush()
        ver, score, bayes, _ = self.proc.stdout.readline().split(" ", 3)
        return int(ver), float(score), float(bayes)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture
def node(redis_server):
    n = Node(redis_server.socket)
    yield n
    n.close()


def test_learning_on_one_node_changes_the_score_on_another(ctl, node, corpus, redis_server):
    _, before, bayes = node.score(corpus["probe"])
    assert bayes < 0                                  # nothing learned: the classifier abstains
    out = ctl("learn", "--spam", str(corpus["spam"])).stdout
    assert "learned 15 spam messages" in out
    out = ctl("learn", "--ham", str(corpus["ham"])).stdout
    assert "learned 15 ham messages" in out and "model: 15 spam, 15 ham" in out
    # the other node picks the new model up by itself within its refresh interval
    wait_for(lambda: node.score(corpus["probe"])[2] >= 0, timeout=10,
             what="the snapshot to load the learned model")
    ver, after, bayes = node.score(corpus["probe"])
    assert ver >= 2 and bayes > 0.9 and after > before + 5
    # posternctl scores exactly as the node does
    line = ctl("score", corpus["probe"]).stdout.split()
    assert float(line[0]) == pytest.approx(after, abs=0.01)
    assert line[1] == "mark" and line[2] == corpus["probe"]
    # a ham message of the same shape scores low
    _, hs, hb = node.score(str(corpus["ham"] / "03.eml"))
    assert hb < 0.1 and hs < 0
    # keys under one hash tag, without a TTL
    keys = redis_server.cli("--scan", "--pattern", "pt:spam:*").split()
    assert keys and all("{model}" in k for k in keys)
    assert redis_server.cli("TTL", "pt:spam:{model}:meta") == "-1"
    # forget: every node goes back to rules only
    assert "deleted" in ctl("forget").stdout
    wait_for(lambda: node.score(corpus["probe"])[2] < 0, timeout=10,
             what="the snapshot to drop the model")


def test_gtube_passes_every_kill_threshold(ctl, corpus):
    for level, kill in (("high", 8), ("medium", 12), ("low", 20)):
        r = ctl("score", "--json", "--level", level, corpus["gtube"]).stdout
        j = json.loads(r)
        assert j["score"] >= 500 > kill and j["action"] == "refuse"
        assert j["symbols"]["GTUBE"] == 500
    assert ctl("score", corpus["probe"]).stdout.split()[1] == "pass"


def test_score_reads_paths_on_stdin_and_mboxes(ctl, corpus, tmp_path):
    ctl("learn", "--spam", str(corpus["spam"]))
    ctl("learn", "--ham", str(corpus["ham"]))
    out = ctl("score", "-", stdin=corpus["probe"] + "\n" + corpus["gtube"] + "\n").stdout
    lines = out.splitlines()
    assert [l.split()[2] for l in lines] == [corpus["probe"], corpus["gtube"]]
    assert lines[1].split()[1] == "refuse"
    mbox = tmp_path / "mail.mbox"
    mbox.write_text("From a@b Fri Dec  4 12:00:00 2026\n" + ham_body(1) +
                    "\nFrom a@b Fri Dec  4 12:00:01 2026\n" + spam_body(2))
    lines = ctl("score", str(mbox)).stdout.splitlines()
    assert [l.split()[2] for l in lines] == [str(mbox) + ":1", str(mbox) + ":2"]
    assert float(lines[0].split()[0]) < 0 < 5 < float(lines[1].split()[0])
    stats = json.loads(ctl("stats", "--json").stdout)
    assert stats["spam"] == 15 and stats["ham"] == 15 and stats["features"] > 100
    assert "spam messages:  15" in ctl("stats").stdout


def test_forget_unlearns_messages_learned_as_the_wrong_class(ctl, corpus):
    ctl("learn", "--spam", str(corpus["spam"]), str(corpus["ham"]))   # a mistake
    assert json.loads(ctl("stats", "--json").stdout)["spam"] == 30
    assert "forgot 15 spam messages" in ctl("forget", "--spam", str(corpus["ham"])).stdout
    ctl("learn", "--ham", str(corpus["ham"]))
    stats = json.loads(ctl("stats", "--json").stdout)
    assert stats["spam"] == 15 and stats["ham"] == 15
    _, _, _ = ctl("score", corpus["probe"]).stdout.split()
    j = json.loads(ctl("score", "--json", str(corpus["ham"] / "01.eml")).stdout)
    assert j["bayes"] < 0.1 and j["action"] == "pass"


def test_learn_needs_a_class_and_reports_unreadable_input(ctl, corpus):
    r = ctl("learn", str(corpus["spam"]), check=False)
    assert r.returncode == 64
    r = ctl("learn", "--ham", "/nonexistent/dir", check=False)
    assert r.returncode == 66 and "nonexistent" in r.stderr
