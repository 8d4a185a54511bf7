"""posternctl status (an overview like smtpctl show status), pause and resume of delivery,
flush saying that delivery is paused, and webhooks retry (the outbox now, not on the retry
schedule)."""
import os
import re
import subprocess

from conftest import BUILD, wait_for
from postern import Postern, Raw, queued_id, send_raw_message
from smtp_sink import SmtpSink
from webhook_receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def ctl(p, *args):
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path] + list(args),
                          capture_output=True, text=True, timeout=30)


def send(p, rcpt="b@remote.test"):
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        code, lines = send_raw_message(r, rcpts=[rcpt], sender="a@example.org",
                                       data="Subject: x\r\n\r\nhello\r\n")
        assert code == 250, lines
        return queued_id(lines)
    finally:
        r.close()


def fields(text):
    """The "key: value" lines of the overview (the first of each key)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z]+): (.*)$", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def test_status_overview_pause_resume_and_flush_while_paused(tmp_path):
    sink = SmtpSink(tmp_path / "sink").start()
    try:
        p = Postern(tmp_path, overrides={
            "relay": {"trusted_networks": ["127.0.0.1/32"]},
            "queue": {"paused": False, "retry_min": "1h", "retry_max": "1h"},
            "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port},
        }).start()
        try:
            r = ctl(p, "status")
            assert r.returncode == 0, r.stderr
            f = fields(r.stdout)
            assert f["pid"] == str(p.proc.pid)
            assert f["config"] == p.config_path
            assert re.match(r"^\d+s \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$", f["uptime"])
            assert f["listener"] == "mx 127.0.0.1:%d (inbound)" % p.port
            assert f["queue"] == "0 messages (active 0, deferred 0, held 0, corrupt 0)"
            assert f["delivery"] == "running"
            assert f["redis"] == "not used by this configuration"
            assert f["webhooks"] == "no endpoints"
            assert "QUEUE ID" not in r.stdout

            r = ctl(p, "pause")
            assert r.returncode == 0 and "paused" in r.stdout, r.stderr
            wait_for(lambda: "delivery paused by the admin" in p.log(), what="pause logged")
            qid = send(p)
            r = ctl(p, "flush")
            assert r.returncode == 0
            assert "(delivery is paused: posternctl resume)" in r.stdout, r.stdout
            r = ctl(p, "status")
            f = fields(r.stdout)
            assert f["delivery"] == "paused (posternctl resume)"
            assert re.match(r"^1 message \(active 0, deferred 0, held 0, corrupt 0\), oldest "
                            r"\d+s$", f["queue"]), f["queue"]
            assert "QUEUE ID STATE TRIES NEXT_TRY" in r.stdout
            assert re.search(r"^%s idle 0 \d+$" % qid, r.stdout, re.M), r.stdout
            assert sink.messages() == [] and qid in p.queue_files()

            r = ctl(p, "resume")
            assert r.returncode == 0 and "delivery resumed" in r.stdout
            wait_for(lambda: qid not in p.queue_files(), what="delivery after resume")
            assert len(sink.messages()) == 1
            r = ctl(p, "flush")
            assert r.stdout.strip() == "0 messages scheduled for delivery"
        finally:
            p.stop()
    finally:
        sink.stop()


def test_status_counts_deferred_held_and_corrupt_and_config_pause(tmp_path):
    p = Postern(tmp_path).start()   # the harness's queue.paused: true
    try:
        one, two = send(p, "b@example.test"), send(p, "c@example.test")
        assert ctl(p, "hold", one).returncode == 0
        os.makedirs(os.path.join(p.spool, "corrupt"), exist_ok=True)
        with open(os.path.join(p.spool, "corrupt", "5BWGAAAAAAAAAAAA"), "w") as f:
            f.write("junk")
        f = fields(ctl(p, "status").stdout)
        assert f["queue"].startswith("2 messages (active 0, deferred 0, held 1, corrupt 1)")
        assert f["delivery"] == "paused (queue.paused in the configuration)"
        r = ctl(p, "resume")
        assert r.returncode == 0 and "queue.paused is true" in r.stdout
        r = ctl(p, "flush", two)
        assert "paused by queue.paused" in r.stdout
    finally:
        p.stop()


def test_status_shows_redis_and_webhook_backlog(tmp_path, redis_server):
    p = Postern(tmp_path, overrides={
        "redis": {"socket": redis_server.socket},
        "webhooks": {"outbox_dir": str(tmp_path / "outbox"),
                     "endpoints": [{"name": "ops", "url": "http://127.0.0.1:9/hooks/x",
                                    "secret": SECRET, "events": ["*"]}]},
        "domains": {"example.test": {"greylisting": True}},
    }).start()
    try:
        f = fields(ctl(p, "status").stdout)
        assert f["redis"] == "up (unix:%s)" % redis_server.socket
        assert re.match(r"^1 endpoint, \d+ pending, 0 delivered, 0 failed, 0 refused$",
                        f["webhooks"]), f["webhooks"]
        redis_server.stop()
        wait_for(lambda: fields(ctl(p, "status").stdout)["redis"].startswith("DOWN for "),
                 what="redis down in status")
    finally:
        p.stop()


def test_webhooks_retry_sends_the_outbox_now(tmp_path):
    rcv = Receiver(secret=SECRET).start()
    rcv.fail(1)   # the first attempt fails: the next is an hour away
    p = Postern(tmp_path, overrides={
        "webhooks": {"outbox_dir": str(tmp_path / "outbox"), "retry_schedule": ["1h"],
                     "rescan_interval": "1h",
                     "endpoints": [{"name": "ops", "url": rcv.url, "secret": SECRET,
                                    "events": ["*"]}]},
    }).start()
    try:
        r = ctl(p, "webhooks")
        # the endpoint with its path, not only the origin
        assert "url=%s" % rcv.url in r.stdout and rcv.url.endswith(rcv.path), r.stdout
        assert ctl(p, "webhooks", "test", "ops").returncode == 0
        # the daemon would look at new/ only after rescan_interval: retry looks now
        r = ctl(p, "webhooks", "retry")
        assert r.returncode == 0 and "outbox rescanned" in r.stdout, r.stderr
        rcv.wait_for(1)
        wait_for(lambda: "status=deferred" in p.log(), what="first attempt deferred")
        r = ctl(p, "webhooks", "retry")
        assert r.returncode == 0 and r.stdout.startswith("1 webhook delivery sent now"), r.stdout
        rcv.wait_for(2)
        assert [e["type"] for e in rcv.events()] == ["webhook.test", "webhook.test"]
        wait_for(lambda: "attempt=2 status=sent" in p.log(), what="second attempt sent")
    finally:
        p.stop()
        rcv.stop()
