"""Virus scanning through `posternctl scan`, which runs exactly the daemon's path: the
scanner program postern-scan started by content/scan_client.c, the file passed by
descriptor, only the message part after the envelope scanned (--offset).

The signature database is written by the tests (virusdb.py: EICAR as .ndb and .hdb plus a
custom marker); nothing is downloaded. The real ClamAV database is used when present.
"""
import os
import subprocess

import pytest

import virusdb
from conftest import BUILD

POSTERNCTL = os.path.join(BUILD, "posternctl")


def scan(db, paths, *opts, offset=len(virusdb.ENVELOPE)):
    r = subprocess.run([POSTERNCTL, "scan", "--db", str(db), "--offset", str(offset),
                        "--no-cache", *opts, *map(str, paths)],
                       capture_output=True, text=True, timeout=300)
    out = {}
    for line in r.stdout.splitlines():
        result, name, path = line.split(" ", 2)
        out[os.path.basename(path)] = (result, name)
    return r, out


@pytest.fixture
def db(tmp_path):
    return virusdb.write_db(str(tmp_path / "db"))


def spool(tmp_path, name, message):
    """A queue-file lookalike: Postern's envelope, then the message."""
    p = tmp_path / name
    p.write_bytes(virusdb.ENVELOPE + message)
    return p


WRAPPINGS = {
    "plain": virusdb.plain,
    "base64": virusdb.base64_attachment,
    "qp": virusdb.quoted_printable,
    "uuencode": virusdb.uuencode,
    "zip": virusdb.zipped,
    "zip_in_zip": lambda: virusdb.zipped(depth=2),
    "rfc822": virusdb.attached_message,
    "500_parts": virusdb.many_parts,
    "rfc2231_name": virusdb.rfc2231_name,
}


def test_eicar_in_every_wrapping(tmp_path, db):
    files = [spool(tmp_path, name, build()) for name, build in WRAPPINGS.items()]
    files.append(spool(tmp_path, "clean", virusdb.text_message(4096)))
    files.append(spool(tmp_path, "marker", virusdb.base64_attachment(virusdb.MARKER * 3)))
    r, out = scan(db, files)
    assert r.returncode == 1, r.stderr
    for name in WRAPPINGS:
        assert out[name][0] == "virus", (name, out[name])
        assert out[name][1].startswith("Postern.Test.EICAR"), out[name]
    assert out["clean"] == ("clean", "-")
    assert out["marker"][0] == "virus" and out["marker"][1].startswith("Postern.Test.Marker")


def test_envelope_is_not_scanned(tmp_path, db):
    # The envelope holds the virus, the message does not: scanning from the offset is clean.
    p = tmp_path / "env"
    p.write_bytes(virusdb.EICAR + b"\n" + virusdb.text_message(2000))
    r, out = scan(db, [p], offset=len(virusdb.EICAR) + 1)
    assert out["env"] == ("clean", "-"), r.stderr


def test_limits_are_unscanned_never_clean(tmp_path, db):
    cases = {
        # over the scan size: a 400 KB message against max_scansize 100K
        "scansize": (virusdb.zip_message(400000), '{"max_scansize": "100K"}'),
        # the whole message over max_filesize
        "filesize": (virusdb.zip_message(400000), '{"max_filesize": "100K"}'),
        # zip bomb: 40 MB of zeros in a 40 KB zip, over the default 25M max_filesize
        "bomb": (virusdb.zipped(payload=b"\0" * (40 << 20)), "{}"),
        # too many files in one archive
        "files": (_many_files_message(), '{"max_files": 50}'),
        # nesting deeper than the limit
        "nesting": (virusdb.zipped(depth=6), '{"max_recursion": 4}'),
    }
    for name, (message, conf) in cases.items():
        p = spool(tmp_path, name, message)
        r, out = scan(db, [p], "--conf", conf)
        assert out[name][0] == "unscanned", (name, out[name], r.stderr)
        assert out[name][1].startswith("Heuristics.Limits.Exceeded"), out[name]
        assert r.returncode == 1


def _many_files_message():
    m = virusdb._msg("many files")
    m.set_content("archive")
    files = [("f%d.txt" % i, b"harmless %d" % i) for i in range(200)]
    m.add_attachment(virusdb.zip_bytes(files + [("z.com", virusdb.EICAR)]),
                     maintype="application", subtype="zip", filename="many.zip")
    return m.as_bytes()


def test_encrypted_archive(tmp_path, db):
    p = spool(tmp_path, "enc", virusdb.encrypted_zip_message())
    r, out = scan(db, [p])
    assert out["enc"] == ("encrypted", "Heuristics.Encrypted.Zip"), r.stderr


def test_missing_database_is_unavailable(tmp_path):
    p = spool(tmp_path, "m", virusdb.plain())
    r, out = scan(tmp_path / "nodb", [p])
    assert r.returncode == 75
    assert out["m"][0] == "unavailable"
    assert "no engine" in r.stdout


def test_load_time_and_memory_logged(tmp_path, db):
    p = spool(tmp_path, "m", virusdb.text_message(100))
    r, _ = scan(db, [p])
    assert "signatures from" in r.stderr and "loaded in" in r.stderr and "RSS" in r.stderr


@pytest.mark.skipif(not os.path.exists("/var/lib/clamav/main.cvd") and
                    not os.path.exists("/var/lib/clamav/main.cld"),
                    reason="no real ClamAV database in /var/lib/clamav (clamav-freshclam)")
def test_real_database(tmp_path):
    p = spool(tmp_path, "m", virusdb.base64_attachment())
    r, out = scan("/var/lib/clamav", [p])
    assert out["m"][0] == "virus", r.stderr


def test_tmpdir_private_directory_and_stale_ones_removed(tmp_path, db):
    # virus.tmpdir: the scanner makes its own postern-scan.PID.XXXXXX there, removes it when
    # it exits, and first removes the directories of scanners that are gone (a killed one
    # leaves its files: on a tmpfs that is memory until reboot). Others' are left alone.
    base = tmp_path / "tmpbase"
    base.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = base / ("postern-scan.%d.abcdef" % dead.pid)
    (stale / "clamav-sub").mkdir(parents=True)
    (stale / "clamav-sub" / "part").write_bytes(b"x" * 100)
    alive = base / ("postern-scan.%d.abcdef" % os.getpid())
    alive.mkdir()
    other = base / "unrelated.1.x"
    other.mkdir()
    files = [spool(tmp_path, "v", virusdb.base64_attachment()),
             spool(tmp_path, "c", virusdb.text_message(2000))]
    r, out = scan(db, files, "--conf", '{"tmpdir": "%s"}' % base)
    assert out["v"][0] == "virus" and out["c"] == ("clean", "-"), r.stderr
    assert "temporary files in %s/postern-scan." % base in r.stderr
    assert not stale.exists(), r.stderr
    assert alive.exists() and other.exists()
    assert sorted(os.listdir(base)) == sorted([alive.name, other.name])


def test_default_tmpdir_is_shared_memory_when_tmpfs(tmp_path, db):
    p = spool(tmp_path, "m", virusdb.text_message(100))
    r, _ = scan(db, [p])
    shm = subprocess.run(["stat", "-f", "-c", "%T", "/dev/shm"], capture_output=True,
                         text=True).stdout.strip()
    want = "/dev/shm/" if shm == "tmpfs" and os.access("/dev/shm", os.W_OK) else "/tmp/"
    assert "temporary files in " + want + "postern-scan." in r.stderr, r.stderr
