"""Shared fixtures for Postern's integration tests.

Everything runs for real on loopback, in a temp dir, on ports picked free at run time:
a private redis-server on a unix socket, a test CA with a server certificate, and the
Postern daemon itself with a generated config (see postern.py). Processes are stopped by PID.
Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/integration
"""
import os
import shutil
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("POSTERN_BUILD", os.path.join(ROOT, "build"))


_handed_out = set()


def free_port():
    """A TCP port that is free on 127.0.0.1 right now, and not handed out before in this
    test run: the kernel may return a port again once its probe socket is closed, and two
    listeners of one daemon then collide."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Poll predicate() until it is true; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def helper_path(name):
    """Path of a test helper binary built from tests/helpers/NAME.c."""
    return os.path.join(BUILD, "tests", "helpers", name)


class RedisServer:
    """A private redis-server on a unix socket in a temp dir."""

    def __init__(self, directory):
        self.dir = directory
        self.socket = os.path.join(directory, "redis.sock")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.socket,
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", self.dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == "PONG", what="redis-server")
        return self

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-s", self.socket] + list(args),
                           capture_output=True, text=True)
        return r.stdout.strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture(autouse=True)
def stop_leftover_daemons():
    """After each test, kill the Postern daemons it started and did not stop (a failing
    assertion skips the test's own stop()), so they do not hold ports and CPU for the
    rest of the run."""
    yield
    from postern import RUNNING
    while RUNNING:
        p = RUNNING.pop()
        proc = p.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def redis_server(tmp_path):
    d = tmp_path / "redis"
    d.mkdir()
    r = RedisServer(str(d)).start()
    yield r
    r.stop()


class TestCA:
    """A throwaway CA and a server certificate for localhost / 127.0.0.1."""

    def __init__(self, directory):
        self.dir = directory
        self.ca_cert = os.path.join(directory, "ca.pem")
        self.ca_key = os.path.join(directory, "ca.key")
        self.cert = os.path.join(directory, "server.pem")
        self.key = os.path.join(directory, "server.key")
        ossl = ["openssl"]

        def run(*args):
            subprocess.run(ossl + list(args), check=True, capture_output=True)
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2",
            "-subj", "/CN=Postern Test CA")
        csr = os.path.join(directory, "server.csr")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", self.key, "-out", csr, "-subj", "/CN=localhost")
        ext = os.path.join(directory, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
            "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", ext)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    return TestCA(str(tmp_path_factory.mktemp("ca")))


def require_tool(name):
    if shutil.which(name) is None:
        pytest.fail("required test tool missing: " + name + " (make deps installs it)")
