"""SMTP smuggling, bare LF/CR, STARTTLS command injection and TLS versions."""
import socket
import ssl
import subprocess

import pytest

from postern import Postern, Raw, message, queued_id, send_raw_message, ssl_context


@pytest.fixture
def server(tmp_path, test_ca):
    p = Postern(tmp_path, test_ca).start()
    yield p
    p.stop()


def test_bare_lf_in_command_is_refused(server):
    r = Raw(server.port)
    r.reply()
    r.send("EHLO c\n")
    code, lines = r.reply()
    assert code == 500 and "5.5.2" in lines[0] and "bare <LF>" in lines[0]
    r.send("NOOP\rx\r\n")
    assert r.reply()[0] == 500
    assert r.cmd("NOOP")[0] == 250


@pytest.mark.parametrize("payload", [
    b"Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@example.org>\r\n",
    b"Subject: x\r\n\r\nbody\n.\r\nMAIL FROM:<evil@example.org>\r\n",
    b"Subject: x\r\n\r\nbody\r\n.\nMAIL FROM:<evil@example.org>\r\n",
    b"Subject: x\r\n\r\nbody\r.\rMAIL FROM:<evil@example.org>\r\n",
])
def test_smuggling_variants_never_end_data(server, payload):
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<a@example.org>")
    r.cmd("RCPT TO:<b@example.test>")
    assert r.cmd("DATA")[0] == 354
    r.send(payload + b"RCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n")
    code, lines = r.reply()
    # one reply for the whole thing: refused for the bare line ending, nothing queued
    assert code == 554 and "5.5.2" in lines[0]
    assert r.cmd("NOOP")[0] == 250  # in sync: no reply was produced for smuggled commands
    assert server.queue_files() == [] and server.tmp_files() == []


def test_normalize_mode_keeps_one_message(tmp_path):
    p = Postern(tmp_path, overrides={"smtp": {"bare_lf": "normalize"}}).start()
    r = Raw(p.port)
    r.reply()
    code, lines = send_raw_message(
        r, data=b"Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@example.org>\r\n")
    assert code == 250
    _, msg = p.read_queue_file(queued_id(lines))
    assert msg.endswith(b"body\r\n.\r\nMAIL FROM:<evil@example.org>\r\n")
    assert len(p.queue_files()) == 1
    p.stop()


def test_nul_in_data_is_refused(server):
    r = Raw(server.port)
    r.reply()
    code, lines = send_raw_message(r, data=b"Subject: x\r\n\r\na\x00b\r\n")
    assert code == 554 and "5.6.0" in lines[0]


def test_starttls_discards_pipelined_plaintext(server):
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO c")
    r.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
    code, lines = r.reply()
    assert code == 220 and "2.0.0" in lines[0]
    r.starttls()
    # the injected MAIL was thrown away: after TLS the state is reset, EHLO first
    code, lines = r.cmd("MAIL FROM:<a@example.org>")
    assert code == 503 and "HELO/EHLO" in lines[0]
    code, lines = r.cmd("EHLO c")
    assert "STARTTLS" not in " ".join(lines)
    assert r.cmd("STARTTLS")[0] == 503
    assert send_raw_message(r)[0] == 250
    assert "discarded" in server.log()


def test_received_header_names_tls(server):
    r = Raw(server.port)
    r.reply()
    r.cmd("EHLO c")
    assert r.cmd("STARTTLS")[0] == 220
    r.starttls()
    code, lines = send_raw_message(r)
    _, msg = server.read_queue_file(queued_id(lines))
    head = msg.split(b"\r\n\r\n")[0].decode()
    assert "with ESMTPS id" in head and "(using TLSv1.3 with cipher" in head


def test_tls_1_1_is_refused(server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    s = socket.create_connection(("127.0.0.1", server.ports["submissions"]))
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        ctx.wrap_socket(s, server_hostname="localhost")


def test_swaks_starttls_and_implicit_tls(server, test_ca):
    for args in (["--server", "127.0.0.1:%d" % server.port, "--tls"],
                 ["--server", "127.0.0.1:%d" % server.ports["submissions"], "--tlsc",
                  "--quit-after", "EHLO"]):
        out = subprocess.run(["swaks", "--from", "a@example.org", "--to", "b@example.test"] + args,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "TLS started" in out.stdout


def test_garbage_does_not_crash_the_server(server):
    import random
    rnd = random.Random(42)
    for _ in range(30):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4000))))
        s.close()
    r = Raw(server.port)
    r.reply()
    assert send_raw_message(r)[0] == 250
