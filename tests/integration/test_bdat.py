"""CHUNKING / BDAT (RFC 3030) on the server side: advertised, pipelined chunks with exact
byte counts, BDAT 0 LAST, BDAT mixed with DATA refused, refused chunks skipped (never read
as commands), a malformed count ends the session, the DATA limits (size, bare LF/CR, line
length) apply, smuggling through BDAT is impossible, and the message is kept byte for byte
(no dot-unstuffing) after our Received: field."""
import pytest

from postern import Postern, Raw, message, queued_id
from smtp_sink import SmtpSink


@pytest.fixture
def server(tmp_path):
    p = Postern(tmp_path).start()
    yield p
    p.stop()


def envelope(r, rcpts=("b@example.test",)):
    r.reply()
    code, lines = r.cmd("EHLO client.example")
    assert code == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    for rc in rcpts:
        assert r.cmd("RCPT TO:<%s>" % rc)[0] == 250
    return lines


def body_of(server, lines):
    """The queued message without our Received: field (the first header field)."""
    _, msg = server.read_queue_file(queued_id(lines))
    assert msg.startswith(b"Received: from client.example")
    end = msg.index(b"\r\n", msg.index(b"\r\n\t") + 3)   # folded: 3 or more lines
    while msg[end + 2:end + 3] in (b"\t", b" "):
        end = msg.index(b"\r\n", end + 2)
    return msg[end + 2:]


def test_bdat_ehlo_advertises_chunking_not_binarymime(server):
    r = Raw(server.port)
    lines = envelope(r)
    assert "250-CHUNKING" in lines
    assert not any("BINARYMIME" in ln for ln in lines)


def test_bdat_pipelined_chunks_are_byte_exact(server):
    r = Raw(server.port)
    r.reply()
    first = message(subject="chunks", body="")
    parts = [first.encode(), b".a line with a leading dot\r\n..two dots\r\n",
             b"\r\n.\r\n", b"last line\r\n"]
    wire = b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"
    for p in parts[:-1]:
        wire += b"BDAT %d\r\n" % len(p) + p
    wire += b"BDAT %d LAST\r\n" % len(parts[-1]) + parts[-1]
    wire += b"NOOP\r\n"
    r.send(wire)                                 # all in one write
    assert r.reply()[0] == 250                   # EHLO
    assert r.reply()[0] == 250                   # MAIL
    assert r.reply()[0] == 250                   # RCPT
    for p in parts[:-1]:
        code, lines = r.reply()
        assert code == 250 and "%d octets received" % len(p) in lines[0]
    code, lines = r.reply()
    assert code == 250 and "queued as" in lines[0]
    assert r.reply()[0] == 250                   # NOOP: in sync
    assert body_of(server, lines) == b"".join(parts)


def test_bdat_0_last_ends_the_message(server):
    r = Raw(server.port)
    envelope(r)
    data = message(subject="zero").encode()
    r.send(b"BDAT %d\r\n" % len(data) + data)
    assert r.reply()[0] == 250
    code, lines = r.cmd("BDAT 0 LAST")
    assert code == 250 and "queued as" in lines[0]
    assert body_of(server, lines) == data
    # an empty message: BDAT 0 LAST alone
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<b@example.test>")[0] == 250
    code, lines = r.cmd("BDAT 0 LAST")
    assert code == 250
    assert body_of(server, lines) == b""


def test_bdat_mixed_with_data_is_refused(server):
    r = Raw(server.port)
    envelope(r)
    r.send(b"BDAT 5\r\nHello")
    assert r.reply()[0] == 250
    code, lines = r.cmd("DATA")
    assert code == 503 and "5.5.1" in lines[0]
    code, lines = r.cmd("MAIL FROM:<c@example.org>")
    assert code == 503 and "5.5.1" in lines[0]
    # the transaction goes on with BDAT
    r.send(b"BDAT 3 LAST\r\n!\r\n")
    code, lines = r.reply()
    assert code == 250 and "queued as" in lines[0]
    assert body_of(server, lines) == b"Hello!\r\n"
    assert len(server.queue_files()) == 1


def test_bdat_refused_chunk_is_skipped_not_executed(server):
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO client.example")
    chunk = b"QUIT\r\nRSET\r\n"
    r.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)     # no MAIL: refused
    code, lines = r.reply()
    assert code == 503 and "5.5.1" in lines[0]
    assert r.cmd("NOOP")[0] == 250                        # QUIT inside was never run
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    r.send(b"BDAT %d\r\n" % len(chunk) + chunk)           # no RCPT: refused
    assert r.reply()[0] == 503
    assert r.cmd("NOOP")[0] == 250
    assert server.queue_files() == []


@pytest.mark.parametrize("arg", ["", "x", "-1", "5 LAST x", "5 FIRST", "99999999999999999999"])
def test_bdat_malformed_count_closes_the_session(server, arg):
    r = Raw(server.port)
    envelope(r)
    code, lines = r.cmd(("BDAT " + arg).rstrip())
    assert code == 501 and "5.5.4" in lines[0]
    assert r.closed()
    assert "malformed BDAT" in server.log()


