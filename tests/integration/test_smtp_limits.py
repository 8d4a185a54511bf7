"""Every protocol limit is enforced with the right reply, and a slow client delays no one."""
import resource
import socket
import time

from conftest import wait_for
from postern import Postern, Raw, message, send_raw_message


def start(tmp_path, **overrides):
    return Postern(tmp_path, overrides=overrides).start()


def test_command_line_too_long(tmp_path):
    p = start(tmp_path, limits={"command_line": 512})
    r = Raw(p.port)
    r.reply()
    code, lines = r.cmd("EHLO " + "a" * 600)
    assert code == 500 and "5.5.2" in lines[0] and "line too long" in lines[0]
    assert r.cmd("EHLO " + "a" * 500)[0] == 250  # exactly at the limit: fine
    # a huge line without end is discarded as it arrives, then answered once
    r.send("NOOP " + "x" * 300000)
    time.sleep(0.2)
    r.send("\r\nNOOP\r\n")
    assert r.reply()[0] == 500
    assert r.reply()[0] == 250
    p.stop()


def test_size_parameter_too_large(tmp_path):
    p = start(tmp_path, limits={"message_size": "10K"})
    r = Raw(p.port)
    r.reply()
    r.cmd("EHLO c")
    assert "SIZE 10240" in " ".join(r.cmd("EHLO c")[1])
    code, lines = r.cmd("MAIL FROM:<a@example.org> SIZE=10241")
    assert code == 552 and "5.3.4" in lines[0]
    assert r.cmd("MAIL FROM:<a@example.org> SIZE=10240")[0] == 250
    p.stop()


def test_size_exceeded_during_data_keeps_nothing(tmp_path):
    p = start(tmp_path, limits={"message_size": "10K"})
    r = Raw(p.port)
    r.reply()
    code, lines = send_raw_message(r, data=message(body="x" * 78 + "\r\n") * 200)
    assert code == 552 and "5.3.4" in lines[0]
    assert p.queue_files() == [] and p.tmp_files() == []
    # the session goes on normally
    assert send_raw_message(r)[0] == 250
    p.stop()


def test_1100_recipients_get_452_after_1000(tmp_path):
    p = start(tmp_path)
    r = Raw(p.port)
    r.reply()
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<a@example.org>")
    r.send("".join("RCPT TO:<u%d@example.test>\r\n" % i for i in range(1100)))
    codes = [r.reply() for _ in range(1100)]
    assert all(c == 250 for c, _ in codes[:1000])
    assert all(c == 452 and "4.5.3" in ln[0] for c, ln in codes[1000:])
    assert r.cmd("DATA")[0] == 354
    r.send(message() + ".\r\n")
    code, lines = r.reply()
    assert code == 250
    env, _ = p.read_queue_file(lines[0].split("queued as ")[1])
    assert len(env["rcpt"]) == 1000
    p.stop()


def test_too_many_errors_disconnects(tmp_path):
    p = start(tmp_path, limits={"errors": 5})
    r = Raw(p.port)
    r.reply()
    for _ in range(4):
        assert r.cmd("BOGUS")[0] == 500
    r.send("BOGUS\r\n")
    assert r.reply()[0] == 500
    code, lines = r.reply()
    assert code == 421 and "4.7.0" in lines[0]
    assert r.closed()
    p.stop()


def test_connection_limits_total_and_per_ip(tmp_path):
    p = start(tmp_path, limits={"connections": 6, "connections_per_ip": 3})
    held = [Raw(p.port) for _ in range(3)]
    for h in held:
        assert h.reply()[0] == 220
    r = Raw(p.port)
    code, lines = r.reply()
    assert code == 421 and "4.7.0" in lines[0] and "from 127.0.0.1" in lines[0]
    assert r.closed()
    for h in held:
        h.close()
    wait_for(lambda: "disconnect" in p.log())
    time.sleep(0.2)
    r = Raw(p.port)
    assert r.reply()[0] == 220
    r.close()
    p.stop()
    p2 = Postern(tmp_path, overrides={"limits": {"connections": 2}}, name="p2").start()
    held = [Raw(p2.port) for _ in range(2)]
    for h in held:
        h.reply()
    r = Raw(p2.port)
    code, lines = r.reply()
    assert code == 421 and "too many connections" in lines[0]
    p2.stop()


