"""The admin HTTP listener: /metrics (Prometheus text), /livez, /readyz, the bearer token.

A scripted run (delivered, deferred, refused at RCPT, a connection refused by the listener's
limit) must leave exactly the expected counter values; the text is checked by a strict
parser of the Prometheus exposition format (Debian's prometheus package, for promtool, is
~100 MB: too big for CI). /readyz follows Redis when the config needs it.
"""
import math
import os
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, RedisServer, free_port, wait_for
from postern import Postern, Raw, deep_merge, queued_id, send_raw_message
from smtp_sink import SmtpSink

TOKEN = "s3cret-token-for-tests-0123456789"
NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}

_started = []


@pytest.fixture(autouse=True)
def _no_leftover_daemons():
    yield
    while _started:
        p = _started.pop()
        if p.proc is not None and p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def get(port, path, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def parse_prometheus(text):
    """Strict parse of the text format 0.0.4; returns {(name, frozenset(labels)): value}."""
    assert text.endswith("\n")
    samples, typed, helped, seen_families, current = {}, {}, set(), [], None
    for line in text[:-1].split("\n"):
        assert line, "empty line"
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert NAME.match(name) and name not in helped, line
            assert re.fullmatch(r"(?:[^\\]|\\[\\n])*", help_text), line
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            name, typ = line[7:].split(" ")
            assert NAME.match(name) and name not in typed and typ in TYPES, line
            typed[name] = typ
            assert name not in seen_families, "family %s split" % name
            seen_families.append(name)
            current = name
            continue
        assert not line.startswith("#"), line
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        assert m, "bad sample line %r" % line
        name, labels_text, value = m.groups()
        family = current
        suffix = name[len(family):] if name.startswith(family) else None
        if typed[family] == "histogram":
            assert suffix in ("_bucket", "_sum", "_count"), line
        else:
            assert suffix == "", "sample %s outside its family %s" % (name, family)
        labels = {}
        rest = labels_text or ""
        while rest:
            lm = LABEL.match(rest)
            assert lm, "bad labels in %r" % line
            assert lm.group(1) not in labels
            labels[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        v = float(value)  # also accepts +Inf, NaN
        key = (name, frozenset(labels.items()))
        assert key not in samples, "duplicate series %r" % line
        samples[key] = v
    for name, typ in typed.items():
        assert name.startswith("postern_"), name
        assert name in helped, name
        if typ == "counter":
            assert name.endswith("_total"), name
    for (name, labels), v in samples.items():
        if name.endswith("_bucket") and typed.get(name[:-7]) == "histogram":
            base = name[:-7]
            rest = frozenset(x for x in labels if x[0] != "le")
            assert samples[(base + "_count", rest)] == samples[(base + "_bucket",
                                                               rest | {("le", "+Inf")})]
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def start(tmp_path, overrides, ca=None, name="postern"):
    p = Postern(tmp_path, ca, overrides, name=name)
    _started.append(p)
    return p.start()


def check_config(tmp_path, admin_http):
    p = Postern(tmp_path, None, {"admin": {"http": admin_http}}, name="check")
    return subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                          capture_output=True, text=True)


def test_non_loopback_address_needs_a_token(tmp_path):
    r = check_config(tmp_path, {"address": "0.0.0.0:%d" % free_port()})
    assert r.returncode == 78
    assert "/admin/http/token" in r.stderr and "needs a bearer token or client_ca" in r.stderr
    r = check_config(tmp_path, {"address": "0.0.0.0:8026", "token": "short"})
    assert r.returncode == 78 and "at least 16 characters" in r.stderr
    r = check_config(tmp_path, {"address": "bad"})
    assert r.returncode == 78 and "/admin/http/address" in r.stderr
    assert check_config(tmp_path, {"address": "0.0.0.0:8026", "token": TOKEN}).returncode == 0
    assert check_config(tmp_path, {"address": "[::1]:8026"}).returncode == 0
    assert check_config(tmp_path, {"address": "127.0.0.2:8026"}).returncode == 0


def test_the_token_is_enforced(tmp_path):
    port = free_port()
    start(tmp_path, {"admin": {"http": {"address": "127.0.0.1:%d" % port, "token": TOKEN}}})
    for path in ("/metrics", "/livez", "/readyz"):
        code, headers, _ = get(port, path)
        assert code == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert get(port, path, token=TOKEN + "x")[0] == 401
        assert get(port, path, token=TOKEN)[0] == 200
    assert get(port, "/nothing", token=TOKEN)[0] == 404


def test_counters_after_a_scripted_run(tmp_path):
    sink = SmtpSink(tmp_path / "sink",
                    rcpt_replies={"later@remote.test": "451 4.3.0 try again later"}).start()
    try:
        port, mx = free_port(), free_port()
        p = start(tmp_path, {
            "relay": {"trusted_networks": ["127.0.0.1/32"]},
            "queue": {"paused": False, "retry_min": "10m", "retry_max": "1h"},
            "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port},
            "listeners": [{"name": "mx", "address": "127.0.0.1:%d" % mx,
                           "profile": "inbound", "connections": 1}],
            "admin": {"http": {"address": "127.0.0.1:%d" % port}},
        })
        code, headers, body = get(port, "/livez")
        assert (code, body) == (200, "ok\n")
        assert get(port, "/readyz")[:3:2] == (200, "ready\n")

        def session(rcpts, expect_rcpt=250):
            # one slot on the listener: the previous session must be gone
            n = p.log().count("disconnect from")
            r = Raw(mx)
            try:
                assert r.reply()[0] == 220
                if expect_rcpt == 250:
                    c, lines = send_raw_message(r, rcpts=rcpts)
                    assert c == 250
                    qid = queued_id(lines)
                else:
                    assert r.cmd("EHLO client.example")[0] == 250
                    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
                    assert r.cmd("RCPT TO:<%s>" % rcpts[0])[0] // 100 == expect_rcpt // 100
                    qid = None
                assert r.cmd("QUIT")[0] == 221
                r.closed()
                wait_for(lambda: p.log().count("disconnect from") > n, what="session end")
                return qid
            finally:
                r.close()

        session(["ok@remote.test"])                          # delivered
        session(["later@remote.test"])                       # deferred (451 at the sink)
        session(["x@@elsewhere.test"], expect_rcpt=500)      # refused: bad address
        wait_for(lambda: p.log().count("disconnect from") >= 4, what="sessions ended")
        holder = Raw(mx)                                 # takes the listener's one slot
        assert holder.reply()[0] == 220
        extra = Raw(mx)
        assert extra.reply()[0] == 421                       # refused: listener limit
        extra.close()
        holder.cmd("QUIT")
        holder.close()
        sink.wait_messages(1)
        wait_for(lambda: "status=deferred" in p.log() and "status=sent" in p.log(),
                 what="both delivery results")
        wait_for(lambda: p.log().count("disconnect from") >= 6, what="sessions ended")

        code, headers, body = get(port, "/metrics")
        assert code == 200
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        s = parse_prometheus(body)
        # the start-up probe, three sessions, the holder and the refused one
        assert value(s, "postern_connections_total", listener="mx") == 6
        assert value(s, "postern_connections_refused_total", listener="mx",
                     reason="listener_connections") == 1
        assert value(s, "postern_connections_open", listener="mx") == 0
        assert value(s, "postern_messages_accepted_total") == 2
        assert value(s, "postern_delivery_results_total", result="delivered") == 1
        assert value(s, "postern_delivery_results_total", result="deferred") == 1
        assert value(s, "postern_delivery_results_total", result="bounced") is None
        # replies by class and stage: 220 x5 (probe, 3 sessions, holder), EHLO x3, MAIL x3,
        # RCPT x2, end x2, 221 x4; 354 x2; 421 x1 (the refused connection); 5xx x1 (bad
        # address); nothing else
        replies = {("2xx", "connect"): 5, ("2xx", "helo"): 3, ("2xx", "mail"): 3,
                   ("2xx", "rcpt"): 2, ("2xx", "end"): 2, ("2xx", "other"): 4,
                   ("3xx", "data"): 2, ("4xx", "connect"): 1, ("5xx", "rcpt"): 1}
        got = {(dict(labels)["class"], dict(labels)["stage"]): v
               for (name, labels), v in s.items() if name == "postern_smtp_replies_total"}
        assert got == replies
        assert sum(v for (c, _), v in got.items() if c == "2xx") == 19
        assert value(s, "postern_queue_messages") == 1
        assert 0 <= value(s, "postern_queue_oldest_message_age_seconds") < 60
        assert value(s, "postern_redis_requests_total") == 0
        assert value(s, "postern_webhook_outbox_pending") == 0
        assert value(s, "postern_workpool_jobs", pool="workers") is not None
        # group commit: the two messages came one after the other, one fsync each
        assert value(s, "postern_spool_fsync_batch_messages_count") == 2
        assert value(s, "postern_spool_fsync_batch_messages_sum") == 2
        assert value(s, "postern_spool_fsync_batch_messages_bucket", le="1") == 2
        assert value(s, "postern_spool_fsync_batch_duration_seconds_count") == 2
        # routes to an IP and no DNS check in this profile: no lookup at all
        assert value(s, "postern_dns_cache_lookups_total", result="hit") == 0
        assert value(s, "postern_dns_cache_lookups_total", result="miss") == 0
        # relay_access: one call per RCPT stage it runs at
        assert value(s, "postern_policy_check_duration_seconds_count", check="relay_access") == 2
        assert value(s, "postern_virus_found_total") == 0
        assert value(s, "postern_greylist_results_total", result="greylisted") is None
        assert get(port, "/metrics", token=None)[0] == 200
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, method="POST",
                                     data=b"x")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 405
        assert p.stop() == 0        # a clean stop (and no sanitizer report)
    finally:
        sink.stop()


