"""Webhooks (webhooks/) end to end: tests/helpers/whsend against webhook_receiver.Receiver.

whsend runs the webhooks layer on a libevent loop with a config written here (short retry
schedules, a private outbox directory), raises the events given on its command line and
exits once every event is delivered, failed or parked (or at its deadline). The receiver
records every request and checks its Standard Webhooks signature. Covered: signature and
payload shape, retries (503 twice then 200, receiver down then back, a hanging receiver),
kill -9 with an event pending then delivery after the restart from the outbox, 410
disabling an endpoint (and a reload enabling it again), schedule exhaustion into failed/,
HTTPS with the test CA by IP and by name (SNI), wrong names refused, per-endpoint event
filters, max_pending and the share kept for the other types, local coalescing (dropped,
or counted and sent as one event when the window ends), the posternctl functions (list, test event picked up by a
running process), an unwritable outbox, config errors, and a valgrind run.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import free_port, helper_path, wait_for
from dns_zone import DnsZone
from webhook_receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
RUN_TIMEOUT = 60
FAST_SCHEDULE = ["200ms", "200ms", "200ms"]
EVENT_ID_RE = re.compile(r"^evt_[0-9A-HJKMNP-TV-Z]{26}$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WRONG_LOOPBACK = "127.0.0.2"   # on lo, but not in the test certificate


def endpoint(name, url, events=("*",), secret=SECRET, **extra):
    e = {"name": name, "url": url, "secret": secret, "events": list(events)}
    e.update(extra)
    return e


def write_config(tmp_path, endpoints, dns=None, name="webhooks.json", **settings):
    w = {"outbox_dir": str(tmp_path / "outbox"), "retry_schedule": FAST_SCHEDULE,
         "timeout": "2s", "rescan_interval": "200ms", "endpoints": endpoints}
    w.update(settings)
    conf = {"webhooks": w}
    if dns is not None:
        conf["dns"] = {"servers": [dns], "timeout": "500ms", "tries": 1}
    path = tmp_path / name
    path.write_text(json.dumps(conf, indent=1))
    return str(path)


class Run:
    """What whsend printed: summary and per-endpoint numbers, and its log (stderr)."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.log = stderr
        self.summary = {}
        self.endpoints = {}
        for line in stdout.splitlines():
            words = line.split()
            if words and words[0] == "summary":
                self.summary = {k: int(v) for k, v in (w.split("=") for w in words[1:])}
            elif words and words[0] == "endpoint" and words[2].startswith("disabled="):
                self.endpoints[words[1]] = {k: int(v) for k, v in
                                            (w.split("=") for w in words[2:])}

    def __repr__(self):
        return "rc=%s\n%s\n%s" % (self.returncode, self.stdout, self.log)


def whsend_cmd(config, *args):
    return [helper_path("whsend"), "--config", config] + [str(a) for a in args]


def whsend(config, *args, prefix=()):
    p = subprocess.run(list(prefix) + whsend_cmd(config, *args), capture_output=True,
                       text=True, timeout=RUN_TIMEOUT)
    return Run(p.returncode, p.stdout, p.stderr)


def whsend_background(tmp_path, config, *args):
    """Start whsend with its log in a file; returns (process, log path)."""
    log = tmp_path / ("whsend-%d.log" % time.monotonic_ns())
    with open(log, "w") as f:
        proc = subprocess.Popen(whsend_cmd(config, *args), stdout=subprocess.PIPE,
                                stderr=f, text=True)
    return proc, log


def finish(proc, log):
    out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    return Run(proc.returncode, out, log.read_text())


def outbox_files(tmp_path, sub=""):
    d = tmp_path / "outbox" / sub
    return sorted(n for n in os.listdir(d) if n.endswith(".json")) if d.is_dir() else []


@pytest.fixture
def receiver():
    r = Receiver(secret=SECRET).start()
    yield r
    r.stop()


