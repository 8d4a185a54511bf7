"""The SMTP state machine with real clients: swaks, curl, smtplib and a raw socket."""
import smtplib
import subprocess

import pytest

from conftest import require_tool
from postern import Postern, Raw, message, queued_id, send_raw_message


@pytest.fixture
def server(tmp_path, test_ca):
    p = Postern(tmp_path, test_ca).start()
    yield p
    p.stop()


def test_greeting_and_ehlo_keywords(server):
    r = Raw(server.port)
    code, lines = r.reply()
    assert code == 220 and "mx.test.example ESMTP" in lines[0]
    code, lines = r.cmd("EHLO client.example")
    assert code == 250
    keywords = [ln[4:].split()[0] for ln in lines[1:]]
    for k in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "STARTTLS"):
        assert k in keywords
    assert "SIZE 26214400" in " ".join(lines)
    r.close()


def test_every_reply_carries_an_enhanced_code(server):
    r = Raw(server.port)
    r.reply()
    for cmd, code in (("NOOP", 250), ("VRFY bob", 252), ("HELP", 214), ("RSET", 250),
                      ("MAIL FROM:<a@example.org>", 503), ("FOO", 500), ("EXPN x", 502),
                      ("HELO", 501), ("HELO client.example", 250), ("RCPT TO:<b@example.test>", 503),
                      ("DATA", 503), ("MAIL FROM:<a@example.org>", 250),
                      ("MAIL FROM:<a@example.org>", 503), ("DATA", 503), ("QUIT", 221)):
        got, lines = r.cmd(cmd)
        assert got == code, (cmd, lines)
        if cmd != "HELO client.example":
            assert lines[-1][4:5].isdigit() and lines[-1][5] == ".", (cmd, lines)


def test_swaks_delivers_and_spool_holds_byte_exact_message(server):
    require_tool("swaks")
    body = "line one\r\n.leading dot\r\n..two dots\r\nlast line"
    out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % server.port,
                          "--from", "a@example.org", "--to", "b@example.test",
                          "--header", "Subject: byte exact", "--body", body],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    qid = out.stdout.split("queued as ")[1].split()[0]
    env, msg = server.read_queue_file(qid)
    assert env["from"] == "a@example.org" and env["rcpt"] == ["b@example.test"]
    assert msg.startswith(b"Received: from ")
    assert (" id %s" % qid).encode() in msg.split(b"\r\n\r\n")[0]
    assert b"\r\nline one\r\n.leading dot\r\n..two dots\r\nlast line\r\n" in msg
    assert qid in server.log()