def test_greylisting_counters(tmp_path, redis_server):
    port = free_port()
    p = start(tmp_path, {
        "redis": {"socket": redis_server.socket},
        "domains": {"example.test": {"greylisting": True, "greylist_delay": "1s"}},
        "admin": {"http": {"address": "127.0.0.1:%d" % port}},
    })

    def rcpt():
        r = Raw(p.port)
        try:
            r.reply()
            r.cmd("EHLO client.example")
            assert r.cmd("MAIL FROM:<alice@sender.example>")[0] == 250
            return r.cmd("RCPT TO:<bob@example.test>")[0]
        finally:
            r.close()

    assert rcpt() == 451            # greylisted
    assert rcpt() == 451            # too early
    time.sleep(1.2)
    assert rcpt() == 250            # the retry after the delay
    assert rcpt() == 250            # known now
    s = parse_prometheus(get(port, "/metrics")[2])
    assert value(s, "postern_greylist_results_total", result="greylisted") == 2
    assert value(s, "postern_greylist_results_total", result="passed") == 1
    assert value(s, "postern_greylist_results_total", result="known") == 1
    assert value(s, "postern_greylist_results_total", result="unavailable") is None
    assert value(s, "postern_policy_check_duration_seconds_count", check="greylist") == 4
    assert value(s, "postern_redis_requests_total") >= 4
    p.stop()


