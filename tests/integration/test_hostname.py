"""The configured hostname is a DNS name of at most 253 octets (checked at load), and it is
never cut in a reply: banner, EHLO and the 421s carry it whole."""
import os
import subprocess

import pytest

from conftest import BUILD
from postern import Postern, Raw

# 253 octets: three labels of 63, one of 61
LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


def check(tmp_path, hostname):
    f = tmp_path / "postern.conf"
    f.write_text('{"hostname": "%s", "spool_dir": "/tmp/x", "virus": {"enabled": false}, '
                 '"listeners": [{"name": "mx", "address": "127.0.0.1:2525", '
                 '"profile": "inbound"}]}' % hostname)
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", str(f)],
                       capture_output=True, text=True)
    return r.returncode, r.stderr.replace(str(f), "FILE")


@pytest.mark.parametrize("hostname", [
    "x" * 300,                          # far too long
    LONGEST + ".e",                     # 255 octets
    "a" * 64 + ".example",              # a label over 63
    "mx..example", "-mx.example", "mx-.example", "mx_1.example", "mx example",
    "mx.example.", "[192.0.2.1]", "",
])
def test_bad_hostname_is_refused_at_load(tmp_path, hostname):
    rc, err = check(tmp_path, hostname)
    assert rc == 78 and "FILE: error: /hostname: not a DNS host name" in err, err


@pytest.mark.parametrize("hostname", ["mx.example.com", "localhost", "mx-1.example", LONGEST])
def test_good_hostname_is_accepted(tmp_path, hostname):
    assert check(tmp_path, hostname) == (0, "")


def test_longest_hostname_is_whole_in_every_reply(tmp_path):
    p = Postern(tmp_path, overrides={"hostname": LONGEST,
                                     "limits": {"connections_per_ip": 1, "errors": 2}}).start()
    r = Raw(p.port)
    code, lines = r.reply()
    assert lines == ["220 %s ESMTP Postern" % LONGEST]
    code, lines = r.cmd("EHLO client.example")
    assert code == 250 and lines[0] == "250-" + LONGEST and lines[-1] == "250 SMTPUTF8"
    code, lines = r.cmd("HELO client.example")
    assert lines == ["250 " + LONGEST]
    other = Raw(p.port)
    code, lines = other.reply()
    assert lines == ["421 4.7.0 %s Error: too many connections from 127.0.0.1" % LONGEST]
    other.close()
    r.send("BOGUS\r\nBOGUS\r\n")
    assert r.reply()[0] == 500
    assert r.reply()[1] == ["500 5.5.2 Error: command not recognized"]
    code, lines = r.reply()
    assert lines == ["421 4.7.0 %s Error: too many errors, closing connection" % LONGEST]
    r.close()
    p.stop()
