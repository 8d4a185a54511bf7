"""A message whose session wrote policy records goes straight to delivery with the queue
running: the commit's hand-off to the queue runner (spool_commit_finish -> queue_add) is the
same with or without records after the message, and queue_policy.c applies them on that
first attempt. test_policy_apply.py writes the records by hand with the queue paused and
restarts; test_policy_engine.py looks only at the queue file. Here the session itself
decides (build/postern-test's test check: 6 points, tag at medium, mark at high) and the
daemon delivers to smtp_sink.py without a restart, after a control message that scores
nothing (its record is only the "pass" one that asks for the X-Spam-* headers).
"""
import email
import email.policy

import pytest

from conftest import wait_for
from postern import Postern, Raw, message, queued_id, send_raw_message
from smtp_sink import SmtpSink

HIGH = "strict.example.test"


@pytest.fixture
def sink(tmp_path):
    s = SmtpSink(tmp_path / "sink").start()
    yield s
    s.stop()


def send(p, rcpts, subject):
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        code, lines = send_raw_message(r, rcpts=rcpts, data=message(subject=subject))
        assert code == 250, lines
        return queued_id(lines)
    finally:
        r.close()


def wait_sent(p, sink, n, what):
    try:
        wait_for(lambda: len(sink.messages()) >= n, timeout=30, what=what)
    except AssertionError as e:
        raise AssertionError("%s; queue %s; log:\n%s" % (e, p.queue_files(), p.log()[-4000:]))


def test_live_queue_delivers_what_the_session_marked_and_tagged(tmp_path, sink):
    checks = {"relay_access": {},
              # 6 points for the spam recipients only: the control gets no symbol
              "testsym": {"emit_for": ["tag TEST_SCORE*6", "mark TEST_SCORE*6"]}}
    p = Postern(tmp_path, binary="postern-test", overrides={
        "relay": {"local_domains": ["example.test", HIGH]},
        "policy": {"profiles": {"inbound": {"direction": "inbound", "checks": checks}}},
        "domains": {"example.test": {"level": "medium"}, HIGH: {"level": "high"}},
        "queue": {"paused": False, "retry_min": "1s", "retry_max": "2s"},
        "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port}}).start()

    control = send(p, ["plain@example.test"], "control")
    wait_sent(p, sink, 1, "the control message")

    spam = send(p, ["tag@example.test", "mark@" + HIGH], "Cheap pills")
    wait_sent(p, sink, 3, "the marked and tagged copies")
    by = {tuple(m.rcpts): m for m in sink.messages()}
    assert set(by) == {("plain@example.test",), ("tag@example.test",),
                       ("mark@" + HIGH,)}, by.keys()

    def parsed(rcpt):
        return email.message_from_bytes(by[(rcpt,)].data, policy=email.policy.default)

    assert parsed("plain@example.test")["Subject"] == "control"
    tag = parsed("tag@example.test")
    assert tag["Subject"] == "Cheap pills" and tag["X-Spam-Flag"] == "YES"
    assert tag["X-Spam-Status"].startswith("Yes, score=6.0 required=5.0")
    mark = parsed("mark@" + HIGH)
    assert mark["Subject"] == "+++SPAM+++ Cheap pills"

    log = p.log()
    for qid in (control, spam):
        assert "%s: from=<a@example.org>" % qid in log
        assert "%s: to=<" % qid in log and "status=sent" in log
    wait_for(lambda: p.queue_files() == [], what="the queue to drain")
    p.stop()
