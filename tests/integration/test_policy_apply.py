"""The delivery side of the policy engine: what each recipient's "policy" record in the
queue file does to its copy (relay/queue/queue_policy.c).

Until the SMTP session decides these actions, each test receives a real message with the
queue paused, stops the daemon, appends the records after the message (exactly where the
session will write them, docs/spool.md "Status records"), and starts it again with
delivery on, to smtp_sink.py. Then it checks the bytes each recipient got.
"""
import email
import email.policy
import os
import re
import subprocess

import pytest

from conftest import BUILD, wait_for
from postern import Postern, Raw, queued_id, send_raw_message
from smtp_sink import SmtpSink

MSG = ("From: a@example.org\r\nTo: list@example.test\r\nSubject: Cheap pills\r\n"
       "X-Spam-Flag: YES\r\nX-Spam-Status: No, score=-100 required=5.0\r\n\ttests=FORGED\r\n"
       "Message-ID: <apply.1@client.test>\r\n\r\nbody line\r\n")


@pytest.fixture
def sink(tmp_path):
    s = SmtpSink(tmp_path / "sink").start()
    yield s
    s.stop()


def ctl(p, *args):
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path] + list(args),
                          capture_output=True, text=True, timeout=30)


def queue_with_records(tmp_path, sink, rcpts, records, data=MSG):
    """Receive MSG for rcpts (queue paused), append records, restart delivering. The
    session writes its own records at acceptance; the appended ones come later and win."""
    p = Postern(tmp_path, overrides={
        "relay": {"trusted_networks": ["127.0.0.1/32"]},
        "queue": {"paused": True, "retry_min": "1s", "retry_max": "2s"},
        "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port}}).start()
    r = Raw(p.port)
    assert r.reply()[0] == 220
    code, lines = send_raw_message(r, rcpts=rcpts, data=data)
    assert code == 250
    qid = queued_id(lines)
    r.close()
    p.stop()
    with open(os.path.join(p.spool, "queue", qid), "ab") as f:
        f.write("".join(rec + "\n" for rec in records).encode())
    p.config["queue"]["paused"] = False
    p.write_config()
    p.start()
    return p, qid


def headers_of(data):
    return data.split(b"\r\n\r\n", 1)[0].decode()


def below_received(h):
    """The header after Postern's own Received: field (where our fields go)."""
    assert h.startswith("Received: "), h
    m = re.match(r"Received: .*?\r\n(?![ \t])", h, re.S)
    return h[m.end():]


def test_each_recipient_gets_its_action(tmp_path, sink):
    rcpts = ["plain@example.test", "tag@example.test", "mark1@example.test",
             "mark2@example.test", "gone@example.test", "held@example.test"]
    records = [
        "policy 1 tag 6.2 5 8 HS medium syms=DNSBL_X:4,RDNS_NONE:2.2",
        "policy 2 mark 9.5 5 8 HS medium syms=TEST:9.5 prefix=+++SPAM+++%20"
        " hdr=X-Virus-Status%3A%20Clean",
        "policy 3 mark 9.5 5 8 HS medium syms=TEST:9.5 prefix=+++SPAM+++%20"
        " hdr=X-Virus-Status%3A%20Clean",
        "policy 4 discard 30 5 8 HS medium syms=TEST:30 reason=blacklisted%20sender",
        "policy 5 quarantine 12 5 8 HS medium syms=TEST:12 reason=spam%20score%2012",
    ]
    p, qid = queue_with_records(tmp_path, sink, rcpts, records)
    sink.wait_messages(3)
    wait_for(lambda: "status=discarded" in p.log(), what="the discard log line")
    msgs = {tuple(m.rcpts): m for m in sink.messages()}
    assert set(msgs) == {("plain@example.test",), ("tag@example.test",),
                         ("mark1@example.test", "mark2@example.test")}, msgs.keys()

    # the session's own record (pass, headers on at the default level): ours replace the
    # forged ones
    plain = headers_of(msgs[("plain@example.test",)].data)
    assert below_received(plain).startswith("X-Spam-Status: No, score=0.0 required=5.0 "
                                            "tests=none\r\nX-Spam-Score: 0.0\r\nFrom: ")
    assert "FORGED" not in plain and "X-Spam-Flag" not in plain
    assert "Subject: Cheap pills" in plain

    # tag: X-Spam-* from outside gone, ours below our Received:, Subject untouched
    tag = headers_of(msgs[("tag@example.test",)].data)
    assert below_received(tag).startswith("X-Spam-Status: Yes, score=6.2 required=5.0 tests=DNSBL_X,RDNS_NONE"
                          "\r\nX-Spam-Score: 6.2\r\nX-Spam-Flag: YES\r\nX-Spam-Level: ******\r\n")
    assert "FORGED" not in tag and "score=-100" not in tag
    assert tag.count("X-Spam-Flag") == 1
    assert "Subject: Cheap pills\r\n" in tag

    # mark: one transaction for both, Subject prefixed once, hdr= field added
    data = msgs[("mark1@example.test", "mark2@example.test")].data
    m = email.message_from_bytes(data, policy=email.policy.default)
    assert m["Subject"] == "+++SPAM+++ Cheap pills"
    assert m["X-Virus-Status"] == "Clean"
    assert m["X-Spam-Status"].startswith("Yes, score=9.5 required=5.0")
    assert m.get_content().strip() == "body line"
    assert data.endswith(b"\r\n\r\nbody line\r\n")

    # discard: logged with its reason, recorded as done
    assert re.search(r"%s: to=<gone@example\.test>, status=discarded \(blacklisted sender\)"
                     % qid, p.log())

    # quarantine: not delivered, moved to the quarantine store (test_quarantine.py has the
    # rest: the index, release, delete)
    assert re.search(r"%s: to=<held@example\.test>, status=quarantined \(spam score 12\) "
                     r"entry=%s\.5" % (qid, qid), p.log())
    wait_for(lambda: p.queue_files() == [], what="the queue to drain")
    assert os.listdir(os.path.join(p.spool, "quarantine")) == [qid + ".5"]
    assert len(sink.messages()) == 3
    p.stop()


WRAP_MSG = ("From: a@example.org\r\nTo: w@example.test\r\nSubject: Invoice\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
            "preamble\r\n--outer\r\nContent-Type: text/plain\r\n\r\nplease see attached\r\n"
            "--outer\r\nContent-Type: application/octet-stream; name=\"invoice.scr\"\r\n"
            "Content-Disposition: attachment; filename=\"invoice.scr\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n"
            "--outer--\r\nepilogue\r\n")


def test_wrap_delivers_a_warning_with_the_defanged_original(tmp_path, sink):
    p, qid = queue_with_records(tmp_path, sink, ["w@example.test", "ok@example.test"], [
        "policy 0 wrap 0 5 8 H medium reason=blocked%20file%20invoice.scr",
        "policy 1 pass 0 5 8 H medium"], data=WRAP_MSG)
    sink.wait_messages(2)
    by = {tuple(m.rcpts): m for m in sink.messages()}
    ok = by[("ok@example.test",)].data
    assert below_received(headers_of(ok)).startswith(
        "X-Spam-Status: No, score=0.0 required=5.0 tests=none\r\nX-Spam-Score: 0.0\r\nFrom:")
    assert b"TVqQAAMAAAAEAAAA" in ok
    data = by[("w@example.test",)].data
    assert b"TVqQ" not in data
    m = email.message_from_bytes(data, policy=email.policy.default)
    assert m["Subject"] == "[WARNING] Invoice"
    assert m["To"].addresses[0].addr_spec == "w@example.test"
    assert m["X-Spam-Status"].startswith("No, score=0.0")
    assert data.startswith(b"X-Spam-Status: ")  # a new message: no Received: of ours yet
    assert m.get_content_type() == "multipart/mixed"
    text, att = list(m.iter_parts())
    assert "WARNING: this message contained blocked file invoice.scr." in text.get_content()
    assert qid in text.get_content()
    assert att.get_content_type() == "message/rfc822"
    orig = att.get_content()
    assert orig["Subject"] == "Invoice"
    parts = list(orig.iter_parts())
    assert [x.get_content_type() for x in parts] == ["text/plain", "text/plain"]
    assert parts[0].get_content().strip() == "please see attached"
    assert "[Postern removed this part: invoice.scr (application/octet-stream)]" in \
        parts[1].get_content()
    assert not m.defects and not orig.defects
    wait_for(lambda: p.queue_files() == [], what="the queue to drain")
    p.stop()
