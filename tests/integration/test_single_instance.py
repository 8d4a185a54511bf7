"""One daemon per spool: a second postern on the same configuration leaves the running one
alone (its spare files, its admin socket), says who holds the spool, and exits 75."""
import os
import signal
import subprocess

from conftest import BUILD, wait_for
from postern import Postern, Raw, send_raw_message


def run_postern(*args, timeout=20):
    return subprocess.run([os.path.join(BUILD, "postern")] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def posternctl(p, *args):
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path] + list(args),
                          capture_output=True, text=True, timeout=20)


def admin_socket(p):
    return os.path.join(p.spool, "admin.sock")


def test_second_daemon_on_the_same_spool_exits_75_and_touches_nothing(tmp_path):
    p = Postern(tmp_path).start()
    r = Raw(p.port)
    r.reply()
    assert send_raw_message(r)[0] == 250   # the spool now keeps spare files in tmp/
    spares = p.wait_spares_settled()
    second = run_postern("-d", "-f", p.config_path)
    assert second.returncode == 75, second.stderr
    assert "already running (pid %d)" % p.proc.pid in second.stderr
    assert "partial files removed" not in second.stderr
    # nothing of the running daemon was removed: spares, admin socket, the lock itself
    assert set(p.spare_files()) == spares
    assert os.path.exists(admin_socket(p))
    ping = posternctl(p, "ping")
    assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr
    assert send_raw_message(r)[0] == 250
    r.close()
    # the check of a configuration takes no lock
    check = run_postern("-n", "-f", p.config_path)
    assert check.returncode == 0, check.stderr
    assert p.stop() == 0


def test_the_lock_goes_with_the_daemon(tmp_path):
    """After kill -9 the lock is gone with the process (flock), and the stale admin socket
    is replaced: a new daemon starts on the same spool."""
    p = Postern(tmp_path).start()
    p.kill9()
    p.start()
    ping = posternctl(p, "ping")
    assert ping.returncode == 0 and "pong" in ping.stdout, ping.stderr
    p.stop()


def daemons_of(config_path):
    """PIDs of the postern processes started with this (unique, temporary) config file."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
        except (OSError, ValueError):
            continue
        if config_path.encode() in args and args[0].endswith(b"postern"):
            pids.append(int(d))
    return pids


def test_forked_daemon_holds_the_lock(tmp_path):
    """postern without -d forks: the process that keeps running holds the lock and is the
    pid a second start names."""
    p = Postern(tmp_path)
    first = run_postern("-f", p.config_path)
    assert first.returncode == 0, first.stderr
    try:
        wait_for(lambda: os.path.exists(admin_socket(p)), what="the forked daemon's socket")
        assert len(daemons_of(p.config_path)) == 1
        pid = daemons_of(p.config_path)[0]
        with open(os.path.join(p.spool, "postern.lock")) as f:
            assert int(f.read().strip()) == pid
        second = run_postern("-d", "-f", p.config_path)
        assert second.returncode == 75
        assert "already running (pid %d)" % pid in second.stderr
        assert posternctl(p, "ping").returncode == 0
    finally:
        for pid in daemons_of(p.config_path):
            os.kill(pid, signal.SIGTERM)
    wait_for(lambda: daemons_of(p.config_path) == [], what="the daemon to stop")


def test_admin_socket_of_a_live_daemon_is_never_replaced(tmp_path):
    """Another daemon (its own spool and ports) configured with the same admin socket refuses
    to start and leaves the socket to its owner."""
    p = Postern(tmp_path).start()
    other = Postern(tmp_path, overrides={"admin": {"socket": admin_socket(p)}}, name="other")
    proc = subprocess.run([os.path.join(BUILD, "postern"), "-d", "-f", other.config_path],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    assert "in use" in proc.stderr, proc.stderr
    assert os.path.exists(admin_socket(p))
    ping = posternctl(p, "ping")
    assert ping.returncode == 0 and "pong" in ping.stdout
    assert p.stop() == 0
    assert not os.path.exists(admin_socket(p))   # its owner removes it when it stops
