"""Security review of BDAT / CHUNKING (RFC 3030) on the server side: what was checked and
found sound, proved against the daemon.
  - a BDAT transaction pipelined after STARTTLS is thrown away with the plaintext;
  - STARTTLS is refused while chunks are being received (no TLS switch mid-message);
  - BDAT content with bare LF / CR and "<CRLF>.<CRLF>" inside, taken in normalize mode and
    relayed onward with DATA, reaches a strict next hop as one message, byte for byte
    (the client side dot-stuffs: nothing smuggled ends the DATA there);
  - a chunk announced with the largest count (19 digits) is streamed, not buffered: the
    daemon's memory stays flat while 24 MB go by over message_size, nothing is kept, and
    the session goes on to a clean close; 20 digits end the session."""
import os
import time

import pytest

from postern import Postern, Raw
from smtp_sink import SmtpSink


def envelope(r, rcpts=("b@example.test",)):
    r.reply()
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    for rc in rcpts:
        assert r.cmd("RCPT TO:<%s>" % rc)[0] == 250


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_review_bdat_pipelined_after_starttls_is_discarded(tmp_path, test_ca):
    p = Postern(tmp_path, test_ca).start()
    try:
        r = Raw(p.port)
        r.reply()
        assert r.cmd("EHLO c")[0] == 250
        data = b"Subject: injected\r\n\r\nx\r\n"
        r.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<b@example.test>\r\n"
               b"BDAT %d LAST\r\n" % len(data) + data)
        assert r.reply()[0] == 220
        r.starttls()
        assert r.cmd("EHLO c")[0] == 250
        code, lines = r.cmd("BDAT 0 LAST")        # no transaction survived the switch
        assert code == 503, lines
        assert p.queue_files() == []
        assert "discarded" in p.log()
    finally:
        p.stop()


def test_review_bdat_no_starttls_inside_a_chunked_transaction(tmp_path, test_ca):
    p = Postern(tmp_path, test_ca).start()
    try:
        r = Raw(p.port)
        envelope(r)
        r.send(b"BDAT 3\r\nabc")
        assert r.reply()[0] == 250
        code, lines = r.cmd("STARTTLS")
        assert code == 503, lines                 # only BDAT, RSET, NOOP, QUIT now
        r.send(b"BDAT 10 LAST\r\nSTARTTLS\r\n")   # inside a chunk: data, not a command
        code, lines = r.reply()
        assert code == 250 and "queued as" in lines[0], lines
    finally:
        p.stop()


def test_review_bdat_normalized_smuggling_is_stuffed_when_relayed_with_data(tmp_path):
    sink = SmtpSink(tmp_path / "sink").start()                  # strict CRLF, no CHUNKING
    p = Postern(tmp_path, overrides={
        "smtp": {"bare_lf": "normalize"},
        "relay": {"trusted_networks": ["127.0.0.1/32"]},
        "queue": {"retry_min": "1s", "retry_max": "2s", "paused": False},
        "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port}}).start()
    try:
        r = Raw(p.port)
        envelope(r, rcpts=("b@remote.test",))
        payload = (b"From: a@example.org\r\nSubject: s\r\nMessage-ID: <s@c.test>\r\n\r\n"
                   b"one\n.\nMAIL FROM:<evil@example.org>\r\n.\r\nRCPT TO:<x@remote.test>\r"
                   b".\rDATA\r\n.\r\n")
        r.send(b"BDAT %d LAST\r\n" % len(payload) + payload)
        code, lines = r.reply()
        assert code == 250, lines
        (m,) = sink.wait_messages(1)
        body = m.data.split(b"\r\n\r\n", 1)[1]
        assert body == (b"one\r\n.\r\nMAIL FROM:<evil@example.org>\r\n.\r\n"
                        b"RCPT TO:<x@remote.test>\r\n.\r\nDATA\r\n.\r\n")
        (conn,) = sink.wait_connections(1)        # the one delivery, closed with QUIT
        seen = " ".join(line for _, line, _ in conn.commands)
        assert "evil" not in seen and "x@remote.test" not in seen, seen
        assert len(sink.messages()) == 1
    finally:
        p.stop()
        sink.stop()


def test_review_bdat_huge_chunk_streams_in_bounded_memory(tmp_path):
    p = Postern(tmp_path, overrides={"limits": {"message_size": "1M"}}).start()
    try:
        r = Raw(p.port)
        envelope(r)
        before = rss_kb(p.proc.pid)
        r.send(b"BDAT 9999999999999999999 LAST\r\n")
        block = (b"x" * 998 + b"\r\n") * 1024            # 1 MB
        for _ in range(24):
            r.send(block)
        r.send(b"\r\n")
        time.sleep(0.3)
        grown = rss_kb(p.proc.pid) - before
        if "ASAN_OPTIONS" not in os.environ:     # ASan keeps freed buffers in quarantine
            assert grown < 8 * 1024, "RSS grew by %d KB while streaming 24 MB" % grown
        assert p.queue_files() == []
        r.close()
        r = Raw(p.port)
        envelope(r)
        r.send(b"BDAT 10000000000000000000 LAST\r\n")   # 20 digits: cannot be framed
        code, lines = r.reply()
        assert code // 100 == 5, lines
        assert r.closed()
        assert p.proc.poll() is None
    finally:
        p.stop()
