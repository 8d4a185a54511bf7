"""The quarantine (relay/quar/, content/quar.h): a recipient whose disposition is quarantine
lands in the node's store and the shared index in Redis instead of the mailbox; posternctl
quarantine list/show/release/delete; a release arrives exactly once, also when the daemon
dies (kill -9 equivalent) in the middle of it; retention; the digest mail and its signed
release links (driven through content/quar.h by tests/helpers/quarlink, what the web page's
/ui/q/TOKEN handler calls).

Mail from a sender on the domain's blacklist gets the level's spam action, which these tests
set to quarantine; delivery goes to smtp_sink.py.
"""
import email
import email.policy
import json
import os
import re
import subprocess
import time

import pytest

from conftest import BUILD, helper_path, wait_for
from postern import Postern, Raw, message, queued_id, send_raw_message
from smtp_sink import SmtpSink

KEY = "quarantine-test-key-0123456789"


@pytest.fixture
def sink(tmp_path):
    s = SmtpSink(tmp_path / "sink").start()
    yield s
    s.stop()


def quarantining(tmp_path, redis_server, sink, domain=None, quar=None, extra=None,
                 name="postern"):
    dom = {"blacklist": ["@spam.example"], "digest_interval": "0"}
    dom.update(domain or {})
    q = {"token_key": KEY, "node": "n1", "poll": "100ms", "sweep": "200ms"}
    q.update(quar or {})
    overrides = {
        "redis": {"socket": redis_server.socket},
        "queue": {"paused": False, "retry_min": "1s", "retry_max": "2s"},
        "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port},
        "policy": {"levels": {"medium": {"spam_action": "quarantine"}}},
        "domain_defaults": dom,
        "quarantine": q}
    overrides.update(extra or {})
    return Postern(tmp_path, overrides=overrides, name=name)


def ctl(p, *args, timeout=40):
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def spam(p, rcpts, subject="Cheap pills"):
    r = Raw(p.port)
    assert r.reply()[0] == 220
    code, lines = send_raw_message(r, rcpts=rcpts, sender="x@spam.example",
                                   data=message(subject=subject))
    r.close()
    assert code == 250, lines
    return queued_id(lines)


