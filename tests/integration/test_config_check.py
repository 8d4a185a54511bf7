"""postern -n: syntax errors with file:line:col, semantic errors with JSON pointers, exit 78."""
import os
import subprocess

from conftest import BUILD, ROOT


def check(tmp_path, text, verbose=False):
    f = tmp_path / "postern.conf"
    f.write_text(text)
    args = [os.path.join(BUILD, "postern"), "-n", "-f", str(f)] + (["-v"] if verbose else [])
    r = subprocess.run(args, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr.replace(str(f), "FILE")


GOOD = """// a comment
{
  "spool_dir": "/tmp/x",
  # another comment
  "listeners": [ { "name": "mx", "address": "127.0.0.1:2525", "profile": "inbound" } ]
}
"""


def test_demo_config_is_valid():
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f",
                        os.path.join(ROOT, "etc", "postern.demo.json")],
                       capture_output=True, text=True, cwd=ROOT)
    # the demo's certificate and DKIM key exist only after `make demo-setup`
    assert r.returncode == 0 or "cannot load certificate" in r.stderr or "tls" in r.stderr \
        or "run/dkim/example.test.demo.key" in r.stderr, r.stderr


def test_valid_config_with_comments(tmp_path):
    rc, out, err = check(tmp_path, GOOD, verbose=True)
    assert rc == 0, err
    assert '"message_size": "25M"' in out and '"recipients": 1000' in out


def test_syntax_error_reports_line_and_column(tmp_path):
    rc, _, err = check(tmp_path, '{\n  "spool_dir": "/tmp/x",\n}\n')
    assert rc == 78
    assert err.startswith("FILE:3:1: error: "), err


def test_duplicate_key_is_rejected(tmp_path):
    rc, _, err = check(tmp_path, '{"spool_dir": "/a", "spool_dir": "/b", "listeners": []}')
    assert rc == 78 and "duplicate" in err and err.startswith("FILE:1:")


def test_unknown_key_and_bad_values_report_json_pointers(tmp_path):
    rc, _, err = check(tmp_path, """{
      "limits": { "recipent": 5, "message_size": "lots" },
      "listeners": [ { "name": "mx", "address": "127.0.0.1:99999", "profile": "smtp" } ]
    }""")
    assert rc == 78
    assert "FILE: error: /limits/recipent: unknown key" in err and '"recipients"' in err
    assert "FILE: error: /limits/message_size:" in err
    assert "FILE: error: /listeners/0: address:" in err


def test_unknown_profile_names_the_key(tmp_path):
    # a listener's profile is a name in policy.profiles, checked once the rest is valid
    rc, _, err = check(tmp_path, """{
      "listeners": [ { "name": "mx", "address": "127.0.0.1:2525", "profile": "smtp" } ]
    }""")
    assert rc == 78
    assert "FILE: error: /listeners/0/profile: profile smtp is not in policy.profiles" in err


def test_submission_without_certificate_is_an_error(tmp_path):
    rc, _, err = check(tmp_path, """{"listeners": [
      {"name": "s", "address": "127.0.0.1:5870", "profile": "submission"}]}""")
    assert rc == 78 and "/listeners/0" in err and "tls.cert" in err


def test_verbose_check_shows_derived_values(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"spool_dir": "%s/spool", "listeners": [{"name": "mx", "address": '
                   '"127.0.0.1:2525", "profile": "inbound"}]}' % tmp_path)
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-v", "-f", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert '"socket": "%s/spool/admin.sock"' % tmp_path in r.stdout   # not null
    assert "configuration OK (%s)" % cfg in r.stderr
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-N", "-f", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "admin.sock" not in r.stdout   # not a setting of the file
