"""SMTP AUTH on the submission listeners: real clients, every refusal, brute-force throttling."""
import base64
import os
import re
import smtplib
import ssl
import subprocess

import pytest

from conftest import require_tool, wait_for
from postern import Postern, Raw, message, queued_id

USER, PASSWORD = "alice@example.test", "correct horse battery"


def make_sasldb(path, users):
    for login, password in users:
        local, domain = login.split("@")
        subprocess.run(["saslpasswd2", "-f", path, "-p", "-c", "-u", domain, local],
                       input=password.encode(), check=True)


@pytest.fixture
def server(tmp_path, test_ca, redis_server):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD), ("bob@example.test", "bob-password")])
    p = Postern(tmp_path, test_ca, overrides={
        "redis": {"socket": redis_server.socket},
        "auth": {"sasldb": db, "mechanisms": ["PLAIN", "LOGIN", "CRAM-MD5"],
                 "senders": {USER: {"addresses": [USER, "@alice.example"]}}},
        "authfail": {"threshold": 3, "window": "1m"},
    }).start()
    p.redis = redis_server
    yield p
    p.stop()


def plain(login, password):
    return base64.b64encode(("\0%s\0%s" % (login, password)).encode()).decode()


def tls_session(port, starttls=True, source=None):
    r = Raw(port, tls=not starttls, source=source)
    r.reply()
    if starttls:
        r.cmd("EHLO c")
        assert r.cmd("STARTTLS")[0] == 220
        r.starttls()
    return r


def test_auth_is_not_offered_before_tls_and_refused(server):
    r = Raw(server.ports["submission"])
    r.reply()
    code, lines = r.cmd("EHLO c")
    assert not any(ln[4:].startswith("AUTH") for ln in lines)
    code, lines = r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
    assert code == 538 and "5.7.11" in lines[0]
    code, lines = r.cmd("MAIL FROM:<%s>" % USER)
    assert code == 530 and "5.7.0" in lines[0]


@pytest.mark.parametrize("starttls", [True, False])
def test_smtplib_login_and_send(server, starttls):
    ctx = ssl.create_default_context(cafile=None)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if starttls:
        s = smtplib.SMTP("127.0.0.1", server.ports["submission"])
        s.starttls(context=ctx)
    else:
        s = smtplib.SMTP_SSL("127.0.0.1", server.ports["submissions"], context=ctx)
    s.login(USER, PASSWORD)
    s.sendmail(USER, ["someone@elsewhere.example"], message())
    s.quit()
    qid = server.queue_files()[0]
    env, msg = server.read_queue_file(qid)
    assert env["auth"] == USER and env["rcpt"] == ["someone@elsewhere.example"]
    assert "ESMTPSA" in msg.split(b"\r\n\r\n")[0].decode()
    assert USER not in msg.split(b"\r\n\r\n")[0].decode()  # not named unless configured
    assert "sasl_username=%s" % USER in server.log()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_mechanisms(server, mech):
    require_tool("swaks")
    out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % server.ports["submission"],
                          "--tls", "--auth", mech, "--auth-user", USER, "--auth-password",
                          PASSWORD, "--from", USER, "--to", "x@elsewhere.example"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "235 2.7.0" in out.stdout and "queued as" in out.stdout


def test_curl_with_login_options(server, tmp_path, test_ca):
    f = tmp_path / "m.eml"
    f.write_bytes(message().encode())
    out = subprocess.run(["curl", "-sS", "--url", "smtps://127.0.0.1:%d" % server.ports["submissions"],
                          "--cacert", test_ca.ca_cert, "--user", "%s:%s" % (USER, PASSWORD),
                          "--login-options", "AUTH=PLAIN", "--mail-from", USER,
                          "--mail-rcpt", "x@elsewhere.example", "--upload-file", str(f)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("password", ["wrong", "", PASSWORD[:-1]])
def test_bad_passwords_get_535(server, password):
    r = tls_session(server.ports["submission"])
    r.cmd("EHLO c")
    code, lines = r.cmd("AUTH PLAIN " + plain(USER, password))
    assert code == 535 and "5.7.8" in lines[0]


def test_protocol_errors(server):
    r = tls_session(server.ports["submission"])
    r.cmd("EHLO c")
    assert r.cmd("AUTH PLAIN !!!notbase64")[0] == 501
    assert r.cmd("AUTH X-UNKNOWN")[0] == 504
    code, lines = r.cmd("AUTH LOGIN")
    assert code == 334
    code, lines = r.cmd("*")
    assert code == 501 and "5.0.0" in lines[0]
    assert r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0] == 235
    code, lines = r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
    assert code == 503 and "5.5.1" in lines[0]


def test_sender_ownership(server):
    r = tls_session(server.ports["submissions"], starttls=False)
    r.cmd("EHLO c")
    assert r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0] == 235
    code, lines = r.cmd("MAIL FROM:<bob@example.test>")
    assert code == 553 and "5.7.1" in lines[0] and "not owned" in lines[0]
    assert r.cmd("MAIL FROM:<anything@alice.example>")[0] == 250
    r.cmd("RSET")
    assert r.cmd("MAIL FROM:<%s>" % USER.upper())[0] == 250


