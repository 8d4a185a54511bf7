"""The quarantine in the admin JSON API (/api/v1/quarantine..., docs/api.md "Admin API"):
list with its filters and paging, show, the message as message/rfc822, release (with
learn_ham) and delete, their status codes, and the same answers through
`posternctl --http`; and two nodes sharing one Redis: an entry quarantined on node A is
listed and released through node B's API and delivered by A."""
import json
import os
import subprocess
import urllib.error
import urllib.request

from conftest import BUILD, free_port, wait_for
from test_quarantine import quarantining, sink, spam  # noqa: F401 (sink: a fixture)

TOKEN = "quarantine-api-token-0123456789"


def with_api(tmp_path, redis_server, sink, node="n1", name="postern", **kw):
    port = free_port()
    p = quarantining(tmp_path, redis_server, sink, name=name,
                     quar={"node": node}, extra={
                         "admin": {"http": {"address": "127.0.0.1:%d" % port,
                                            "token": TOKEN}}}, **kw)
    p.api_port = port
    return p


def api(p, method, path, body=None, token=TOKEN):
    """(status, headers, parsed JSON or the raw bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (p.api_port, path), data=data,
                                 method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=40) as r:
            code, headers, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        code, headers, raw = e.code, e.headers, e.read()
    if headers.get("Content-Type", "").startswith("application/json"):
        return code, headers, json.loads(raw.decode())
    return code, headers, raw


def listed(p, query=""):
    code, _, o = api(p, "GET", "/api/v1/quarantine" + query)
    assert code == 200 and o["status"] == "ok", o
    return [e["id"] for e in o["data"]]


def ctl_http(p, *args):
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path, "--http",
                           "http://127.0.0.1:%d" % p.api_port, "--token", TOKEN] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_quarantine_routes_list_show_message_release_delete(tmp_path, redis_server, sink):
    p = with_api(tmp_path, redis_server, sink).start()
    qid = spam(p, ["b@example.test", "c@example.test"], subject="API pills")
    b, c = qid + ".0", qid + ".1"
    wait_for(lambda: len(listed(p)) == 2, what="two entries")

    # list: filters and paging
    assert listed(p, "?recipient=b@example.test") == [b]
    assert listed(p, "?recipient=b%40example.test") == [b]       # percent-decoded
    assert listed(p, "?recipient=b+tag@example.test") == []      # '+' is a '+'
    assert sorted(listed(p, "?domain=example.test")) == [b, c]
    assert listed(p, "?domain=other.test") == []
    assert sorted(listed(p, "?reason=list")) == [b, c] and listed(p, "?reason=virus") == []
    first = listed(p, "?limit=1")
    second = listed(p, "?offset=1&limit=1")
    assert len(first) == 1 and len(second) == 1 and sorted(first + second) == [b, c]
    assert listed(p, "?offset=2") == []
    code, _, o = api(p, "GET", "/api/v1/quarantine")
    e = [x for x in o["data"] if x["id"] == b][0]
    assert e["rcpt"] == "b@example.test" and e["sender"] == "x@spam.example"
    assert e["subject"] == "API pills" and e["reason"] == "list" and e["node"] == "n1"
    for bad in ("?rcpt=b@example.test", "?limit=0", "?limit=x", "?offset=-1", "?limit",
                "?=1", "?recipient=",
                "?recipient=b@example.test&domain=example.test"):
        code, _, o = api(p, "GET", "/api/v1/quarantine" + bad)
        assert code == 400 and o["status"] == "error", (bad, o)

    # show and the message
    code, _, o = api(p, "GET", "/api/v1/quarantine/" + b)
    assert code == 200, o
    assert o["data"]["id"] == b and o["data"]["state"] == "quarantined"
    assert o["data"]["here"] is True and "Subject: API pills" in o["data"]["header"]
    code, h, raw = api(p, "GET", "/api/v1/quarantine/%s/message" % b)
    assert code == 200 and h["Content-Type"] == "message/rfc822", raw
    assert b"Subject: API pills" in raw and raw.endswith(b"hello\r\n")
    assert h["Content-Disposition"] == 'attachment; filename="%s.eml"' % b
    assert api(p, "GET", "/api/v1/quarantine/NoSuchEntry.0")[0] == 404
    assert api(p, "GET", "/api/v1/quarantine/NoSuchEntry.0/message")[0] == 404
    code, _, o = api(p, "GET", "/api/v1/quarantine/bad%21id")
    assert code == 400 and "not an entry ID" in o["text"], o
    assert api(p, "PUT", "/api/v1/quarantine/" + b)[0] == 405
    assert api(p, "GET", "/api/v1/quarantine", token=None)[0] == 401
    assert api(p, "POST", "/api/v1/quarantine/%s/release" % b, token="x" * 20)[0] == 401

    # posternctl --http gives the same listing
    r = ctl_http(p, "quarantine", "list", "--json", "--recipient", "c@example.test")
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [c]

    # release (learn_ham must be a boolean), then twice: 409
    code, _, o = api(p, "POST", "/api/v1/quarantine/%s/release" % b, {"learn_ham": "yes"})
    assert code == 400, o
    code, _, o = api(p, "POST", "/api/v1/quarantine/%s/release" % b, {"learn_ham": True})
    assert code == 200 and o["status"] == "ok", o
    assert "released" in o["output"] and "by node n1" in o["output"]
    sink.wait_messages(1)
    [m] = sink.messages()
    assert m.rcpts == ["b@example.test"]
    wait_for(lambda: "learned as ham" in p.log(), what="learning")
    code, _, o = api(p, "POST", "/api/v1/quarantine/%s/release" % b, {})
    assert code == 409 and "already released" in o["text"], o
    assert listed(p) == [c]

    # delete through posternctl --http, then through the API again: 409
    r = ctl_http(p, "quarantine", "delete", c)
    assert r.returncode == 0 and "deleted by node n1" in r.stdout, r.stdout + r.stderr
    code, _, o = api(p, "DELETE", "/api/v1/quarantine/" + c)
    assert code == 409 and "already deleted" in o["text"], o
    assert listed(p) == []
    assert len(sink.messages()) == 1
    p.stop()


def test_two_nodes_share_the_quarantine(tmp_path, redis_server, sink):
    """Node A quarantines; node B lists the entry and releases it through its API; A (the
    holder, through its job list pt:qj:{A}) delivers it; B's store never had the file."""
    a = with_api(tmp_path, redis_server, sink, node="node-a", name="a").start()
    b = with_api(tmp_path, redis_server, sink, node="node-b", name="b").start()
    qid = spam(a, ["b@example.test"], subject="Two nodes")
    entry = qid + ".0"
    wait_for(lambda: listed(b) == [entry], what="node B to list A's entry")
    code, _, o = api(b, "GET", "/api/v1/quarantine/" + entry)
    assert code == 200 and o["data"]["node"] == "node-a" and o["data"]["here"] is False, o
    code, _, o = api(b, "GET", "/api/v1/quarantine/%s/message" % entry)
    assert code == 404 and "node node-a holds it" in o["text"], o
    code, _, raw = api(a, "GET", "/api/v1/quarantine/%s/message" % entry)
    assert code == 200 and b"Subject: Two nodes" in raw

    code, _, o = api(b, "POST", "/api/v1/quarantine/%s/release" % entry)
    assert code == 200 and "by node node-a" in o["output"], o
    sink.wait_messages(1)
    [m] = sink.messages()
    assert m.rcpts == ["b@example.test"] and m.mail_from == "x@spam.example"
    assert ("from quarantine entry %s" % entry).encode() in m.data
    assert "%s: to=<b@example.test>, released as" % entry in a.log()
    assert "released as" not in b.log()
    assert os.listdir(os.path.join(a.spool, "quarantine")) == []
    assert listed(a) == [] and listed(b) == []
    assert redis_server.cli("LLEN", "pt:qj:{node-a}") == "0"
    b.stop()
    a.stop()
