"""Running as a system service: started as root, Postern binds its listeners and then runs
as privileges.user (setgroups, setgid, setuid), with the spool handed to that user; a
configuration that would keep it root is refused unless privileges.run_as_root says so
(the harness and the demo config say so)."""
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD, wait_for
from postern import Postern, Raw, send_raw_message

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def open_dir():
    """A directory the unprivileged user can reach (pytest's tmp_path is root-only)."""
    d = tempfile.mkdtemp(prefix="postern-priv-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def proc_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = [int(v) for v in value.split()]
    return ids


def test_started_as_root_runs_as_the_configured_user_and_owns_the_spool(tmp_path, open_dir):
    spool = os.path.join(open_dir, "spool")
    p = Postern(tmp_path, overrides={"spool_dir": spool,
                                     "privileges": {"run_as_root": False, "user": "nobody"}})
    p.spool = spool
    p.start()
    ids = proc_ids(p.proc.pid)
    assert ids["Uid"] == [NOBODY.pw_uid] * 4
    assert ids["Gid"] == [NOBODY.pw_gid] * 4
    assert ids["Groups"] == [NOBODY.pw_gid]
    assert "running as nobody (uid %d, gid %d)" % (NOBODY.pw_uid, NOBODY.pw_gid) in p.log()
    r = Raw(p.port)
    r.reply()
    assert send_raw_message(r)[0] == 250
    r.close()
    wait_for(lambda: p.queue_files(), what="queue file")
    (qf,) = p.queue_files()
    for path in (spool, os.path.join(spool, "queue"), os.path.join(spool, "queue", qf),
                 os.path.join(spool, "postern.lock"), os.path.join(spool, "admin.sock")):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid), path
    p.stop()


def test_a_missing_account_is_refused_at_start(tmp_path, open_dir):
    p = Postern(tmp_path, overrides={"spool_dir": os.path.join(open_dir, "spool"),
                                     "privileges": {"run_as_root": False,
                                                    "user": "_postern_no_such_user"}})
    p.start(wait=False)
    assert p.proc.wait(timeout=20) == 77  # EX_NOPERM
    assert 'privileges.user: no account "_postern_no_such_user"' in p.log()
    assert "daemon started" not in p.log()


def test_root_is_refused_unless_run_as_root(tmp_path):
    p = Postern(tmp_path, overrides={"privileges": {"run_as_root": False, "user": "root"}})
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 78
    assert "/privileges/user: \"root\" would keep the daemon root" in r.stderr
    p.start(wait=False)
    assert p.proc.wait(timeout=20) == 78


def test_run_as_root_says_so_loudly(tmp_path):
    p = Postern(tmp_path).start()  # the harness sets privileges.run_as_root
    assert "RUNNING AS ROOT: privileges.run_as_root is set" in p.log()
    assert proc_ids(p.proc.pid)["Uid"][1] == 0
    p.stop()
