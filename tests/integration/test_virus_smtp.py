"""Virus scanning in the daemon: a message with EICAR is refused after DATA with
554 5.7.1 on the inbound listener and on submission, a clean one is accepted, the
message.virus event fires; with the scanner killed, mail is deferred (451), never passed
unscanned, and the scanner comes back. Test signatures from virusdb.py."""
import base64
import os
import signal
import subprocess
import time

from conftest import BUILD, wait_for
from postern import Postern, Raw
import virusdb


def daemon(tmp_path, test_ca=None, extra=None):
    db = virusdb.write_db(str(tmp_path / "clamav"))
    over = {"virus": {"enabled": True, "scanner": os.path.join(BUILD, "postern-scan"),
                      "database": db}}
    over.update(extra or {})
    p = Postern(tmp_path, test_ca, overrides=over).start()
    wait_for(lambda: "loaded engine" in p.log(), timeout=30, what="virus engine loaded")
    return p


def send(r, msg, sender="a@example.org", rcpt="b@example.test"):
    assert r.cmd("MAIL FROM:<%s>" % sender)[0] == 250
    assert r.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").decode("latin-1") + "\r\n.\r\n")
    code, lines = r.reply()
    return code, " ".join(lines)


def test_eicar_is_refused_inbound_and_clean_mail_passes(tmp_path):
    p = daemon(tmp_path)
    try:
        r = Raw(p.port)
        r.reply()
        r.cmd("EHLO client.example")
        code, text = send(r, virusdb.base64_attachment())
        assert code == 554 and "5.7.1 Virus found: Postern.Test.EICAR" in text
        code, _ = send(r, virusdb.text_message(4096))
        assert code == 250
        r.close()
        ev = p.events("message.virus")
        assert len(ev) == 1 and ev[0]["signature"].startswith("Postern.Test.EICAR")
        assert len(p.queue_files()) == 1
    finally:
        p.stop()


def test_a_dead_scanner_defers_mail_and_comes_back(tmp_path):
    p = daemon(tmp_path, extra={"virus": {"enabled": True, "restart_min": "200ms",
                                          "scanner": os.path.join(BUILD, "postern-scan"),
                                          "database": str(tmp_path / "clamav")}})
    try:
        pid = int(subprocess.run(["pgrep", "-f", "postern-scan.*" + str(tmp_path)],
                                 capture_output=True, text=True).stdout.split()[0]) \
            if subprocess.run(["pgrep", "-f", "postern-scan.*" + str(tmp_path)],
                              capture_output=True, text=True).stdout.strip() else None
        if pid is None:
            out = subprocess.run(["pgrep", "-P", str(p.proc.pid), "postern-scan"],
                                 capture_output=True, text=True).stdout.split()
            pid = int(out[0])
        os.kill(pid, signal.SIGKILL)
        r = Raw(p.port)
        r.reply()
        r.cmd("EHLO client.example")
        code, text = send(r, virusdb.text_message(2048))
        assert code in (250, 451), text      # 451 while it restarts, never unscanned
        r.close()
        wait_for(lambda: p.log().count("loaded engine") >= 2, timeout=30,
                 what="scanner restarted")
        r = Raw(p.port)
        r.reply()
        r.cmd("EHLO client.example")
        code, text = send(r, virusdb.plain())
        assert code == 554, text
        r.close()
    finally:
        p.stop()


def test_check_warns_about_a_missing_signature_database(tmp_path):
    p = Postern(tmp_path, overrides={"virus": {"enabled": True,
                                               "database": str(tmp_path / "empty")}})
    os.makedirs(str(tmp_path / "empty"))
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                       capture_output=True, text=True)
    assert r.returncode == 0
    assert "warning: virus.database %s has no signatures: mail will be deferred (451 4.3.0)" \
        % (tmp_path / "empty") in r.stderr
    virusdb.write_db(str(tmp_path / "empty"))
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "warning" not in r.stderr
