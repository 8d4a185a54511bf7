"""What a newcomer meets first: --help and --version on both tools, a hint when postern has
no configuration, `postern -n` saying OK, -n -v with paths as written, -n -N with only the
non-default settings, a one-line certificate error; `make install DESTDIR=` and the man
pages it installs (rendered by man -l)."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import BUILD
from postern import Postern

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(prog, *args):
    return subprocess.run([os.path.join(BUILD, prog)] + list(args), capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("prog", ["postern", "posternctl"])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_goes_to_stdout_and_exits_0(prog, flag):
    r = run(prog, flag)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: %s " % prog)
    assert "/etc/postern/postern.json" in r.stdout


@pytest.mark.parametrize("prog", ["postern", "posternctl"])
@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(prog, flag):
    r = run(prog, flag)
    assert r.returncode == 0
    assert r.stdout.startswith(prog + " ") and r.stdout.count("\n") == 1


@pytest.mark.skipif(os.path.exists("/etc/postern/postern.json"),
                    reason="this machine has a default configuration")
def test_postern_without_a_configuration_says_how_to_start():
    r = run("postern")
    assert r.returncode == 78
    assert "no configuration at /etc/postern/postern.json" in r.stderr
    assert "postern -d -f FILE" in r.stderr and "postern.demo.json" in r.stderr


def test_check_says_ok_and_shows_paths_and_non_defaults(tmp_path, test_ca):
    p = Postern(tmp_path, ca=test_ca, overrides={"limits": {"recipients": 77}})
    r = run("postern", "-n", "-f", p.config_path)
    assert (r.returncode, r.stdout) == (0, "postern: configuration OK (%s)\n" % p.config_path)
    r = run("postern", "-n", "-v", "-f", p.config_path)
    assert r.returncode == 0
    shown = json.loads(r.stdout)
    assert shown["tls"]["key"] == test_ca.key  # a path, not masked
    assert "configuration OK" in r.stderr
    r = run("postern", "-n", "-N", "-f", p.config_path)
    assert r.returncode == 0
    changed = json.loads(r.stdout)
    assert changed["limits"] == {"recipients": 77}
    assert changed["privileges"] == {"run_as_root": True}
    assert changed["spool_dir"] == p.spool
    assert "timeouts" not in changed and "dns" not in changed
    assert set(changed) <= {"hostname", "spool_dir", "workers", "privileges", "relay", "queue",
                            "listeners", "tls", "limits", "virus", "policy", "dkim"}


def test_a_missing_certificate_is_one_line(tmp_path, test_ca):
    p = Postern(tmp_path, ca=test_ca)
    p.config["tls"]["cert"] = str(tmp_path / "nope.pem")
    p.write_config()
    r = run("postern", "-n", "-f", p.config_path)
    assert r.returncode == 78
    assert r.stderr == ("%s: error: /tls/cert: cannot load %s: No such file or directory "
                        "(expected a PEM certificate chain, server certificate first)\n"
                        % (p.config_path, tmp_path / "nope.pem"))


@pytest.mark.skipif(os.path.basename(os.path.abspath(BUILD)) != "build",
                    reason="make install relinks with the default flags: the normal build only")
def test_make_install_lays_out_the_files_and_the_man_pages_render(tmp_path):
    stage = tmp_path / "stage"
    build = os.path.abspath(BUILD)
    r = subprocess.run(["make", "-s", "-C", ROOT, "BUILD=" + build, "install", "PREFIX=/usr",
                        "DESTDIR=" + str(stage)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    files = sorted(str(f.relative_to(stage)) for f in stage.rglob("*") if f.is_file())
    for want in ["usr/sbin/postern", "usr/sbin/posternctl", "usr/share/man/man8/postern.8",
                 "usr/share/man/man8/posternctl.8", "usr/share/man/man5/postern.json.5",
                 "usr/lib/systemd/system/postern.service", "usr/lib/sysusers.d/postern.conf",
                 "etc/postern/postern.json.sample", "usr/share/doc/postern/README.md"]:
        assert want in files
    assert os.access(stage / "usr/sbin/postern", os.X_OK)
    unit = (stage / "usr/lib/systemd/system/postern.service").read_text()
    assert "ExecStart=/usr/sbin/postern -F" in unit
    env = dict(os.environ, MANWIDTH="100", LANG="C.UTF-8")
    for page, want in [("man8/postern.8", "privileges.run_as_root"),
                       ("man8/posternctl.8", "ratelimit show|reset USER"),
                       ("man5/postern.json.5", "/privileges/user")]:
        path = stage / "usr/share/man" / page
        m = subprocess.run(["man", "-l", str(path)], capture_output=True, text=True, env=env,
                           timeout=60)
        assert m.returncode == 0 and m.stdout.count("\n") > 20, m.stderr
        assert want in m.stdout.replace("\u2010", "-").replace("\u2212", "-")
        w = subprocess.run(["groff", "-man", "-ww", "-z", str(path)], capture_output=True,
                           text=True, timeout=60)
        assert w.stderr == "", w.stderr
    # every key of the reference is in the page
    keys = run("postern", "-R").stdout.count("\n| /")
    page = (stage / "usr/share/man/man5/postern.json.5").read_text()
    assert page.count("\n.TP\n.B /") == keys
    r = subprocess.run(["make", "-s", "-C", ROOT, "BUILD=" + build, "uninstall", "PREFIX=/usr",
                        "DESTDIR=" + str(stage)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [f for f in stage.rglob("*") if f.is_file()] == []
