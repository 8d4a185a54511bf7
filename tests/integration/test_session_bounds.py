"""A session ends in bounded time whatever the peer does, and replies cannot pile up.

A client that pipelines commands and never reads the replies is the case: the server stops
reading its input while replies wait to be sent (about 64 KB), and when the write timeout
fires the session is freed at once, so its slot in limits.connections comes back. Sessions
that are closing (QUIT, 421, SIGTERM) have their own timer, timeouts.close.
"""
import fcntl
import re
import signal
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time

from conftest import wait_for
from postern import Postern, Raw, ssl_context

HELP = b"HELP\r\n"


class Flooder:
    """Pipelines HELP lines, never reads a reply (not even the banner), then sends one byte
    every 250 ms so that the server's read timeout never fires."""

    def __init__(self, port, tls=False, total=2 << 20, trickle=True):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # replies pile up in the server
        s.connect(("127.0.0.1", port))
        if tls:
            s = ssl_context().wrap_socket(s, server_hostname="localhost")
        s.settimeout(1)
        self.sock = s
        self.sent = 0
        chunk = HELP * 10000
        while self.sent < total:
            try:
                self.sent += s.send(chunk[:total - self.sent])
            except (socket.timeout, ssl.SSLError, OSError):
                break  # the server stopped reading
        self.lines = self.sent // len(HELP)
        self.stop = threading.Event()
        self.thread = None
        if trickle:
            self.thread = threading.Thread(target=self._trickle)
            self.thread.start()

    def unsent(self):
        """Bytes in this socket's send queue that the server has not taken yet."""
        return struct.unpack("i", fcntl.ioctl(self.sock.fileno(), termios.TIOCOUTQ,
                                              struct.pack("i", 0)))[0]

    def server_stopped_reading(self):
        before = self.unsent()
        time.sleep(0.2)
        return before > 0 and self.unsent() == before

    def _trickle(self):
        while not self.stop.wait(0.25):
            try:
                self.sock.send(b"X")
            except (socket.timeout, ssl.SSLError, OSError):
                pass

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join()
        try:
            self.sock.close()
        except OSError:
            pass


def helps_answered(log):
    """The help=N count of each session's disconnect line."""
    return [int(m) for m in re.findall(r"disconnect from \S+ help=(\d+)", log)]


def test_client_that_never_reads_is_dropped_at_the_write_timeout(tmp_path, test_ca):
    """Two plain and one TLS client flood HELP and never read, trickling a byte now and then.
    Each is freed when its write timeout fires, while it is still connected, and its slot
    in limits.connections is free again afterwards. The server answered only a bounded part of
    the flood: it stopped reading while replies were waiting."""
    p = Postern(tmp_path, test_ca, overrides={
        "limits": {"connections": 3, "connections_per_ip": 3},
        "timeouts": {"command": "1s"}}).start()
    before = p.log().count("disconnect from")
    flooders = [Flooder(p.port), Flooder(p.port), Flooder(p.ports["submissions"], tls=True)]
    try:
        wait_for(lambda: p.log().count("disconnect from") >= before + 3, timeout=15,
                 what="the three flooding sessions to be freed")
        helps = helps_answered(p.log())
        assert len(helps) == 3, p.log()
        # the server stopped reading: far fewer replies than the lines sent (each reply is
        # about 20 times the size of its command)
        assert max(helps) < min(f.lines for f in flooders), (helps, [f.lines for f in flooders])
    finally:
        for f in flooders:
            f.close()
    clients = [Raw(p.port) for _ in range(2)] + [Raw(p.ports["submissions"], tls=True)]
    for c in clients:
        assert c.reply()[0] == 220
    for c in clients:
        c.close()
    p.stop()


def test_closing_session_has_its_own_timer(tmp_path):
    """SIGTERM answers 421 and closes every session; one whose client never reads cannot
    flush it. timeouts.close ends it, long before the command timeout would."""
    p = Postern(tmp_path, overrides={"timeouts": {"command": "60s", "shutdown": "60s",
                                                  "close": "500ms"}}).start()
    f = Flooder(p.port, trickle=False)
    try:
        wait_for(f.server_stopped_reading, what="the server to stop reading the flood")
        p.signal(signal.SIGTERM)
        try:
            rc = p.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        assert rc == 0, "postern did not stop within 10 s: " + p.log()[-2000:]
        assert re.search(r"close timeout for \S+: \d+ bytes unsent", p.log())
        assert re.search(r"disconnect from \S+ help=", p.log())
    finally:
        f.close()
    p.stop()
