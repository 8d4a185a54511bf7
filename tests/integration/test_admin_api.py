"""The admin JSON API on the admin HTTP listener (/api/v1/, docs/api.md "Admin API"), the
same answers through posternctl --http, and posternctl falling back to the running
daemon's socket when the configuration file on disk is broken."""
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, free_port
from postern import Postern, Raw, queued_id, send_raw_message

TOKEN = "api-token-for-the-tests-0123456789"


@pytest.fixture
def node(tmp_path, redis_server, test_ca):
    port = free_port()
    p = Postern(tmp_path, test_ca, overrides={   # submission listeners: Redis is used
        "redis": {"socket": redis_server.socket},
        "admin": {"http": {"address": "127.0.0.1:%d" % port, "token": TOKEN}},
        "webhooks": {"outbox_dir": str(tmp_path / "outbox")},
    }).start()
    p.api_port = port
    yield p
    p.stop()


def call(p, method, path, body=None, token=TOKEN):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (p.api_port, path), data=data,
                                 method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def ctl(p, *args, config=None):
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", config or p.config_path]
                          + list(args), capture_output=True, text=True, timeout=30)


def send(p, rcpt="b@example.test"):
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        code, lines = send_raw_message(r, rcpts=[rcpt], sender="a@example.org",
                                       data="Subject: x\r\n\r\nhello\r\n")
        assert code == 250, lines
        return queued_id(lines)
    finally:
        r.close()


def test_status_and_queue_operations(node):
    code, st = call(node, "GET", "/api/v1/status")
    assert code == 200 and st["status"] == "ok", st
    assert st["data"]["pid"] == str(node.proc.pid)
    assert st["data"]["config"] == node.config_path
    assert st["data"]["delivery"] == "paused (queue.paused in the configuration)"
    assert st["data"]["redis"].startswith("up (")
    assert st["data"]["messages"] == []

    qid = send(node)
    code, q = call(node, "GET", "/api/v1/queue")
    assert code == 200 and [m["queue_id"] for m in q["data"]] == [qid]
    assert q["data"][0]["recipients"][0]["address"] == "b@example.test"
    code, one = call(node, "GET", "/api/v1/queue/" + qid)
    assert code == 200 and one["data"]["queue_id"] == qid and one["data"]["held"] is False
    assert call(node, "POST", "/api/v1/queue/%s/hold" % qid)[0] == 200
    assert call(node, "GET", "/api/v1/queue/" + qid)[1]["data"]["held"] is True
    assert call(node, "POST", "/api/v1/queue/%s/release" % qid)[0] == 200
    code, fl = call(node, "POST", "/api/v1/queue/flush", {"domain": "example.test"})
    assert code == 200 and "scheduled" in fl["text"] and "paused" in fl["text"], fl
    code, st = call(node, "GET", "/api/v1/status")
    assert [m["queue_id"] for m in st["data"]["messages"]] == [qid]
    code, d = call(node, "DELETE", "/api/v1/queue/" + qid)
    assert code == 200 and d["status"] == "ok", d
    code, gone = call(node, "GET", "/api/v1/queue/" + qid)
    assert code == 404 and gone["status"] == "error" and "no such message" in gone["text"]
    code, gone = call(node, "DELETE", "/api/v1/queue/" + qid)
    assert code == 404