@pytest.mark.parametrize("payload", [
    b"Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@example.org>\r\n",
    b"Subject: x\r\n\r\nbody\r.\rMAIL FROM:<evil@example.org>\r\n",
    b"Subject: x\r\n\r\nbody\r\n.\nRCPT TO:<victim@example.test>\r\n",
])
def test_bdat_bare_line_ends_refuse_the_message(server, payload):
    r = Raw(server.port)
    envelope(r)
    r.send(b"BDAT %d LAST\r\n" % len(payload) + payload)
    code, lines = r.reply()
    assert code == 554 and "5.5.2" in lines[0]
    assert r.cmd("NOOP")[0] == 250
    assert server.queue_files() == [] and server.tmp_files() == []


def test_bdat_smuggling_stays_inside_one_message(server):
    """An end-of-data marker and commands inside a chunk are content: one message, one
    reply, nothing executed; the dots are kept as sent."""
    r = Raw(server.port)
    envelope(r)
    payload = (b"Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@example.org>\r\n"
               b"RCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n")
    r.send(b"BDAT %d LAST\r\n" % len(payload) + payload)
    code, lines = r.reply()
    assert code == 250
    assert r.cmd("NOOP")[0] == 250
    assert len(server.queue_files()) == 1
    env, _ = server.read_queue_file(queued_id(lines))
    assert env["rcpt"] == ["b@example.test"]
    assert body_of(server, lines) == payload


def test_bdat_normalize_mode_writes_what_data_writes(tmp_path):
    p = Postern(tmp_path, overrides={"smtp": {"bare_lf": "normalize"}}).start()
    try:
        r = Raw(p.port)
        envelope(r)
        payload = b"Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@example.org>\rend"
        r.send(b"BDAT %d LAST\r\n" % len(payload) + payload)
        code, lines = r.reply()
        assert code == 250
        assert body_of(p, lines) == (b"Subject: x\r\n\r\nbody\r\n.\r\n"
                                     b"MAIL FROM:<evil@example.org>\r\nend\r\n")
    finally:
        p.stop()


def test_bdat_size_and_line_limits_are_those_of_data(tmp_path):
    p = Postern(tmp_path, overrides={"limits": {"message_size": "2K", "data_line": 100}}).start()
    try:
        r = Raw(p.port)
        envelope(r)
        chunk = b"x" * 90 + b"\r\n"
        wire = b"".join(b"BDAT %d\r\n" % len(chunk) + chunk for _ in range(30))
        r.send(wire + b"BDAT 0 LAST\r\n")
        for _ in range(30):
            assert r.reply()[0] == 250
        code, lines = r.reply()
        assert code == 552 and "5.3.4" in lines[0]
        assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert r.cmd("RCPT TO:<b@example.test>")[0] == 250
        line = b"y" * 150 + b"\r\n"
        r.send(b"BDAT %d LAST\r\n" % len(line) + line)
        code, lines = r.reply()
        assert code == 554 and "5.6.0" in lines[0]
        assert p.queue_files() == []
    finally:
        p.stop()


def test_bdat_rset_abandons_the_transfer(server):
    r = Raw(server.port)
    envelope(r)
    r.send(b"BDAT 4\r\nabcd")
    assert r.reply()[0] == 250
    assert r.cmd("RSET")[0] == 250
    code, lines = r.cmd("BDAT 0 LAST")
    assert code == 503
    assert server.queue_files() == []
    assert r.cmd("QUIT")[0] == 221


# ---- end to end: BDAT in, BDAT (or DATA) out ---------------------------------------------------

def relay_postern(tmp_path, sink, client=None):
    p = Postern(tmp_path, overrides={
        "relay": {"trusted_networks": ["127.0.0.1/32"]},
        "queue": {"retry_min": "1s", "retry_max": "2s", "paused": False},
        "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port},
        "smtp_client": client or {}})
    return p.start()


@pytest.mark.parametrize("chunking", [True, False])
def test_bdat_message_is_byte_exact_at_the_sink(tmp_path, chunking):
    sink = SmtpSink(tmp_path / "sink", chunking=True).start()
    p = relay_postern(tmp_path, sink, {"chunking": chunking})
    try:
        r = Raw(p.port)
        envelope(r, rcpts=("b@remote.test",))
        parts = [b"From: a@example.org\r\nTo: b@remote.test\r\nSubject: exact\r\n"
                 b"Message-ID: <exact@client.test>\r\n\r\n",
                 b".leading dot\r\n..two\r\n.\r\n", b"\r\n.\r\nQUIT\r\n", b"tail \xc3\xa9\r\n"]
        wire = b"".join(b"BDAT %d\r\n" % len(x) + x for x in parts) + b"BDAT 0 LAST\r\n"
        r.send(wire)
        for _ in parts:
            assert r.reply()[0] == 250
        code, lines = r.reply()
        assert code == 250 and "queued as" in lines[0]
        (m,) = sink.wait_messages(1)
        sent = b"".join(parts)
        assert m.data.endswith(sent)
        assert m.data[:len(m.data) - len(sent)].startswith(b"Received: from client.example")
        assert m.data.count(b"\r\n\r\n") == sent.count(b"\r\n\r\n")   # only our Received: added
        assert m.chunks == ([len(m.data)] if chunking else None)
    finally:
        p.stop()
        sink.stop()
