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
# distinct limits, so that each test can tell which one acted; short delays
AUTHFAIL = {"window": "1m", "ip_threshold": 6, "login_ip_threshold": 3, "login_threshold": 4,
            "login_delay": "50ms", "login_delay_max": "200ms"}


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
        "authfail": AUTHFAIL,
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


def auth_session(port, login, password, source=None):
    """A TLS session from source that tried AUTH PLAIN: (session, code, first line)."""
    r = tls_session(port, source=source)
    r.cmd("EHLO c")
    code, lines = r.cmd("AUTH PLAIN " + plain(login, password))
    return r, code, lines[0]


def without_seconds(line):
    return re.sub(r"\d+ seconds", "N seconds", line)


def test_blocked_address_is_refused_before_sasl_whatever_the_password(server):
    """ip_threshold failures from one address, on any logins, block the address: AUTH is
    refused before SASL runs, with the same reply for a right and a wrong password."""
    port = server.ports["submission"]
    for login in ("x1@example.test", "x2@example.test", "x3@example.test", "bob@example.test",
                  "x4@example.test", "x5@example.test"):
        r, code, _ = auth_session(port, login, "guess")
        assert code == 535
        r.close()
    failures = server.log().count("authentication failed")
    replies = []
    for password in (PASSWORD, "wrong"):
        r, code, line = auth_session(port, USER, password)
        assert code == 421 and "4.7.0" in line and "too many failed" in line
        assert r.closed()
        replies.append(without_seconds(line))
    assert replies[0] == replies[1]
    assert server.log().count("authentication failed") == failures   # SASL never ran
    assert "AUTH refused: too many failed logins from this address" in server.log()
    wait_for(lambda: server.events("auth.bruteforce"), what="auth.bruteforce")
    ev = server.events("auth.bruteforce")
    assert [(e["scope"], e["failures"], e["threshold"]) for e in ev] == [("ip", 6, 6)]
    assert "login" not in ev[0] and 1 <= ev[0]["blocked_for_s"] <= 60


def test_login_blocked_from_one_address_only_and_alike_for_any_password(server):
    """login_ip_threshold failures of one login from one address block that login from that
    address only, and then a right password gets exactly what a wrong one gets."""
    port = server.ports["submission"]
    for _ in range(3):
        r, code, _ = auth_session(port, USER, "guess", source="127.0.0.2")
        assert code == 535
        r.close()
    replies = []
    for password in (PASSWORD, "wrong"):     # each counts for the address: 5 of 6 now
        r, code, line = auth_session(port, USER, password, source="127.0.0.2")
        assert code == 421 and "4.7.0" in line
        assert r.closed()
        replies.append(without_seconds(line))
    assert replies[0] == replies[1]
    assert "AUTH refused for %s: too many failed logins from this address" % USER in server.log()
    # the same login from another address, another login from this one: both fine
    r, code, _ = auth_session(port, USER, PASSWORD, source="127.0.0.3")
    assert code == 235
    r, code, _ = auth_session(port, "bob@example.test", "bob-password", source="127.0.0.2")
    assert code == 235
    wait_for(lambda: server.events("auth.bruteforce"), what="auth.bruteforce")
    ev = server.events("auth.bruteforce")
    assert [(e["scope"], e["login"], e["client_ip"], e["failures"]) for e in ev
            if e["scope"] == "login_ip"] == [("login_ip", USER, "127.0.0.2", 3)]


def test_one_login_guessed_from_many_addresses_is_slowed_never_locked_out(server):
    """A distributed guess: each address fails once, below every per-address limit. The
    login's own counter raises the alert and delays its verdicts, but the right password
    still works, from any address."""
    port = server.ports["submission"]
    for i in range(5):
        r, code, _ = auth_session(port, USER, "guess %d" % i, source="127.0.0.%d" % (10 + i))
        assert code == 535
        r.close()
    wait_for(lambda: server.events("auth.bruteforce"), what="auth.bruteforce")
    ev = server.events("auth.bruteforce")
    assert [(e["scope"], e["login"], e["failures"], e["threshold"]) for e in ev] == \
        [("login", USER, 4, 4)]
    assert ev[0]["delay_s"] > 0 and "blocked_for_s" not in ev[0]
    r, code, _ = auth_session(port, USER, PASSWORD, source="127.0.0.20")
    assert code == 235
    r.close()
    assert re.search(r"AUTH verdict for %s held back \d+ ms: 5 failed logins" % re.escape(USER),
                     server.log())
    # Postfix's failure line, as fail2ban's postfix-sasl filter expects it
    assert re.search(r"warning: unknown\[127\.0\.0\.10\]: SASL PLAIN authentication "
                     r"failed: [^\n]*, sasl_username=%s\n" % re.escape(USER), server.log())