def test_command_timeout(tmp_path):
    p = start(tmp_path, timeouts={"command": "500ms"})
    r = Raw(p.port)
    r.reply()
    r.cmd("EHLO c")
    code, lines = r.reply()   # Raw's socket timeout (10 s) is far above the 500 ms limit
    assert code == 421 and "4.4.2" in lines[0]
    assert r.closed()
    p.stop()


def test_data_timeout(tmp_path):
    p = start(tmp_path, timeouts={"command": "10s", "data": "500ms"})
    r = Raw(p.port)
    r.reply()
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<a@example.org>")
    r.cmd("RCPT TO:<b@example.test>")
    r.cmd("DATA")
    r.send("Subject: half a message\r\n")
    code, lines = r.reply()
    assert code == 421 and "4.4.2" in lines[0]
    wait_for(lambda: p.tmp_files() == [], what="tmp file removed")
    assert p.queue_files() == []
    p.stop()


def test_data_line_limit(tmp_path):
    p = start(tmp_path, limits={"data_line": 100})
    r = Raw(p.port)
    r.reply()
    code, lines = send_raw_message(r, data=message(body="y" * 101 + "\r\n"))
    assert code == 554 and "5.6.0" in lines[0]
    assert send_raw_message(r, data=message(body="y" * 100 + "\r\n"))[0] == 250
    p.stop()


def test_idle_connections_do_not_delay_a_new_client(tmp_path):
    p = start(tmp_path, limits={"connections": 2000, "connections_per_ip": 2000})
    idle = []
    for _ in range(500):
        s = socket.create_connection(("127.0.0.1", p.port))
        idle.append(s)
    # With 500 idle sessions held open (each would wait 5 minutes for a command), a new
    # client is greeted and served. No timing is asserted (make bench measures); the
    # latency is printed for the log.
    t0 = time.monotonic()
    r = Raw(p.port)
    code, _ = r.reply()
    print("banner after %.1f ms with 500 idle connections" % ((time.monotonic() - t0) * 1000))
    assert code == 220
    assert send_raw_message(r)[0] == 250
    assert p.log().count("connect from") >= 501
    for s in idle:
        s.close()
    p.stop()


def test_tls_handshake_timeout(tmp_path, test_ca):
    """A client that never sends its ClientHello is dropped after timeouts.tls_handshake,
    on 465 (implicit TLS) and after STARTTLS, instead of holding a slot for the command timeout."""
    p = Postern(tmp_path, test_ca, overrides={"timeouts": {"tls_handshake": "500ms"}}).start()
    s = socket.create_connection(("127.0.0.1", p.ports["submissions"]))
    s.settimeout(10)
    assert s.recv(100) == b""   # no ClientHello sent: the server closes, no bytes, no hang
    s.close()
    r = Raw(p.ports["submission"])
    r.sock.settimeout(10)
    r.reply()
    assert r.cmd("EHLO c.example")[0] == 250
    assert r.cmd("STARTTLS")[0] == 220
    assert r.sock.recv(100) == b""
    p.stop()


def test_open_file_limit_is_raised_or_reported(tmp_path):
    """The soft limit is raised to the hard one; a hard limit below what limits.connections
    may need is reported at start, instead of failing accept() later with EMFILE."""
    def soft_below_hard():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 8192))

    def hard_too_low():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    p = Postern(tmp_path, overrides={"limits": {"connections": 1000}})
    p.start(preexec_fn=soft_below_hard)
    with open("/proc/%d/limits" % p.proc.pid) as f:
        row = [ln for ln in f if ln.startswith("Max open files")][0]
    assert row.split()[3:5] == ["8192", "8192"]
    assert "open file limit" not in p.log()
    p.stop()
    p.start(preexec_fn=hard_too_low)
    wait_for(lambda: "open file limit 256 is below the 2420 this configuration may need" in
             p.log(), what="the open file limit warning")
    p.stop()
