"""The content checks of the shipped profiles (policy/profile.c), as an admin gets them
without writing a profile: spam scoring with no trained model (the classifier abstains,
rules and GTUBE still score), file types and, on inbound, bulk detection. GTUBE is refused
on inbound and on submission; an ordinary message passes untouched; a blocked attachment
is wrapped inbound and refused on submission. policy.disabled_checks turns checks off
(the test harness uses it for the other tests) and postern -n checks its names.
"""
import base64
import os
import subprocess

from conftest import BUILD
from postern import Postern, message, queued_id
from test_spam_smtp import send as inbound

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


def shipped(tmp_path, test_ca, redis_server, extra=None):
    from test_ratelimit_smtp import PASSWORD, USER
    from test_submission_auth import make_sasldb
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    over = {"redis": {"socket": redis_server.socket}, "auth": {"sasldb": db, "senders": {}},
            "policy": {"disabled_checks": []}}
    over.update(extra or {})
    return Postern(tmp_path, test_ca, overrides=over).start()


def attachment(name, data):
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return ("From: alice@example.test\r\nTo: b@example.test\r\nSubject: file\r\n"
            "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <f1@example.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"==b\"\r\n\r\n"
            "--==b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            "--==b\r\nContent-Type: application/octet-stream; name=\"%s\"\r\n"
            "Content-Disposition: attachment; filename=\"%s\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s--==b--\r\n" % (name, name, b64))


def submit(p, data):
    from test_ratelimit_smtp import USER, login
    r = login(p.ports["submissions"])
    try:
        assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
        assert r.cmd("RCPT TO:<x@elsewhere.example>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(data + ".\r\n")
        return r.reply()
    finally:
        r.close()


def policy_line(p, qid):
    return [l for l in p.records(qid) if l.startswith("policy ")][0]


def test_shipped_profiles_refuse_gtube_both_ways_and_pass_ordinary_mail(
        tmp_path, test_ca, redis_server):
    p = shipped(tmp_path, test_ca, redis_server)
    code, lines = inbound(p, message("test", GTUBE + "\r\n"))
    assert code == 550 and "5.7.1" in lines[0], lines
    code, lines = submit(p, "From: alice@example.test\r\nSubject: t\r\n\r\n%s\r\n" % GTUBE)
    assert code == 550 and "5.7.1" in lines[0], lines
    ordinary = message("Minutes", "The notes of the review are below.\r\n",
                       "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\n"
                       "Message-ID: <m1@example.org>\r\n")
    code, lines = inbound(p, ordinary)
    assert code == 250, lines
    line = policy_line(p, queued_id(lines))
    assert " pass " in line and "BAYES" not in line and "BULK" not in line, line
    p.stop()


def test_shipped_profiles_wrap_blocked_files_inbound_and_refuse_them_on_submission(
        tmp_path, test_ca, redis_server):
    p = shipped(tmp_path, test_ca, redis_server)
    code, lines = inbound(p, attachment("holiday.scr", PE))
    assert code == 250, lines
    line = policy_line(p, queued_id(lines))
    assert " wrap " in line and "FILETYPE_BLOCKED" in line, line
    code, lines = submit(p, attachment("invoice.pdf.exe", PE))
    assert code == 554 and "invoice.pdf.exe" in lines[0], lines
    p.stop()


def test_shipped_disabled_checks_turn_content_checks_off_and_are_checked(
        tmp_path, test_ca, redis_server):
    p = shipped(tmp_path, test_ca, redis_server,
                {"policy": {"disabled_checks": ["spam", "filetype"]}})
    code, lines = inbound(p, message("test", GTUBE + "\r\n"))
    assert code == 250, lines
    code, lines = inbound(p, attachment("holiday.scr", PE))
    assert code == 250 and "FILETYPE" not in policy_line(p, queued_id(lines))
    p.stop()
    for names, why in ((["nosuch"], 'unknown check "nosuch"'),
                       (["relay_access"], "relay_access cannot be turned off")):
        q = Postern(tmp_path / names[0], overrides={"policy": {"disabled_checks": names}})
        r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", q.config_path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and why in r.stderr, r.stderr