def test_client_leaving_while_its_verdict_is_held_back(server):
    """The delay is a timer: a client that leaves meanwhile costs nothing but its slot
    until the timer ends, and the daemon goes on."""
    port = server.ports["submission"]
    for i in range(5):
        r, code, _ = auth_session(port, USER, "guess", source="127.0.0.%d" % (40 + i))
        r.close()
    r = tls_session(port, source="127.0.0.50")
    r.cmd("EHLO c")
    r.send("AUTH PLAIN %s\r\n" % plain(USER, PASSWORD))
    r.close()
    wait_for(lambda: "disconnect from unknown[127.0.0.50]" in server.log(), what="disconnect")
    assert re.search(r"unknown\[127\.0\.0\.50\]: AUTH verdict for %s held back" %
                     re.escape(USER), server.log())
    r, code, _ = auth_session(port, USER, PASSWORD, source="127.0.0.51")
    assert code == 235


def test_parallel_sessions_get_no_more_guesses_than_the_address_limit(server):
    """Sessions racing from one address each reserve their attempt when AUTH starts, so
    no more than ip_threshold guesses run, however many sessions send AUTH at once."""
    port = server.ports["submission"]
    sessions = []
    for _ in range(12):
        r = tls_session(port)
        r.cmd("EHLO c")
        sessions.append(r)
    for i, r in enumerate(sessions):
        r.send("AUTH PLAIN %s\r\n" % plain("racer%d@example.test" % i, "guess"))
    codes = sorted(r.reply()[0] for r in sessions)
    assert codes.count(535) == 6 and codes.count(421) == 6, codes


def test_redis_down_fail_closed_refuses_alike_for_any_password(tmp_path, test_ca, redis_server):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    p = Postern(tmp_path, test_ca, name="closed", overrides={
        "redis": {"socket": redis_server.socket, "timeout": "100ms"},
        "auth": {"sasldb": db}, "authfail": dict(AUTHFAIL, fail_mode="closed")}).start()
    try:
        r, code, _ = auth_session(p.ports["submission"], USER, PASSWORD)
        assert code == 235
        redis_server.stop()
        for password in (PASSWORD, "wrong"):
            r, code, line = auth_session(p.ports["submission"], USER, password)
            assert code == 454 and "4.7.0" in line
            r.close()
    finally:
        p.stop()


def test_redis_down_fail_open_lets_the_right_password_in(tmp_path, test_ca, redis_server):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    p = Postern(tmp_path, test_ca, name="open", overrides={
        "redis": {"socket": redis_server.socket, "timeout": "100ms"},
        "auth": {"sasldb": db}, "authfail": AUTHFAIL}).start()
    try:
        redis_server.stop()
        r, code, _ = auth_session(p.ports["submission"], USER, "wrong")
        assert code == 535
        r, code, _ = auth_session(p.ports["submission"], USER, PASSWORD)
        assert code == 235
    finally:
        p.stop()


def test_bare_login_and_login_at_the_hostname_are_one_account(tmp_path, test_ca, redis_server):
    """Without auth.realm, "bare" is looked up in the server's hostname: "bare" and
    "bare@HOSTNAME" are the same sasldb entry, so they share one quota and one name."""
    db = str(tmp_path / "sasldb2")
    subprocess.run(["saslpasswd2", "-f", db, "-p", "-c", "-u", "mx.test.example", "bare"],
                   input=b"bare-pw", check=True)
    p = Postern(tmp_path, test_ca, name="bare", overrides={
        "redis": {"socket": redis_server.socket}, "auth": {"sasldb": db},
        "ratelimit": {"classes": {"default": {"recipients": 2, "window": "1m"}}}}).start()
    try:
        r, code, _ = auth_session(p.ports["submission"], "bare", "bare-pw")
        assert code == 235
        assert r.cmd("MAIL FROM:<bare@mx.test.example>")[0] == 250
        assert r.cmd("RCPT TO:<x@elsewhere.example>")[0] == 250
        assert r.cmd("RCPT TO:<y@elsewhere.example>")[0] == 250
        r.close()
        r, code, _ = auth_session(p.ports["submission"], "bare@mx.test.example", "bare-pw")
        assert code == 235
        assert r.cmd("MAIL FROM:<bare@mx.test.example>")[0] == 450   # one bucket, spent
        r.close()
        r, code, _ = auth_session(p.ports["submission"], "BARE", "bare-pw")
        assert code == 535                       # sasldb wants the exact case of its entry
        assert "sasl_username=bare@mx.test.example" in p.log()
        keys = redis_server.cli("KEYS", "pt:*").split()
        assert "pt:rl:{bare@mx.test.example}:default" in keys
        assert not [k for k in keys if k.startswith("pt:rl:{bare}")]
        assert "pt:authfail:login:{bare@mx.test.example}" in keys   # the failed "BARE"
    finally:
        p.stop()


def test_login_with_control_characters_is_refused(tmp_path, test_ca, redis_server):
    """A login that the backend accepts but that holds a line break would write its own
    lines into the spool envelope: refused like a wrong password."""
    db = str(tmp_path / "sasldb2")
    subprocess.run(["saslpasswd2", "-f", db, "-p", "-c", "-u", "example.test",
                    "evil\nrcpt victim"], input=b"pw", check=True)
    p = Postern(tmp_path, test_ca, name="ctl", overrides={
        "redis": {"socket": redis_server.socket}, "auth": {"sasldb": db}}).start()
    try:
        r, code, _ = auth_session(p.ports["submission"], "evil\nrcpt victim@example.test", "pw")
        assert code == 535
        assert "login refused" in p.log()
    finally:
        p.stop()


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
