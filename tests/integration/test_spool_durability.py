"""A 250 after DATA is a promise: acknowledged messages survive kill -9, partial files do not."""
import hashlib
import random
import signal
import threading
import time

from conftest import wait_for
from postern import Postern, Raw, queued_id
from smtp_sink import SmtpSink


def body_for(i, rnd):
    lines = ["Subject: message %d" % i, ""]
    lines += ["%d-%d %s" % (i, n, "z" * rnd.randrange(0, 200)) for n in range(rnd.randrange(1, 200))]
    return ("\r\n".join(lines) + "\r\n").encode()


def sender_loop(port, stop, acked, rnd_seed):
    """Send messages on one connection until stopped; record (qid, sha256) of each 250."""
    rnd = random.Random(rnd_seed)
    i = 0
    while not stop.is_set():
        try:
            r = Raw(port, timeout=5)
            r.reply()
            r.cmd("EHLO c")
            while not stop.is_set():
                data = body_for(i, rnd)
                i += 1
                r.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
                if [r.reply()[0] for _ in range(3)] != [250, 250, 354]:
                    break
                r.send(data + b".\r\n")
                code, lines = r.reply()
                if code == 250:
                    acked.append((queued_id(lines), hashlib.sha256(data).hexdigest()))
        except (OSError, EOFError, ValueError):
            time.sleep(0.01)  # the server was killed; reconnect when it is back


def kill_while_sending(p, acked, seed, pause):
    """Four senders on p; kill -9 after pause seconds; stop the senders; start p again."""
    stop = threading.Event()
    threads = [threading.Thread(target=sender_loop, args=(p.port, stop, acked, seed + t))
               for t in range(4)]
    for t in threads:
        t.start()
    time.sleep(pause)
    p.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    p.start()


def test_acknowledged_messages_survive_sigkill(tmp_path):
    p = Postern(tmp_path).start()
    acked = []
    rnd = random.Random(7)
    for cycle in range(5):
        kill_while_sending(p, acked, cycle * 10, rnd.uniform(0.2, 0.6))
        wait_for(lambda: "partial files removed" in p.log())
        assert p.tmp_files() == []
    p.stop()
    assert len(acked) > 20, "too few messages got through to test anything"
    queued = set(p.queue_files())
    for qid, digest in acked:
        assert qid in queued, "acknowledged message %s lost" % qid
        _, msg = p.read_queue_file(qid)
        # the spooled message is our Received: header followed by the exact bytes sent
        assert hashlib.sha256(strip_received(msg)).hexdigest() == digest, qid
    recovered = [ln for ln in p.log().splitlines() if "partial files removed" in ln]
    assert len(recovered) == 6


def strip_received(msg):
    """Remove the Received: header Postern put on top (it spans continuation lines), and
    the X-Spam-* fields the delivery side adds below it (relay/queue/queue_policy.c)."""
    assert msg.startswith(b"Received: ")
    pos = 0
    while True:
        nl = msg.index(b"\r\n", pos)
        pos = nl + 2
        if msg[pos:pos + 1] not in (b"\t", b" ") and not msg.startswith(b"X-Spam-", pos):
            return msg[pos:]


def test_sigterm_lets_a_transaction_finish_and_refuses_new_commands(tmp_path):
    p = Postern(tmp_path, overrides={"timeouts": {"shutdown": "10s"}}).start()
    idle = Raw(p.port)
    idle.reply()
    busy = Raw(p.port)
    busy.reply()
    busy.cmd("EHLO c")
    busy.cmd("MAIL FROM:<a@example.org>")
    busy.cmd("RCPT TO:<b@example.test>")
    assert busy.cmd("DATA")[0] == 354
    busy.send("Subject: in flight\r\n\r\nfirst half\r\n")
    p.signal(signal.SIGTERM)
    code, lines = idle.reply()
    assert code == 421 and "4.3.2" in lines[0]
    busy.send("second half\r\n.\r\n")
    code, lines = busy.reply()
    assert code == 250
    code, lines = busy.cmd("NOOP")
    assert code == 421 and "4.3.2" in lines[0]
    assert p.proc.wait(10) == 0
    assert len(p.queue_files()) == 1


def test_sighup_reloads_without_dropping_sessions(tmp_path):
    p = Postern(tmp_path).start()
    r = Raw(p.port)
    r.reply()
    r.cmd("EHLO c")
    cfg = p.config
    cfg["relay"]["local_domains"].append("new.test")
    p.write_config(cfg)
    p.signal(signal.SIGHUP)
    wait_for(lambda: "reloaded configuration" in p.log())
    # the old session keeps its config; new sessions get the new one
    r.cmd("MAIL FROM:<a@example.org>")
    assert r.cmd("RCPT TO:<x@new.test>")[0] == 554
    r2 = Raw(p.port)
    r2.reply()
    r2.cmd("EHLO c")
    r2.cmd("MAIL FROM:<a@example.org>")
    assert r2.cmd("RCPT TO:<x@new.test>")[0] == 250
    # a broken file is refused and the running config stays
    with open(p.config_path, "w") as f:
        f.write("{ broken")
    p.signal(signal.SIGHUP)
    wait_for(lambda: "reload of" in p.log())
    assert r.cmd("NOOP")[0] == 250
    p.stop()


def test_acknowledged_messages_are_delivered_across_sigkills_while_delivering(tmp_path):
    """The same crash loop with the queue runner delivering: files are recycled after
    delivery and spares are taken while Postern is killed. Every acknowledged message
    reaches the sink byte-exact (at least once), nothing is left in the queue, and no
    file is ever mistaken for a corrupt one."""
    sink = SmtpSink(tmp_path / "sink").start()
    p = Postern(tmp_path, overrides={
        "queue": {"paused": False, "retry_min": "1s", "retry_max": "1s"},
        "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port}}).start()
    acked = []
    rnd = random.Random(11)
    for cycle in range(3):
        kill_while_sending(p, acked, 100 + cycle * 10, rnd.uniform(0.3, 0.8))
    wait_for(lambda: p.queue_files() == [], timeout=60,
             what="the queue to drain:\n" + p.log()[-3000:])
    p.stop()
    sink.stop()
    assert len(acked) > 20, "too few messages got through to test anything"
    delivered = {hashlib.sha256(strip_received(m.data)).hexdigest() for m in sink.messages()}
    lost = [qid for qid, digest in acked if digest not in delivered]
    assert lost == [], "acknowledged but never delivered: %s" % lost
    assert "corrupt" not in p.log()
    assert p.tmp_files() == []
