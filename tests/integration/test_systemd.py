"""systemd integration: the sd_notify(3) datagrams of a Type=notify service.

The test binds the datagram socket that systemd would, points $NOTIFY_SOCKET at it, and
checks what the real daemon says when it is ready (listeners bound), reloading and
stopping. Without $NOTIFY_SOCKET nothing is sent (every other test runs that way)."""
import signal
import socket

import pytest

from postern import Postern, Raw


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield s
    s.close()


def states(sock):
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())


def test_ready_reloading_and_stopping_are_notified(tmp_path, notify_socket):
    p = Postern(tmp_path).start(wait=False)
    ready = states(notify_socket)
    assert ready["READY"] == "1" and ready["STATUS"] == "accepting mail"
    r = Raw(p.port)  # READY means the listeners are bound: this connects at once
    assert r.reply()[0] == 220
    r.close()
    p.signal(signal.SIGHUP)
    assert states(notify_socket) == {"RELOADING": "1"}
    assert states(notify_socket)["READY"] == "1"
    with open(p.config_path, "w") as f:
        f.write("{ not json")
    p.signal(signal.SIGHUP)
    assert states(notify_socket) == {"RELOADING": "1"}
    back = states(notify_socket)
    assert back["READY"] == "1" and "reload failed" in back["STATUS"]
    p.write_config()
    p.signal(signal.SIGTERM)
    assert states(notify_socket) == {"STOPPING": "1"}
    assert p.proc.wait(30) == 0