def test_readyz_follows_redis(tmp_path, test_ca):
    rdir = tmp_path / "redis"
    rdir.mkdir()
    redis = RedisServer(str(rdir)).start()
    try:
        port = free_port()
        start(tmp_path, {"redis": {"socket": redis.socket, "timeout": "250ms"},
                         "admin": {"http": {"address": "127.0.0.1:%d" % port}}}, ca=test_ca)
        wait_for(lambda: get(port, "/readyz")[0] == 200, what="ready")
        redis.stop()
        wait_for(lambda: get(port, "/readyz")[0] == 503, what="not ready", timeout=15)
        code, _, body = get(port, "/readyz")
        assert body.startswith("not ready: Redis at ") and "unreachable" in body
        assert get(port, "/livez")[0] == 200
        redis.start()
        wait_for(lambda: get(port, "/readyz")[0] == 200, what="ready again", timeout=15)
        s = parse_prometheus(get(port, "/metrics")[2])
        # every answered request is in the latency histogram (its _count)
        answered = value(s, "postern_redis_request_duration_seconds_count")
        assert answered is not None and answered <= value(s, "postern_redis_requests_total")
    finally:
        redis.stop()


def client_cert(ca, directory, cn="admin"):
    """A client certificate signed by the test CA: (cert, key) paths."""
    key, csr, cert = (os.path.join(directory, cn + x) for x in (".key", ".csr", ".pem"))
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca.ca_cert, "-CAkey",
                    ca.ca_key, "-CAcreateserial", "-out", cert, "-days", "1"],
                   check=True, capture_output=True)
    return cert, key


def https_get(port, path, ca, cert=None):
    ctx = ssl.create_default_context(cafile=ca.ca_cert)
    if cert:
        ctx.load_cert_chain(*cert)
    with urllib.request.urlopen("https://127.0.0.1:%d%s" % (port, path), context=ctx,
                                timeout=5) as r:
        return r.status, r.read().decode()


def test_https_and_client_certificates(tmp_path, test_ca):
    tls = {"cert": test_ca.cert, "key": test_ca.key}
    port = free_port()
    start(tmp_path, {"tls": tls, "admin": {"http": {"address": "127.0.0.1:%d" % port,
                                                    "tls": True}}})
    assert https_get(port, "/livez", test_ca) == (200, "ok\n")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        get(port, "/livez")                      # plain HTTP on the HTTPS port
    # off loopback, a client CA stands in for the token
    r = check_config(tmp_path, {"address": "0.0.0.0:8026", "client_ca": test_ca.ca_cert})
    assert r.returncode == 0, r.stderr
    port2 = free_port()
    start(tmp_path, {"tls": tls, "admin": {"http": {"address": "127.0.0.1:%d" % port2,
                                                    "client_ca": test_ca.ca_cert}}},
          name="mtls")
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError, OSError)):
        https_get(port2, "/metrics", test_ca)    # no client certificate
    cert = client_cert(test_ca, str(tmp_path))
    code, body = https_get(port2, "/metrics", test_ca, cert=cert)
    assert code == 200 and "# TYPE postern_connections_total counter" in body
    parse_prometheus(body)
    for p in list(_started):
        assert p.stop() == 0


def test_tls_without_a_certificate_does_not_start(tmp_path):
    p = Postern(tmp_path, None, {"admin": {"http": {"address": "127.0.0.1:%d" % free_port(),
                                                     "tls": True}}})
    _started.append(p)
    p.start(wait=False)
    assert p.proc.wait(10) != 0
    assert "admin.http.tls needs tls.cert and tls.key" in p.log()