def test_event_is_signed_and_shaped_as_documented(tmp_path, receiver):
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)])
    run = whsend(cfg, "--emit", 'sender.rate_limited={"login":"alice","class":"default",'
                 '"limit":60,"window_s":300,"client_ip":"192.0.2.7"}')
    assert run.returncode == 0, run
    assert run.summary["delivered"] == 1 and run.summary["retries"] == 0, run
    (req,) = receiver.requests
    assert req.method == "POST" and req.path == "/hook"
    assert req.signature_ok, req.signature_error
    h = req.headers
    assert h["content-type"] == "application/json"
    assert h["user-agent"] == "postern/0.1"
    assert h["host"] == "127.0.0.1:%d" % receiver.port
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 60
    body = req.json
    assert list(body) == ["type", "timestamp", "id", "data"]
    assert body["type"] == "sender.rate_limited"
    assert EVENT_ID_RE.match(body["id"]) and h["webhook-id"] == body["id"]
    assert TIMESTAMP_RE.match(body["timestamp"])
    assert body["data"] == {"login": "alice", "class": "default", "limit": 60,
                            "window_s": 300, "client_ip": "192.0.2.7"}
    assert "status=sent (HTTP 200)" in run.log
    assert outbox_files(tmp_path) == [] and outbox_files(tmp_path, "failed") == []


def test_503_twice_then_200_is_delivered_on_the_third_try(tmp_path, receiver):
    receiver.respond(503, 503)
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)])
    run = whsend(cfg, "--emit", 'message.bounced={"queue_id":"3Pt2mN2VXxznjll"}')
    assert run.returncode == 0, run
    assert run.summary["delivered"] == 1 and run.summary["retries"] == 2, run
    reqs = receiver.requests
    assert [r.status for r in reqs] == [503, 503, 200]
    assert len({r.headers["webhook-id"] for r in reqs}) == 1, "the id is stable"
    assert len({r.body for r in reqs}) == 1, "the body is stable"
    assert all(r.signature_ok for r in reqs)
    gaps = [b.received_at - a.received_at for a, b in zip(reqs, reqs[1:])]
    assert all(g > 0.15 for g in gaps), gaps   # the 200 ms (+-10%) backoff was waited out
    assert run.log.count("status=deferred (HTTP 503)") == 2