def entries(p, *args):
    out = ctl(p, "quarantine", "list", "--json", *args)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_quarantined_mail_is_listed_shown_released_once_and_deleted(tmp_path, redis_server,
                                                                   sink):
    p = quarantining(tmp_path, redis_server, sink).start()
    qid = spam(p, ["b@example.test", "c@example.test"])
    wait_for(lambda: len(entries(p)) == 2, what="two quarantine entries")
    assert re.search(r"%s: to=<b@example\.test>, status=quarantined \(.*\) entry=%s\.0"
                     % (qid, qid), p.log())
    wait_for(lambda: p.queue_files() == [], what="the queue to drain")
    assert sink.messages() == []
    assert sorted(os.listdir(os.path.join(p.spool, "quarantine"))) == [qid + ".0", qid + ".1"]

    [b] = entries(p, "--recipient", "b@example.test")
    assert b["id"] == qid + ".0" and b["sender"] == "x@spam.example"
    assert b["subject"] == "Cheap pills" and b["from"] == "a@example.org"
    assert b["reason"] == "list" and b["node"] == "n1" and "SENDER_BLACKLISTED" in b["symbols"]
    assert len(entries(p, "--reason", "list")) == 2
    assert entries(p, "--reason", "virus") == []
    text = ctl(p, "quarantine", "list").stdout
    assert "<x@spam.example> -> <c@example.test>" in text
    assert "<x@spam.example> -> <b@example.test>" in ctl(p, "held", "list").stdout  # alias

    out = ctl(p, "quarantine", "show", b["id"])
    assert out.returncode == 0 and "Subject: Cheap pills" in out.stdout, out.stdout
    assert ctl(p, "quarantine", "show", "NoSuchEntry.0").returncode != 0

    out = ctl(p, "quarantine", "release", b["id"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "released" in out.stdout
    sink.wait_messages(1)
    [m] = sink.messages()
    assert m.rcpts == ["b@example.test"] and m.mail_from == "x@spam.example"
    msg = email.message_from_bytes(m.data, policy=email.policy.default)
    assert msg["Subject"] == "Cheap pills"           # as it arrived: no prefix
    assert "from quarantine entry %s" % b["id"] in msg["X-Postern-Released"]
    assert [e["id"] for e in entries(p)] == [qid + ".1"]
    out = ctl(p, "quarantine", "release", b["id"])    # twice: harmless
    assert out.returncode != 0
    time.sleep(0.5)
    assert len(sink.messages()) == 1

    out = ctl(p, "quarantine", "delete", qid + ".1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert entries(p) == []
    assert os.listdir(os.path.join(p.spool, "quarantine")) == []
    assert redis_server.cli("EXISTS", "pt:q:{%s.1}" % qid) == "0"
    assert len(sink.messages()) == 1
    p.stop()


def test_a_release_interrupted_by_a_crash_arrives_once(tmp_path, redis_server, sink,
                                                       monkeypatch):
    p = quarantining(tmp_path, redis_server, sink)
    monkeypatch.setenv("POSTERN_TEST_QUAR_CRASH", "1")   # _exit between rename steps
    p.start()
    monkeypatch.delenv("POSTERN_TEST_QUAR_CRASH")
    qid = spam(p, ["b@example.test"])
    wait_for(lambda: len(entries(p)) == 1, what="the entry")
    rel = subprocess.Popen([os.path.join(BUILD, "posternctl"), "-f", p.config_path,
                            "quarantine", "release", qid + ".0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: p.proc.poll() is not None, what="the daemon to die mid-release")
    rel.kill()
    rel.wait()
    qdir = os.path.join(p.spool, "quarantine")
    assert os.listdir(qdir) == [qid + ".0.rel"]       # decided, not yet queued
    assert sink.messages() == []
    p.start()
    sink.wait_messages(1)
    wait_for(lambda: os.listdir(qdir) == [] and p.queue_files() == [], what="the release")
    assert "release finished after a restart" in p.log()
    time.sleep(1)
    assert len(sink.messages()) == 1
    assert entries(p) == []
    assert redis_server.cli("EXISTS", "pt:q:{%s.0}" % qid) == "0"
    p.stop()


def test_entries_past_their_retention_are_deleted(tmp_path, redis_server, sink):
    p = quarantining(tmp_path, redis_server, sink,
                     domain={"quarantine_retention": "2s"}).start()
    qid = spam(p, ["b@example.test"])
    wait_for(lambda: len(entries(p)) == 1, what="the entry")
    wait_for(lambda: entries(p) == [], timeout=15, what="retention")
    assert re.search(r"%s\.0: retention of example\.test over" % qid, p.log())
    assert os.listdir(os.path.join(p.spool, "quarantine")) == []
    assert sink.messages() == []
    p.stop()


def test_the_size_cap_deletes_the_oldest_first(tmp_path, redis_server, sink):
    p = quarantining(tmp_path, redis_server, sink,
                     domain={"quarantine_max_size": "300"}).start()
    first = spam(p, ["b@example.test"], subject="first")
    wait_for(lambda: len(entries(p)) == 1, what="the first entry")
    time.sleep(1.1)                               # a later date for the second
    second = spam(p, ["b@example.test"], subject="second")
    wait_for(lambda: [e["id"] for e in entries(p)] == [second + ".0"], timeout=15,
             what="the cap to drop the oldest")
    assert "%s.0: example.test is over its quarantine_max_size" % first in p.log()
    p.stop()


def links(text):
    return re.findall(r"Release: (\S+)\r?\n\s+Not spam, release and learn: (\S+)", text)


def test_the_digest_lists_entries_and_its_links_release_once(tmp_path, redis_server, sink):
    p = quarantining(tmp_path, redis_server, sink,
                     domain={"digest_interval": "2s", "digest_address": "admin@example.test"},
                     extra={"web": {"base_url": "https://quarantine.example.test"}}).start()
    qid1 = spam(p, ["b@example.test"], subject="Offer one")
    qid2 = spam(p, ["b@example.test", "c@example.test"], subject="Offer <two>")
    wait_for(lambda: len(entries(p)) == 3, what="three entries")

    def digest_for(rcpt):
        return [m for m in sink.messages() if m.rcpts == [rcpt] and m.mail_from == ""]

    def listed(rcpt):
        """How many entries the digests to rcpt listed so far (a digest may go out between
        the two messages: the interval is 2 s)."""
        return sum(int(re.search(r"digest: (\d+) new", email.message_from_bytes(
            m.data, policy=email.policy.default)["Subject"]).group(1))
            for m in digest_for(rcpt))
    wait_for(lambda: listed("b@example.test") == 2 and listed("admin@example.test") == 3
             and listed("c@example.test") == 1, timeout=20, what="the digests")
    text = html = ""
    for dg in digest_for("b@example.test"):
        msg = email.message_from_bytes(dg.data, policy=email.policy.default)
        assert msg["Subject"].startswith("Quarantine digest: ")
        assert msg["Auto-Submitted"] == "auto-generated"
        text += msg.get_body(("plain",)).get_content()
        html += msg.get_body(("html",)).get_content()
    assert "Offer one" in text and "Offer <two>" in text and "x@spam.example" in text
    assert "Offer &lt;two&gt;" in html and "<two>" not in html
    assert "Reason: list" in text and "Score:" in text
    found = links(text)
    assert len(found) == 2
    release, learn = [lk for lk in found if lk][0]
    assert release.startswith("https://quarantine.example.test/ui/q/")
    assert learn.startswith("https://quarantine.example.test/ui/q/") and learn != release

    # one digest per period: no more while nothing new arrives
    n = len(sink.messages())
    time.sleep(3)
    assert len(sink.messages()) == n

    def use(token, now=None):
        args = [helper_path("quarlink"), "release", redis_server.socket, KEY, token]
        if now is not None:
            args.append(str(now))
        return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.split()[0]

    token = release.rsplit("/", 1)[1]
    assert use(token + "x") == "EINVAL"                 # forged
    forged = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert use(forged) == "EINVAL"
    assert use(token, now=int(time.time()) + 30 * 86400) == "ETIMEDOUT"  # expired
    # a token made for c cannot release b's entry
    entry_b = re.search(r"Entry: (\S+)\r?\n\s+Release: " + re.escape(release), text).group(1)
    other = subprocess.run([helper_path("quarlink"), "make", KEY, entry_b, "c@example.test",
                            "release", str(int(time.time()) + 3600)],
                           capture_output=True, text=True).stdout.strip()
    assert use(other) == "EPERM"
    assert use(token) == "OK"
    assert use(token) == "EALREADY"                     # twice: harmless (before or after
    wait_for(lambda: "released as" in p.log(), what="the holder's release")   # the holder)
    assert use(token) == "EALREADY"
    wait_for(lambda: [m for m in sink.messages() if m.mail_from == "x@spam.example"],
             what="the released message")
    time.sleep(1)
    released = [m for m in sink.messages() if m.mail_from == "x@spam.example"]
    assert len(released) == 1 and released[0].rcpts == ["b@example.test"]
    assert entry_b in released[0].data.decode()
    assert qid1 and qid2
    p.stop()


def test_release_with_learn_ham_trains_the_classifier(tmp_path, redis_server, sink):
    p = quarantining(tmp_path, redis_server, sink).start()
    qid = spam(p, ["b@example.test"], subject="Not spam after all")
    wait_for(lambda: len(entries(p)) == 1, what="the entry")
    out = ctl(p, "quarantine", "release", qid + ".0", "--learn-ham")
    assert out.returncode == 0, out.stdout + out.stderr
    sink.wait_messages(1)
    assert "released as" in p.log() and "learned as ham" in p.log()
    stats = json.loads(ctl(p, "spam", "stats", "--json").stdout)
    assert stats["ham"] == 1 and stats["spam"] == 0
    assert ctl(p, "quarantine", "release", "bad/id").returncode != 0
    p.stop()


def test_bad_quarantine_settings_are_config_errors(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({
        "listeners": [{"name": "mx", "address": "127.0.0.1:2525", "profile": "inbound"}],
        "domain_defaults": {"digest_time": "25:00"},
        "quarantine": {"token_key": "short"}}))
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 78
    for where in ("/domain_defaults/digest_time", "/quarantine/token_key"):
        assert where in r.stderr, r.stderr


def test_the_removed_quarantine_web_url_says_to_use_web_base_url(tmp_path):
    """One key for the page's URL: web.base_url (the digests derive their links from it)."""
    cfg = tmp_path / "old.json"
    cfg.write_text(json.dumps({
        "listeners": [{"name": "mx", "address": "127.0.0.1:2525", "profile": "inbound"}],
        "quarantine": {"token_key": KEY, "web_url": "https://q.example.test"}}))
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 78
    assert "/quarantine/web_url: removed key: use web.base_url" in r.stderr, r.stderr
    r = subprocess.run([os.path.join(BUILD, "postern"), "-R"], capture_output=True, text=True)
    assert "web_url" not in r.stdout and "BASE_URL/q/TOKEN" in r.stdout


def test_the_digest_waits_for_its_time_of_day(tmp_path, redis_server, sink, monkeypatch):
    """A daily digest goes out at the domain's digest_time, not when the entry arrives, and
    once per day. The daemon's digest clock is moved with the POSTERN_TEST_QUAR_CLOCK file
    (seconds added to the real clock) instead of waiting for the time of day."""
    clock = tmp_path / "clock"
    clock.write_text("0")
    target = time.time() + 150                        # digest_time: 90..150 s from now
    boundary = int(target) // 60 * 60
    hhmm = time.strftime("%H:%M", time.gmtime(target))
    monkeypatch.setenv("POSTERN_TEST_QUAR_CLOCK", str(clock))
    p = quarantining(tmp_path, redis_server, sink,
                     domain={"digest_interval": "1440m", "digest_time": hhmm}).start()

    def digests():
        return [m for m in sink.messages() if m.mail_from == "" and
                m.rcpts == ["b@example.test"]]

    def skew_to(t):                                   # the digest clock reads t now
        clock.write_text(str(int(t - time.time())))

    first = spam(p, ["b@example.test"], subject="Before digest time")
    wait_for(lambda: len(entries(p)) == 1, what="the entry")
    time.sleep(1.5)                                   # several sweeps (200 ms): not yet
    assert digests() == [] and "digest to" not in p.log()

    skew_to(boundary + 5)                             # just past digest_time
    wait_for(lambda: len(digests()) == 1, timeout=15, what="the digest at digest_time")
    text = digests()[0].data.decode()
    assert "Before digest time" in text and first + ".0" in text

    second = spam(p, ["b@example.test"], subject="After digest time")
    wait_for(lambda: len(entries(p)) == 2, what="the second entry")
    time.sleep(1.5)                                   # same day: waits for tomorrow's
    assert len(digests()) == 1

    skew_to(boundary + 86400 + 5)                     # the next day's digest_time
    wait_for(lambda: len(digests()) == 2, timeout=15, what="the next day's digest")
    text = digests()[1].data.decode()
    assert "After digest time" in text and second + ".0" in text
    assert "Before digest time" not in text
    p.stop()