def test_curl_plain_and_smtplib(server, tmp_path):
    require_tool("curl")
    f = tmp_path / "m.eml"
    f.write_bytes(message(subject="via curl").encode())
    out = subprocess.run(["curl", "-sS", "--url", "smtp://127.0.0.1:%d" % server.port,
                          "--mail-from", "a@example.org", "--mail-rcpt", "b@example.test",
                          "--upload-file", str(f)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with smtplib.SMTP("127.0.0.1", server.port) as s:
        refused = s.sendmail("a@example.org", ["b@example.test", "c@example.test"],
                             message(subject="via smtplib"))
        assert refused == {}
    assert len(server.queue_files()) == 2


def test_curl_implicit_tls_on_submissions_needs_auth(server, tmp_path, test_ca):
    f = tmp_path / "m.eml"
    f.write_bytes(message().encode())
    out = subprocess.run(["curl", "-sS", "--url", "smtps://127.0.0.1:%d" % server.ports["submissions"],
                          "--cacert", test_ca.ca_cert, "--mail-from", "a@example.org",
                          "--mail-rcpt", "b@example.test", "--upload-file", str(f)],
                         capture_output=True, text=True)
    # The TLS handshake works; without AUTH the submission profile refuses MAIL.
    assert out.returncode != 0 and "530" in out.stderr, out.stderr


def test_inbound_refuses_relaying(server):
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO client.example")
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    code, lines = r.cmd("RCPT TO:<victim@elsewhere.example>")
    assert code == 554 and "5.7.1" in lines[0] and "Relay access denied" in lines[0]
    assert r.cmd("RCPT TO:<b@backup.test>")[0] == 250
    assert r.cmd("RCPT TO:<Postmaster>")[0] == 250
    assert r.cmd("RCPT TO:<b@[127.0.0.1]>")[0] == 554
    assert "reject: RCPT from unknown[127.0.0.1]: 554 5.7.1" in server.log()


def test_loopback_is_not_trusted_by_default(server):
    r = Raw(server.ports["submission"])
    r.reply()
    r.cmd("EHLO client.example")
    code, lines = r.cmd("MAIL FROM:<a@example.test>")
    assert code == 530 and "5.7.0" in lines[0]


def test_pipelined_commands_are_answered_in_order(server):
    r = Raw(server.port)
    r.reply()
    r.send("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"
           "RCPT TO:<x@elsewhere.example>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n")
    assert r.reply()[0] == 250
    assert [r.reply()[0] for _ in range(5)] == [250, 250, 554, 250, 354]
    r.send(message() + ".\r\nQUIT\r\n")
    code, lines = r.reply()
    assert code == 250
    assert r.reply()[0] == 221
    env, _ = server.read_queue_file(queued_id(lines))
    assert env["rcpt"] == ["b@example.test", "c@example.test"]


def test_helo_resets_transaction_and_rset(server):
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO a")
    r.cmd("MAIL FROM:<a@example.org>")
    assert r.cmd("EHLO b")[0] == 250
    assert r.cmd("RCPT TO:<b@example.test>")[0] == 503
    r.cmd("MAIL FROM:<a@example.org>")
    assert r.cmd("RSET")[0] == 250
    assert r.cmd("DATA")[0] == 503
    assert server.tmp_files() == []


def test_transactions_that_end_before_data_cost_no_file(server):
    """The queue file opened at MAIL goes back to the spool's spares when the transaction
    ends before any byte was written (RSET, refused RCPT, QUIT): no file is created or
    deleted per refused transaction, as on an MX that refuses most of what it is offered."""
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO a")
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    r.cmd("RSET")
    before = server.wait_spares_settled()
    for i in range(40):
        assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
        if i % 8 == 0:  # a few refused (each counts toward limits.errors)
            assert r.cmd("RCPT TO:<x%d@elsewhere.example>" % i)[0] == 554  # not a relay
        else:
            assert r.cmd("RCPT TO:<b%d@example.test>" % i)[0] == 250
        assert r.cmd("RSET")[0] == 250
    r.cmd("QUIT")
    assert set(server.spare_files()) == before and server.tmp_files() == []
    assert server.queue_files() == []


def test_address_syntax_errors(server):
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO client.example")
    assert r.cmd("MAIL FROM:a@example.org")[0] == 501
    assert r.cmd("MAIL FROM:<a@@example.org>")[0] == 501
    assert r.cmd("MAIL FROM:<a@example.org> FOO=BAR")[0] == 555
    assert r.cmd("MAIL FROM:<a@example.org> BODY=BINARY")[0] == 501
    assert r.cmd('MAIL FROM:<"john doe"@example.org> BODY=8BITMIME')[0] == 250
    assert r.cmd("RCPT TO:<>")[0] == 501
    assert r.cmd("RCPT TO:<@relay.example:b@example.test>")[0] == 250
    assert r.cmd("RCPT TO:<j\u00f6rg@example.test>")[0] == 553  # no SMTPUTF8 requested


def test_smtputf8_and_null_sender(server):
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO client.example")
    assert r.cmd("MAIL FROM:<> SMTPUTF8")[0] == 250
    assert r.cmd("RCPT TO:<j\u00f6rg@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(message() + ".\r\n")
    code, lines = r.reply()
    env, _ = server.read_queue_file(queued_id(lines))
    assert env["from"] == "" and env["smtputf8"] == "1"
    assert env["rcpt"] == ["j\u00f6rg@example.test"]


def test_ipv6_listener(tmp_path):
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    p = Postern(tmp_path, overrides={"listeners": [
        {"name": "mx6", "address": "[::1]:%d" % port, "profile": "inbound"}]}).start()
    s = socket.create_connection(("::1", port))
    s.settimeout(5)
    assert s.recv(100).startswith(b"220 ")
    s.sendall(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
    data = b""
    while data.count(b"\r\n354") == 0:
        data += s.recv(4096)
    s.sendall(b"Subject: v6\r\n\r\nhi\r\n.\r\n")
    reply = s.recv(200)
    assert reply.startswith(b"250 ")
    env, msg = p.read_queue_file(reply.split(b"queued as ")[1].split()[0].decode())
    assert env["client"] == "::1" and b"[IPv6:::1]" in msg
    s.close()
    p.stop()
