"""Drive tests/helpers/rlcheck (lib/redis + policy/ratelimit + auth/authfail) and talk RESP.

RlCheck(socket, *flags) starts the driver; cmd("take alice 3") sends one command and
returns its answer line parsed into a dict (key=value fields, plus "reply" for the SMTP
text after " | "). Resp(path) is a minimal RESP client over a unix socket, enough to run
the rate-limit script directly (pipelined) without a Python Redis package.
"""
import os
import select
import socket
import subprocess
import time

from conftest import helper_path

ANSWER_TIMEOUT = 10.0  # seconds: far above any expected answer, only to avoid hanging


class RlCheck:
    def __init__(self, redis_socket=None, *flags, address=None):
        args = [helper_path("rlcheck")]
        if redis_socket:
            args += ["--socket", redis_socket]
        if address:
            args += ["--address", address]
        self.proc = subprocess.Popen(args + list(flags), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)
        self.buf = ""

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def line(self, timeout=ANSWER_TIMEOUT):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while "\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError("rlcheck gave no answer in %.1f s" % timeout)
            chunk = os.read(fd, 4096).decode()
            if not chunk:
                raise AssertionError("rlcheck exited (%s)" % self.proc.poll())
            self.buf += chunk
        out, self.buf = self.buf.split("\n", 1)
        return out

    def cmd(self, line, timeout=ANSWER_TIMEOUT):
        self.send(line)
        return parse(self.line(timeout))

    def raw(self, line, timeout=ANSWER_TIMEOUT):
        self.send(line)
        return self.line(timeout)

    def wait_up(self, timeout=ANSWER_TIMEOUT):
        assert self.raw("wait up", timeout) == "state up"

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def parse(line):
    """'take granted=3 ... | 450 4.7.1 text' -> {'cmd': 'take', 'granted': 3, ..., 'reply': ...}"""
    head, _, reply = line.partition(" | ")
    words = head.split()
    out = {"cmd": words[0], "reply": reply}
    for w in words[1:]:
        k, _, v = w.partition("=")
        out[k] = int(v) if v.lstrip("-").isdigit() else v
    return out


def script_source():
    return subprocess.run([helper_path("rlcheck"), "--print-script"], check=True,
                          capture_output=True, text=True).stdout


class RespError(Exception):
    pass


class Resp:
    """A minimal RESP2 client: call(*args) or pipeline([args, ...])."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.f = self.sock.makefile("rb")

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    def read(self):
        line = self.f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RespError("bad reply %r" % line)

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self.encode(c) for c in commands))
        return [self.read() for _ in commands]

    def call(self, *args):
        r = self.pipeline([args])[0]
        if isinstance(r, RespError):
            raise r
        return r

    def close(self):
        self.f.close()
        self.sock.close()
