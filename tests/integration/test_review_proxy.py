"""Security review of the PROXY protocol listener (found sound, proved here): v2 TLVs
whose lengths overrun the header, other address families and transports are refused
without a reply; a second PROXY header inside the SMTP dialogue is an unknown command
that changes nothing; a PROXY line sent to a listener without proxy_protocol is never
honoured."""
import struct

import pytest

from conftest import wait_for
from postern import Postern, Raw, message, queued_id
from test_proxy_protocol import V2_SIG, proxy_listener, v1, v2


@pytest.fixture
def server(tmp_path):
    p = Postern(tmp_path, overrides={"relay": {"trusted_networks": ["192.0.2.0/24"]}})
    p.config["listeners"][0].update(proxy_listener())
    p.write_config()
    p.start(wait=False)
    wait_for(lambda: "PROXY protocol)" in p.log() or p.proc.poll() is not None,
             what="the listener")
    assert p.proc.poll() is None, p.log()
    yield p
    p.stop()


def raw_v2(fam_proto, body):
    return V2_SIG + b"\x21" + bytes([fam_proto]) + struct.pack("!H", len(body)) + body


ADDR4 = bytes([192, 0, 2, 7, 198, 51, 100, 1]) + struct.pack("!HH", 40000, 25)


@pytest.mark.parametrize("hdr,why", [
    (raw_v2(0x11, ADDR4 + b"\x01\x00\x10abc"), "v2: malformed TLV"),   # value overruns
    (raw_v2(0x11, ADDR4 + b"\x01\x00"), "v2: malformed TLV"),          # TLV head cut
    (raw_v2(0x11, ADDR4[:8]), "v2: address block too short"),
    (raw_v2(0x12, ADDR4), "v2: not a TCP connection"),                  # UDP
    (raw_v2(0x31, b"\x00" * 216), "v2: UNIX socket addresses"),
    (raw_v2(0x41, ADDR4), "v2: bad address family"),
    (V2_SIG + b"\x22\x11\x00\x0c" + ADDR4, "v2: bad command"),
    (V2_SIG + b"\x11\x11\x00\x0c" + ADDR4, "v2: bad version"),
    (V2_SIG + b"\x21\x11\xff\xff", "v2: header too long"),
])
def test_review_proxy_bad_v2_headers_are_refused(server, hdr, why):
    r = Raw(server.port)
    r.send(hdr + b"EHLO client.example\r\n")
    assert r.closed()
    assert r.buf == b""
    wait_for(lambda: "PROXY header " + why in server.log(), what="the refusal logged")


def test_review_proxy_second_header_inside_smtp_changes_nothing(server):
    r = Raw(server.port)
    r.send(v1("203.0.113.5"))                  # not trusted for relaying
    assert r.reply()[0] == 220
    code, lines = r.cmd("PROXY TCP4 192.0.2.9 198.51.100.1 40000 25")   # trusted, if taken
    assert code == 500, lines
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    code, lines = r.cmd("RCPT TO:<x@elsewhere.example>")
    assert code == 554 and "Relay access denied" in lines[0], lines
    assert r.cmd("RCPT TO:<b@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(message() + "\r\n.\r\n")
    code, lines = r.reply()
    assert code == 250
    _, msg = server.read_queue_file(queued_id(lines))
    assert b"[203.0.113.5])" in msg.split(b"\r\n\r\n", 1)[0]


def test_review_proxy_line_on_a_plain_listener_is_not_honoured(tmp_path):
    p = Postern(tmp_path, overrides={"relay": {"trusted_networks": ["192.0.2.0/24"]}}).start()
    try:
        r = Raw(p.port)
        r.send(v1("192.0.2.9"))                # a client pretending to be a balancer
        assert r.reply()[0] == 220
        assert r.reply()[0] == 500
        assert r.cmd("EHLO client.example")[0] == 250
        assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
        code, lines = r.cmd("RCPT TO:<x@elsewhere.example>")
        assert code == 554 and "Relay access denied" in lines[0], lines
        assert "192.0.2.9" not in p.log().replace("PROXY TCP4 192.0.2.9", "")
    finally:
        p.stop()