def test_policy_ratelimit_greylist_and_webhooks(node):
    user = "alice@example.test"
    code, r = call(node, "PUT", "/api/v1/policy/%s/level" % user, {"value": "high"})
    assert code == 200, r
    code, r = call(node, "GET", "/api/v1/policy/" + user)
    assert code == 200 and "level high" in r["output"], r
    code, r = call(node, "PUT", "/api/v1/policy/%s/no_such_key" % user, {"value": "x"})
    assert code == 400 and r["status"] == "error" and r["text"], r
    assert call(node, "DELETE", "/api/v1/policy/%s/level" % user)[0] == 200
    assert "level" not in call(node, "GET", "/api/v1/policy/" + user)[1]["output"]

    code, r = call(node, "GET", "/api/v1/ratelimit/" + user)
    assert code == 200 and isinstance(r["data"], dict), r
    code, r = call(node, "DELETE", "/api/v1/ratelimit/" + user)
    assert code == 200 and "deleted" in r["output"], r

    code, r = call(node, "GET", "/api/v1/greylist/192.0.2.0%2F24")
    assert code == 200, r
    assert call(node, "POST", "/api/v1/greylist/192.0.2.7/allow")[0] == 200
    assert call(node, "DELETE", "/api/v1/greylist/192.0.2.7")[0] == 200
    code, r = call(node, "GET", "/api/v1/greylist/not-an-address")
    assert code == 400 and r["status"] == "error"

    code, r = call(node, "GET", "/api/v1/webhooks")
    assert code == 200 and r["data"]["endpoints"] == [], r
    code, r = call(node, "POST", "/api/v1/webhooks/retry")
    assert code == 200 and "sent now" in r["text"]

    code, r = call(node, "POST", "/api/v1/command", {"argv": ["ping"]})
    assert code == 200 and r["text"] == "pong"


def test_api_refusals(node):
    assert call(node, "GET", "/api/v1/status", token=None)[0] == 401
    assert call(node, "GET", "/api/v1/status", token="wrong-token-wrong-token")[0] == 401
    assert call(node, "GET", "/api/v1/nothing")[0] == 404
    assert call(node, "POST", "/api/v1/status")[0] == 405
    assert call(node, "POST", "/api/v1/command", {"argv": "ping"})[0] == 400
    assert call(node, "POST", "/api/v1/command", {"argv": ["nonsense"]})[0] == 400
    assert call(node, "PUT", "/api/v1/policy/a@example.test/level", {})[0] == 400
    assert call(node, "POST", "/api/v1/pause", None)[0] == 200
    assert call(node, "POST", "/api/v1/resume", None)[0] == 200


def test_posternctl_over_http_gives_the_same_answers(node):
    qid = send(node)
    local = ctl(node, "queue")
    remote = ctl(node, "--http", "http://127.0.0.1:%d" % node.api_port, "--token", TOKEN,
                 "queue")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout and qid in remote.stdout
    # the token from the configuration when none is given
    r = ctl(node, "--http", "http://127.0.0.1:%d" % node.api_port, "status")
    assert r.returncode == 0 and "pid: %d" % node.proc.pid in r.stdout, r.stderr
    r = ctl(node, "--http", "http://127.0.0.1:%d" % node.api_port, "--token", "x" * 20,
            "status")
    assert r.returncode == 77 and "401" in r.stderr
    r = ctl(node, "--http", "http://127.0.0.1:%d" % node.api_port, "delete", "5BWGAAAAAAAAAAAA")
    assert r.returncode == 1 and "no such message" in r.stderr


def test_posternctl_asks_the_daemon_when_the_config_file_is_broken(node, tmp_path):
    qid = send(node)
    with open(node.config_path) as f:
        good = f.read()
    broken = str(tmp_path / "broken.json")
    with open(broken, "w") as f:
        f.write(good.rstrip().rstrip("}") + ', "limits": {"recipients": "many"}}\n')
    r = ctl(node, "status", config=broken)
    assert r.returncode == 0, r.stderr
    assert "has errors" in r.stderr and "pid: %d" % node.proc.pid in r.stdout
    r = ctl(node, "queue", config=broken)
    assert r.returncode == 0 and qid in r.stdout, r.stderr
    r = ctl(node, "policy", "show", "bob@example.test", config=broken)
    assert r.returncode == 0, r.stderr
    # a syntax error: the spool is found by a plain search of the text
    with open(broken, "w") as f:
        f.write(good.replace("{", "{ oops", 1))
    r = ctl(node, "queue", config=broken)
    assert r.returncode == 0 and qid in r.stdout, r.stderr
    node.stop()
    r = ctl(node, "status", config=broken)
    assert r.returncode == 78 and "cannot reach the daemon" in r.stderr
