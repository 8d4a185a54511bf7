"""What Postern does to a message as it receives it (lib/msg_stream.c in relay/smtpd/smtp_data.c):
lines over 998 octets folded or broken (or refused), the hop-count limit, Message-ID and
Date added on submission, the From: header check on submission, and whether an SMTPUTF8
message really needs SMTPUTF8 (the spool envelope's smtputf8 line, the Received protocol).
Every message is read back from the spool file, as the delivery side will send it.
"""
import re

import pytest

from postern import Postern, Raw, queued_id, send_raw_message
from test_submission_auth import make_sasldb, plain

USER, PASSWORD = "alice@example.test", "correct horse battery"


@pytest.fixture
def server(tmp_path, test_ca, redis_server):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    p = Postern(tmp_path, test_ca, overrides={
        "redis": {"socket": redis_server.socket},
        "auth": {"sasldb": db, "header_from_must_match": True}}).start()
    yield p
    p.stop()


def inbound(p):
    r = Raw(p.port)
    assert r.reply()[0] == 220
    return r


def submission(p):
    r = Raw(p.ports["submissions"], tls=True)
    assert r.reply()[0] == 220
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0] == 235
    return r


def submit(r, data, sender=USER, rcpt="friend@elsewhere.example", params=""):
    assert r.cmd("MAIL FROM:<%s>%s" % (sender, params))[0] == 250
    assert r.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(data.encode() if isinstance(data, str) else data)
    r.send(b".\r\n")
    return r.reply()


def spooled(p, lines):
    """The queued message (envelope dict, message bytes without our Received:)."""
    env, msg = p.read_queue_file(queued_id(lines))
    assert msg.startswith(b"Received: ")
    return env, msg[msg.index(b"\r\n", msg.index(b";\r\n\t") + 3) + 2:]


def header_of(msg):
    return msg.split(b"\r\n\r\n", 1)[0] + b"\r\n"


def test_lines_over_998_octets_are_folded_or_broken_when_received(server):
    long_to = ", ".join("user%03d@example.test" % i for i in range(200))
    body = "a" * 5000 + "\r\nshort line\r\n" + "b" * 998 + "\r\n"
    data = "From: a@example.org\r\nTo: %s\r\nSubject: long\r\n\r\n%s" % (long_to, body)
    code, lines = send_raw_message(inbound(server), data=data)
    assert code == 250, lines
    env, msg = spooled(server, lines)
    assert all(len(ln) <= 998 for ln in msg.split(b"\r\n")), \
        [len(ln) for ln in msg.split(b"\r\n")]
    head, text = msg.split(b"\r\n\r\n", 1)
    # the header is folded before spaces: unfolding gives the same field back
    assert re.sub(rb"\r\n(?=[ \t])", b"", head) == data.split("\r\n\r\n")[0].encode()
    # the body line is broken in pieces of 998; other lines are untouched
    assert text == b"a" * 998 + (b"\r\n" + b"a" * 998) * 4 + b"\r\n" + b"a" * 10 + \
        b"\r\nshort line\r\n" + b"b" * 998 + b"\r\n"
    assert int(env["size"]) == len(server.read_queue_file(queued_id(lines))[1])
    assert "lines over 998 octets" in server.log()


def test_long_lines_are_refused_when_configured(tmp_path):
    p = Postern(tmp_path, overrides={"smtp": {"long_lines": "reject"}}).start()
    r = inbound(p)
    code, lines = send_raw_message(r, data="Subject: x\r\n\r\n" + "a" * 999 + "\r\n")
    assert code == 554 and "5.6.0" in lines[0] and "998" in lines[0], lines
    code, lines = send_raw_message(r, data="Subject: x\r\n\r\n" + "a" * 998 + "\r\n")
    assert code == 250, lines
    assert len(p.queue_files()) == 1
    p.stop()


def received(n):
    return "".join("Received: from h%d.example by h%d.example;\r\n\tWed, 1 Jan 2025 "
                   "00:00:00 +0000\r\n" % (i, i + 1) for i in range(n))


def test_fifty_received_headers_are_a_mail_loop_on_every_listener(server):
    data = received(50) + "From: %s\r\nSubject: loop\r\n\r\nbody\r\n" % USER
    code, lines = send_raw_message(inbound(server), data=data)
    assert code == 554 and "5.4.6" in lines[0], lines
    code, lines = submit(submission(server), data)
    assert code == 554 and "5.4.6" in lines[0], lines
    assert server.queue_files() == []
    # 49, and Received: lines in the body, are fine
    data = received(49) + "Subject: ok\r\n\r\n" + received(10)
    code, lines = send_raw_message(inbound(server), data=data)
    assert code == 250, lines
    assert "too many hops" in server.log()


def test_hop_count_limit_is_a_setting(tmp_path):
    p = Postern(tmp_path, overrides={"limits": {"hop_count": 3}}).start()
    code, lines = send_raw_message(inbound(p), data=received(3) + "Subject: x\r\n\r\nb\r\n")
    assert code == 554 and "5.4.6" in lines[0], lines
    code, lines = send_raw_message(inbound(p), data=received(2) + "Subject: x\r\n\r\nb\r\n")
    assert code == 250, lines
    p.stop()