def test_retry_after_of_a_503_or_429_makes_the_wait_longer(tmp_path, receiver):
    """The schedule says 200 ms; the receiver asks for 1 s (503) and then 2 s (429, as an
    HTTP date): Postern waits that long. A Retry-After never shortens the schedule."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3))
    receiver.respond((503, {"Retry-After": "1"}), (429, {"Retry-After": date}))
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)])
    run = whsend(cfg, "--emit", 'message.bounced={"queue_id":"3Pt2mN2VXxznjll"}')
    assert run.returncode == 0, run
    reqs = receiver.requests
    assert [r.status for r in reqs] == [503, 429, 200]
    assert reqs[1].received_at - reqs[0].received_at >= 0.9  # asked 1 s, not the 200 ms
    assert reqs[2].received_at - reqs[0].received_at >= 1.9  # the date: whole seconds, >= 2 s on
    assert "status=deferred (HTTP 503, Retry-After 1s), next attempt in 1s" in run.log
    assert "status=deferred (HTTP 429, Retry-After " in run.log


def test_receiver_down_then_back_gets_the_event(tmp_path):
    port = free_port()
    cfg = write_config(tmp_path, [endpoint("ops", "http://127.0.0.1:%d/hook" % port)],
                       retry_schedule=["300ms", "300ms", "300ms", "1s", "1s", "2s"])
    proc, log = whsend_background(tmp_path, cfg, "--emit", 'redis.unavailable={}')
    wait_for(lambda: "status=deferred" in log.read_text(), what="a failed first attempt")
    # the outbox write runs on the worker pool and may land just after the first attempt
    wait_for(lambda: outbox_files(tmp_path), what="the pending event in the outbox")
    r = Receiver(secret=SECRET, port=port).start()
    try:
        run = finish(proc, log)
    finally:
        r.stop()
    assert run.returncode == 0, run
    assert run.summary["delivered"] == 1, run
    assert [q.json["type"] for q in r.requests] == ["redis.unavailable"]
    assert "status=deferred (connection refused, unreachable or closed" in run.log


def test_event_pending_at_kill_9_is_sent_after_restart(tmp_path, receiver):
    receiver.respond("hang")                     # the first attempt never gets an answer
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)], timeout="30s")
    proc, log = whsend_background(tmp_path, cfg, "--emit", 'queue.stuck={"age_s":4000}')
    receiver.wait_for(1)
    wait_for(lambda: len(outbox_files(tmp_path)) == 1, what="the outbox file")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=RUN_TIMEOUT)
    (pending,) = outbox_files(tmp_path)
    event_id = receiver.requests[0].headers["webhook-id"]
    assert pending == event_id + ".ops.json"

    run = whsend(cfg, "--no-emit")
    assert run.returncode == 0, run
    assert run.summary["delivered"] == 1 and run.summary["emitted"] == 0, run
    assert "1 pending events loaded" in run.log
    second = receiver.requests[1]
    assert second.headers["webhook-id"] == event_id and second.signature_ok
    assert second.body == receiver.requests[0].body
    assert outbox_files(tmp_path) == []


def test_410_disables_the_endpoint_and_keeps_its_events(tmp_path, receiver):
    gone = Receiver(secret=SECRET).start()
    gone.default_status = 410
    try:
        cfg = write_config(tmp_path, [endpoint("gone", gone.url, concurrency=1),
                                      endpoint("ok", receiver.url)])
        emits = []
        for i in range(3):
            emits += ["--emit", 'message.rejected={"n":%d}' % i]
        # run to the deadline: no further attempt may reach the disabled endpoint
        run = whsend(cfg, "--deadline", 1500, "--wait-delivered", 99, *emits)
        assert run.summary["deadline"] == 1, run
        assert len(gone.requests) == 1, gone.requests
        assert len(receiver.requests) == 3
        assert run.endpoints["gone"]["disabled"] == 1
        assert run.endpoints["gone"]["parked"] == 3 and run.summary["failed"] == 0, run
        assert "answered HTTP 410 Gone: disabled until reload" in run.log
        assert len([f for f in outbox_files(tmp_path) if f.endswith(".gone.json")]) == 3
        listing = whsend(cfg, "--list")
        assert re.search(r"^endpoint gone url=http://127\.0\.0\.1:\d+/\S* enabled=yes events=\* "
                         r"pending=3 failed=0$", listing.stdout, re.M), listing
        # the next start (or a reload) sends them
        gone.default_status = 200
        run = whsend(cfg, "--no-emit")
        assert run.summary["delivered"] == 3, run
        assert len(gone.requests) == 4
        assert outbox_files(tmp_path) == []
    finally:
        gone.stop()


def test_reload_enables_a_disabled_endpoint_again(tmp_path, receiver):
    receiver.default_status = 410
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)])
    proc, log = whsend_background(tmp_path, cfg, "--reload-after", 800,
                                  "--wait-delivered", 1, "--emit", "auth.bruteforce={}")
    receiver.wait_for(1)
    receiver.default_status = 200
    run = finish(proc, log)
    assert run.returncode == 0, run
    assert "reload rc=0" in run.stdout
    assert [r.status for r in receiver.requests] == [410, 200]
    assert run.summary["delivered"] == 1


def test_exhausted_schedule_moves_the_event_to_failed(tmp_path, receiver):
    receiver.default_status = 500
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)],
                       retry_schedule=["100ms", "100ms"])
    run = whsend(cfg, "--emit", "message.deferred={}")
    assert run.returncode == 0, run
    assert run.summary["failed"] == 1 and run.summary["delivered"] == 0, run
    assert len(receiver.requests) == 3
    assert "attempt=3 status=failed (HTTP 500): retry schedule exhausted" in run.log
    assert outbox_files(tmp_path) == []
    (name,) = outbox_files(tmp_path, "failed")
    rec = json.loads((tmp_path / "outbox" / "failed" / name).read_text())
    assert rec["attempts"] == 3 and rec["last_error"] == "HTTP 500"
    assert rec["event"]["type"] == "message.deferred"
    listing = whsend(cfg, "--list", "--json")
    (ep,) = json.loads(listing.stdout)["endpoints"]
    assert ep["name"] == "ops" and ep["failed"] == 1 and ep["pending"] == 0
    assert ep["url"] == receiver.url  # the whole endpoint, path included


def test_a_hanging_receiver_times_out_and_the_retry_succeeds(tmp_path, receiver):
    receiver.respond("hang")
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)], timeout="500ms",
                       retry_schedule=["100ms"])
    started = time.monotonic()
    run = whsend(cfg, "--emit", "redis.recovered={}")
    assert run.returncode == 0, run
    assert run.summary["delivered"] == 1 and run.summary["retries"] == 1, run
    assert "status=deferred (timeout after 500ms)" in run.log
    assert time.monotonic() - started < 5


def test_https_with_the_test_ca_by_ip_address(tmp_path, test_ca):
    r = Receiver(secret=SECRET, tls=(test_ca.cert, test_ca.key)).start()
    try:
        assert r.url.startswith("https://127.0.0.1:")
        cfg = write_config(tmp_path, [endpoint("tls", r.url)], ca_file=test_ca.ca_cert)
        run = whsend(cfg, "--emit", "webhook.test={}")
        assert run.returncode == 0 and run.summary["delivered"] == 1, run
        assert r.requests[0].signature_ok
        assert r.sni_names == [None], "no SNI for an IP address (RFC 6066)"
    finally:
        r.stop()


def test_https_to_a_wrong_ip_address_fails_verification(tmp_path, test_ca):
    r = Receiver(secret=SECRET, host=WRONG_LOOPBACK, tls=(test_ca.cert, test_ca.key))
    r.start()
    try:
        cfg = write_config(tmp_path, [endpoint("tls", r.url)], ca_file=test_ca.ca_cert,
                           retry_schedule=["100ms"])
        run = whsend(cfg, "--emit", "webhook.test={}")
        assert run.summary["delivered"] == 0 and run.summary["failed"] == 1, run
        assert r.requests == [] and r.tls_errors >= 1
        assert "certificate verify failed: IP address mismatch" in run.log
    finally:
        r.stop()


def test_https_without_the_ca_fails_verification(tmp_path, test_ca):
    r = Receiver(secret=SECRET, tls=(test_ca.cert, test_ca.key)).start()
    try:
        cfg = write_config(tmp_path, [endpoint("tls", r.url)], retry_schedule=[])
        run = whsend(cfg, "--emit", "webhook.test={}")
        assert run.summary["failed"] == 1 and r.requests == [], run
        assert "certificate verify failed" in run.log
    finally:
        r.stop()


def test_https_by_host_name_sends_sni_and_checks_the_name(tmp_path, test_ca):
    (tmp_path / "dns").mkdir()
    zone = DnsZone(tmp_path / "dns", records=[("localhost", "A", "127.0.0.1"),
                                               ("wrong.test", "A", "127.0.0.1")],
                   local_zones=("test", "localhost"))
    zone.start()
    r = Receiver(secret=SECRET, tls=(test_ca.cert, test_ca.key)).start()
    try:
        good = "https://localhost:%d/hook" % r.port
        bad = "https://wrong.test:%d/hook" % r.port
        cfg = write_config(tmp_path, [endpoint("good", good), endpoint("bad", bad)],
                           dns=zone.address, ca_file=test_ca.ca_cert, retry_schedule=[])
        run = whsend(cfg, "--emit", "webhook.test={}")
        assert run.endpoints["good"]["delivered"] == 1, run
        assert run.endpoints["bad"]["failed"] == 1, run
        assert "certificate verify failed: hostname mismatch" in run.log
        assert len(r.requests) == 1
        assert r.requests[0].headers["host"] == "localhost:%d" % r.port
        assert "localhost" in r.sni_names and "wrong.test" in r.sni_names
    finally:
        r.stop()
        zone.stop()


def test_each_endpoint_gets_only_the_types_it_asked_for(tmp_path, receiver):
    auth = Receiver(secret=OTHER_SECRET).start()
    msgs = Receiver(secret=SECRET).start()
    try:
        cfg = write_config(tmp_path, [
            endpoint("all", receiver.url),
            endpoint("auth", auth.url, events=["auth.*"], secret=OTHER_SECRET),
            endpoint("msgs", msgs.url, events=["message.rejected", "message.bounced"]),
            endpoint("off", receiver.url, enabled=False)])
        run = whsend(cfg, "--emit", "auth.bruteforce={}", "--emit", "message.rejected={}",
                     "--emit", "queue.stuck={}", "--emit", "message.deferred={}")
        assert run.returncode == 0 and run.summary["delivered"] == 6, run
        types = lambda r: sorted(e["type"] for e in r.events())  # noqa: E731
        assert types(receiver) == ["auth.bruteforce", "message.deferred",
                                   "message.rejected", "queue.stuck"]
        assert types(auth) == ["auth.bruteforce"]
        assert types(msgs) == ["message.rejected"]
        assert auth.requests[0].signature_ok, "signed with the endpoint's own secret"
        assert "off" not in run.endpoints
    finally:
        auth.stop()
        msgs.stop()


def test_a_burst_opens_at_most_concurrency_connections(tmp_path, receiver):
    receiver.delay = 0.2
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url, concurrency=2)])
    emits = []
    for i in range(6):
        emits += ["--emit", 'message.rejected={"n":%d}' % i]
    run = whsend(cfg, *emits)
    assert run.returncode == 0 and run.summary["delivered"] == 6, run
    assert receiver.max_concurrent == 2


def test_events_beyond_max_pending_are_refused_and_counted(tmp_path, receiver):
    receiver.default_status = "hang"
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url, concurrency=1,
                                           max_pending=2)], timeout="30s")
    emits = []
    for i in range(4):
        emits += ["--emit", 'message.rejected={"n":%d}' % i]
    run = whsend(cfg, "--deadline", 800, *emits)
    assert run.summary["refused"] == 2 and run.summary["pending"] == 2, run
    assert run.endpoints["ops"]["refused"] == 2
    assert run.log.count("(max_pending): not sent") == 1
    assert len(outbox_files(tmp_path)) == 2


def outbox_types(tmp_path):
    types = {}
    for name in outbox_files(tmp_path):
        with open(tmp_path / "outbox" / name) as f:
            t = json.load(f)["event"]["type"]
        types[t] = types.get(t, 0) + 1
    return types


def test_one_type_cannot_take_the_share_reserved_for_the_others(tmp_path, receiver):
    """A flood of one type (refused RCPTs) fills at most max_pending minus reserved_share:
    the alerts that matter more still get in."""
    receiver.default_status = "hang"
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url, concurrency=1,
                                           max_pending=10, reserved_share=20)],
                       timeout="30s")
    emits = []
    for i in range(12):
        emits += ["--emit", 'message.rejected={"n":%d}' % i]
    emits += ["--emit", 'backup.primary_down={"domain":"backup.test"}',
              "--emit", 'queue.stuck={"queue_size":1}']
    run = whsend(cfg, "--deadline", 800, *emits)
    assert run.summary["refused"] == 4 and run.summary["pending"] == 10, run
    assert outbox_types(tmp_path) == {"message.rejected": 8, "backup.primary_down": 1,
                                      "queue.stuck": 1}
    assert run.log.count("events already pending (of this type: the rest is "
                         "reserved_share): not sent") == 1


def test_coalesced_type_is_counted_and_sent_when_the_window_ends(tmp_path, receiver):
    """message.rejected is coalesced by client address and stage: the first at once, the
    rest of the window as one event with its count and the times of the first and last."""
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)], coalesce_window="300ms")
    emits = []
    for i in range(5):
        emits += ["--emit", 'message.rejected={"client_ip":"192.0.2.7","stage":"rcpt",'
                            '"n":%d}' % i]
    emits += ["--emit", 'message.rejected={"client_ip":"192.0.2.7","stage":"mail","n":9}',
              "--emit", 'message.rejected={"client_ip":"192.0.2.8","stage":"rcpt","n":8}']
    run = whsend(cfg, "--wait-delivered", 4, *emits)
    assert run.returncode == 0 and run.summary["coalesced"] == 4, run
    got = sorted((e["data"]["client_ip"], e["data"]["stage"], e["data"]["n"],
                  e["data"]["count"]) for e in receiver.events())
    assert got == [("192.0.2.7", "mail", 9, 1), ("192.0.2.7", "rcpt", 0, 1),
                   ("192.0.2.7", "rcpt", 4, 4), ("192.0.2.8", "rcpt", 8, 1)]
    [summary] = [e["data"] for e in receiver.events() if e["data"]["count"] == 4]
    assert TIMESTAMP_RE.match(summary["first_seen"]) and \
        summary["first_seen"] <= summary["last_seen"]
    assert "type=message.rejected: 4 more in the coalescing window, sent as one" in run.log


def test_coalescing_sends_one_event_per_key_and_window(tmp_path, receiver):
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)])
    run = whsend(cfg, "--coalesce", "bob:60000", "--emit", 'sender.rate_limited={"n":1}',
                 "--coalesce", "bob:60000", "--emit", 'sender.rate_limited={"n":2}',
                 "--coalesce", "alice:60000", "--emit", 'sender.rate_limited={"n":3}')
    assert run.summary["coalesced"] == 1 and run.summary["delivered"] == 2, run
    assert sorted(e["data"]["n"] for e in receiver.events()) == [1, 3]


def test_posternctl_test_event_is_picked_up_by_a_running_process(tmp_path, receiver):
    other = Receiver(secret=SECRET).start()
    try:
        cfg = write_config(tmp_path, [endpoint("ops", receiver.url, events=["queue.*"]),
                                      endpoint("other", other.url)])
        proc, log = whsend_background(tmp_path, cfg, "--no-emit", "--wait-delivered", 1,
                                      "--deadline", 10000)
        wait_for(lambda: "pending events loaded" in log.read_text(), what="outbox load")
        test = whsend(cfg, "--test", "ops")
        assert test.returncode == 0, test
        assert re.match(r"^evt_\w{26} queued for 1 endpoint$", test.stdout), test
        run = finish(proc, log)
        assert run.returncode == 0, run
        (ev,) = receiver.events()
        assert ev["type"] == "webhook.test" and ev["data"]["endpoint"] == "ops"
        assert ev["id"] == test.stdout.split()[0]
        assert other.requests == []
        assert "picked up from the outbox" in run.log
        assert whsend(cfg, "--test", "nope").returncode == 2
    finally:
        other.stop()


def test_unwritable_outbox_keeps_the_event_in_memory(tmp_path, receiver):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    receiver.respond(503)
    cfg = write_config(tmp_path, [endpoint("ops", receiver.url)],
                       outbox_dir=str(blocker / "outbox"))
    run = whsend(cfg, "--emit", "redis.unavailable={}")
    assert run.returncode == 0, run
    assert run.summary["delivered"] == 1 and run.summary["disk_errors"] >= 1, run
    assert "events are kept in memory only" in run.log
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("bad, message", [
    ({"secret": "whsec_short"}, "/webhooks/endpoints/0: secret: "),
    ({"secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "does not start with"),
    ({"url": "ftp://127.0.0.1/x"}, "url: \"ftp://127.0.0.1/x\": the scheme must be"),
    ({"events": ["message.exploded"]}, "unknown event type \"message.exploded\""),
    ({"name": "has space"}, "name: \"has space\" must be"),
])
def test_config_errors_are_reported_with_their_place(tmp_path, bad, message):
    e = endpoint("ops", "http://127.0.0.1:9/hook")
    e.update(bad)
    run = whsend(write_config(tmp_path, [e]), "--no-emit")
    assert run.returncode == 2 and message in run.log, run


def test_duplicate_endpoint_names_and_bad_schedules_are_refused(tmp_path):
    e = endpoint("ops", "http://127.0.0.1:9/hook")
    run = whsend(write_config(tmp_path, [e, dict(e)], retry_schedule=["5s", "soon"]),
                 "--no-emit")
    assert run.returncode == 2
    assert "the name \"ops\" is used twice" in run.log
    assert "retry_schedule: \"soon\" is not a duration" in run.log


def test_no_leaks_under_valgrind(tmp_path, receiver, test_ca):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    if "asan" in os.path.basename(os.environ.get("POSTERN_BUILD", "")):
        pytest.skip("valgrind cannot run an AddressSanitizer build (ASan checks it instead)")
    tls = Receiver(secret=SECRET, tls=(test_ca.cert, test_ca.key)).start()
    try:
        receiver.respond(503)
        cfg = write_config(tmp_path, [endpoint("ops", receiver.url),
                                      endpoint("tls", tls.url, events=["auth.*"])],
                           ca_file=test_ca.ca_cert)
        run = whsend(cfg, "--coalesce", "k:1000", "--emit", "auth.bruteforce={}",
                     "--coalesce", "k:1000", "--emit", "auth.bruteforce={}",
                     "--emit", "queue.stuck={}",
                     prefix=["valgrind", "--error-exitcode=99", "--leak-check=full",
                             "--errors-for-leak-kinds=definite", "-q"])
        assert run.returncode == 0, run
        assert run.summary["delivered"] == 3, run
    finally:
        tls.stop()