def test_null_sender_is_accepted_from_authenticated_users(server):
    """An application server's bounces, vacation replies and read receipts (RFC 3834)
    relayed through us; counted by the user's rate limit like any message."""
    r = tls_session(server.ports["submissions"], starttls=False)
    r.cmd("EHLO c")
    assert r.cmd("MAIL FROM:<>")[0] == 530
    assert r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0] == 235
    assert r.cmd("MAIL FROM:<>")[0] == 250
    assert r.cmd("RCPT TO:<someone@elsewhere.example>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send("From: %s\r\nSubject: Auto: away\r\n\r\nback on Monday\r\n.\r\n" % USER)
    code, lines = r.reply()
    assert code == 250 and "quota: 59/60 left" in lines[0], lines
    env, _ = server.read_queue_file(queued_id(lines))
    assert env["from"] == "" and env["auth"] == USER


def test_bruteforce_is_throttled_once(server):
    for _ in range(3):
        r = tls_session(server.ports["submission"])
        r.cmd("EHLO c")
        assert r.cmd("AUTH PLAIN " + plain(USER, "guess"))[0] == 535
        r.close()
    r = tls_session(server.ports["submission"])
    r.cmd("EHLO c")
    code, lines = r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
    assert code == 421 and "4.7.0" in lines[0]
    assert r.closed()
    wait_for(lambda: "event auth.bruteforce" in server.log())
    assert server.log().count("event auth.bruteforce") == 1


def test_one_login_guessed_from_many_addresses_is_blocked(server):
    """A distributed guess: each address fails once, below the per-IP threshold, but the
    login's own counter reaches it; then even the right password is refused for that login,
    from any address, while other logins still work."""
    port = server.ports["submission"]
    for i in range(3):
        r = tls_session(port, source="127.0.0.%d" % (10 + i))
        r.cmd("EHLO c")
        assert r.cmd("AUTH PLAIN " + plain(USER, "guess %d" % i))[0] == 535
        r.close()
    wait_for(lambda: server.events("auth.bruteforce"), what="auth.bruteforce")
    ev = server.events("auth.bruteforce")
    assert len(ev) == 1 and (ev[0]["scope"], ev[0]["login"]) == ("login", USER)
    assert ev[0]["failures"] == 3
    r = tls_session(port, source="127.0.0.20")
    r.cmd("EHLO c")
    code, lines = r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
    assert code == 421 and "4.7.0" in lines[0] and "too many failed" in lines[0]
    assert r.closed()
    assert "AUTH refused for %s: too many failed logins (login)" % USER in server.log()
    # Postfix's failure line, as fail2ban's postfix-sasl filter expects it
    assert re.search(r"warning: unknown\[127\.0\.0\.10\]: SASL PLAIN authentication "
                     r"failed: [^\n]*, sasl_username=%s\n" % re.escape(USER), server.log())
    r = tls_session(port, source="127.0.0.20")
    r.cmd("EHLO c")
    assert r.cmd("AUTH PLAIN " + plain("bob@example.test", "bob-password"))[0] == 235
    r.close()


def test_relay_after_auth_and_not_before(server):
    r = tls_session(server.ports["submission"])
    r.cmd("EHLO c")
    assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 530
    assert r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0] == 235
    assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
    assert r.cmd("RCPT TO:<friend@elsewhere.example>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(message() + ".\r\n")
    code, lines = r.reply()
    assert code == 250 and "quota:" in lines[0]


def test_header_from_must_match_when_configured(tmp_path, test_ca, redis_server):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    p = Postern(tmp_path, test_ca, name="hdr", overrides={
        "redis": {"socket": redis_server.socket},
        "auth": {"sasldb": db, "header_from_must_match": True}}).start()
    r = tls_session(p.ports["submissions"], starttls=False)
    r.cmd("EHLO c")
    assert r.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0] == 235

    def send(from_header):
        r.cmd("MAIL FROM:<%s>" % USER)
        r.cmd("RCPT TO:<x@elsewhere.example>")
        assert r.cmd("DATA")[0] == 354
        r.send("From: %s\r\nSubject: t\r\n\r\nbody\r\n.\r\n" % from_header)
        return r.reply()

    code, lines = send("Boss <boss@example.test>")
    assert code == 550 and "5.7.1" in lines[0]
    assert send("Alice\r\n <%s>" % USER)[0] == 250   # folded header, owned address
    assert len(p.queue_files()) <= 1
    p.stop()