def test_submission_adds_missing_message_id_and_date(server):
    r = submission(server)
    code, lines = submit(r, "From: %s\r\nSubject: bare\r\n\r\nbody\r\n" % USER)
    assert code == 250, lines
    qid = queued_id(lines)
    _, msg = spooled(server, lines)
    head = header_of(msg).decode()
    assert re.fullmatch(r"From: [^\r]*\r\nSubject: bare\r\nMessage-ID: <\d{14}\.%s@mx\.test"
                        r"\.example>\r\nDate: \w{3}, \d\d? \w{3} \d{4} \d\d:\d\d:\d\d "
                        r"[+-]\d{4}\r\n" % qid, head), head
    assert msg.endswith(b"\r\n\r\nbody\r\n")
    # present ones are kept as they are
    data = ("From: %s\r\nmessage-id: <mine@alice.example>\r\nDATE: Mon, 1 Jan 2024 "
            "10:00:00 +0100\r\nSubject: x\r\n\r\nbody\r\n" % USER)
    code, lines = submit(r, data)
    assert spooled(server, lines)[1] == data.encode()
    # the inbound listener adds nothing
    code, lines = send_raw_message(inbound(server), data="Subject: in\r\n\r\nbody\r\n")
    assert spooled(server, lines)[1] == b"Subject: in\r\n\r\nbody\r\n"


@pytest.mark.parametrize("header, ok", [
    ("From: %s\r\n" % USER, True),
    ("From  : <%s>\r\n" % USER, True),                       # spaces before the colon
    ("From: Alice\r\n <%s>\r\n (Alice)\r\n" % USER, True),   # folded twice, owned
    # folded over several lines: a reader shows ceo@b.example
    ("From: %s\r\n (x)\r\n <ceo@b.example>\r\n" % USER, False),
    ("From: %s\r\nFrom: ceo@b.example\r\n" % USER, False),   # two From fields
    ("From: %s\r\nfrom : ceo@b.example\r\n" % USER, False),
    ("Subject: no from\r\n", False),
])
def test_header_from_must_match_sees_the_whole_field(server, header, ok):
    code, lines = submit(submission(server), header + "Subject: t\r\n\r\nbody\r\n")
    if ok:
        assert code == 250, lines
    else:
        assert code == 550 and "5.7.1" in lines[0], lines


@pytest.mark.parametrize("rcpt, headers, needed", [
    ("b@example.test", "Subject: plain\r\n", "0"),
    ("b@example.test", "Subject: caf\u00e9\r\n", "1"),
    ("b@example.test", "Subject: x\r\n caf\u00e9\r\n", "1"),
    ("j\u00f6rg@example.test", "Subject: plain\r\n", "1"),
])
def test_smtputf8_line_says_whether_the_message_needs_it(server, rcpt, headers, needed):
    r = inbound(server)
    r.cmd("EHLO client.example")
    data = headers + "\r\nbody caf\u00e9 (8-bit bodies need only 8BITMIME)\r\n"
    code, lines = submit(r, data, sender="a@example.org", rcpt=rcpt, params=" SMTPUTF8")
    assert code == 250, lines
    env, _ = spooled(server, lines)
    assert env["smtputf8"] == needed
    received_line = server.read_queue_file(queued_id(lines))[1].split(b";")[0]
    assert b" with UTF8SMTP id " in received_line


def test_no_smtputf8_line_without_the_parameter(server):
    code, lines = send_raw_message(inbound(server), data="Subject: caf\u00e9\r\n\r\nb\r\n")
    env, _ = spooled(server, lines)
    assert "smtputf8" not in env
    assert b" with ESMTP id " in server.read_queue_file(queued_id(lines))[1]


def test_received_names_utf8smtpsa_and_utf8smtps(server):
    code, lines = submit(submission(server), "From: %s\r\n\r\nb\r\n" % USER,
                         params=" SMTPUTF8")
    assert b" with UTF8SMTPSA id " in server.read_queue_file(queued_id(lines))[1]
    r = inbound(server)
    r.cmd("EHLO client.example")
    assert r.cmd("STARTTLS")[0] == 220
    r.starttls()
    r.cmd("EHLO client.example")
    code, lines = submit(r, "Subject: x\r\n\r\nb\r\n", sender="a@example.org",
                         rcpt="b@example.test", params=" SMTPUTF8")
    env, msg = server.read_queue_file(queued_id(lines))
    assert b" with UTF8SMTPS id " in msg
    assert env["proto"] == "ESMTPS"   # the envelope keeps the SMTP protocol name


def test_received_header_and_envelope_carry_no_control_characters(tmp_path):
    """Control bytes a client puts into HELO never reach the envelope or our Received:
    field as themselves (a login with CR LF is refused at AUTH: test_submission_auth.py;
    the envelope writer replaces every control byte: tests/unit/test_spool.c)."""
    p = Postern(tmp_path).start()
    r = Raw(p.port)
    r.reply()
    assert r.cmd("EHLO evil\x01host\x1b[31m\x7f.example")[0] == 250
    code, lines = submit(r, "Subject: x\r\n\r\nb\r\n", sender="a@example.org",
                         rcpt="alice@example.test")
    assert code == 250, lines
    env, msg = p.read_queue_file(queued_id(lines))
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in env["helo"])
    received = msg.split(b"\r\n\r\n", 1)[0].split(b"\r\n\t")[0]
    assert received.startswith(b"Received: from evil")
    assert not any(b < 32 or b == 127 for b in received)
    p.stop()
