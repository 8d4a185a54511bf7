"""The filetype check (policy/checks/check_filetype.c) in the daemon: a profile that lists
it reads the spooled message at END through the MIME parser. An inbound .scr attachment is
accepted with the wrap disposition and FILETYPE_BLOCKED in the queue file's policy record;
a domain whose file_action is reject refuses it with 554 5.7.1 naming the file; names
inside a zip and a renamed executable are found; harmless names pass; malformed MIME adds
MIME_MALFORMED and the high level refuses it.
"""
import base64
import io
import zipfile

from postern import Postern, Raw, queued_id

HIGH = "strict.example.test"
REJ = "rej.example.test"
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


def engine(tmp_path):
    prof = {"direction": "inbound", "checks": {"relay_access": {}, "filetype": {}}}
    over = {"relay": {"local_domains": ["example.test", HIGH, REJ]},
            "policy": {"profiles": {"inbound": prof}, "disabled_checks": []},
            "domains": {"example.test": {"level": "medium"}, HIGH: {"level": "high"},
                        REJ: {"file_action": "reject"}}}
    return Postern(tmp_path, overrides=over).start()


def attachment(name, data, ctype="application/octet-stream"):
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return ("From: a@example.org\r\nTo: b@example.test\r\nSubject: file\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"==b\"\r\n\r\n"
            "--==b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            "--==b\r\nContent-Type: %s; name=\"%s\"\r\n"
            "Content-Disposition: attachment; filename=\"%s\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s--==b--\r\n"
            % (ctype, name, name, b64)).encode()


def deliver(p, rcpt, msg):
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        assert r.cmd("EHLO client.example")[0] == 250
        assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert r.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(msg + b".\r\n")
        return r.reply()
    finally:
        r.close()


def policy_record(p, qid):
    return [l for l in p.records(qid) if l.startswith("policy ")][0]


def test_blocked_attachment_inbound_is_wrapped_or_refused_by_file_action(tmp_path):
    p = engine(tmp_path)
    code, lines = deliver(p, "b@example.test", attachment("holiday.scr", PE))
    assert code == 250
    rec = policy_record(p, queued_id(lines))
    assert " wrap " in rec and "FILETYPE_BLOCKED" in rec
    code, lines = deliver(p, "b@" + REJ, attachment("invoice.pdf.exe", PE))
    assert code == 554 and "5.7.1" in lines[0] and "invoice.pdf.exe" in lines[0]
    p.stop()


def test_zip_members_and_renamed_executables_are_found_harmless_names_pass(tmp_path):
    p = engine(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("docs/readme.txt", "hello")
        z.writestr("tool.exe", PE)
    code, lines = deliver(p, "b@" + REJ, attachment("docs.zip", buf.getvalue(),
                                                   "application/zip"))
    assert code == 554 and "tool.exe" in lines[0]
    code, lines = deliver(p, "b@" + REJ, attachment("photo.jpg", PE, "image/jpeg"))
    assert code == 554 and "photo.jpg" in lines[0]
    for name in ("report.final.pdf", "archive.tar.gz", "photo.jpeg"):
        code, lines = deliver(p, "b@" + REJ, attachment(name, b"%PDF-1.4\n" + b"x" * 100))
        assert code == 250, (name, lines)
        assert "FILETYPE_BLOCKED" not in policy_record(p, queued_id(lines))
    p.stop()


def test_malformed_mime_is_a_symbol_and_the_high_level_refuses_it(tmp_path):
    p = engine(tmp_path)
    msg = (b"From: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\nnever closed\r\n")
    code, lines = deliver(p, "b@example.test", msg)
    assert code == 250
    assert "MIME_MALFORMED" in policy_record(p, queued_id(lines))
    code, lines = deliver(p, "b@" + HIGH, msg)
    assert code == 554 and "Malformed MIME" in lines[0]
    p.stop()
