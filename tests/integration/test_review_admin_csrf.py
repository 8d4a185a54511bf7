"""Security review: the admin HTTP API on loopback without a token (allowed by postern -n)
must not be drivable by a web page that an admin's browser on the same host opens.

A cross-site page can send, without any CORS preflight, a POST with Content-Type
text/plain whose body is JSON (an HTML form with enctype="text/plain" and the field name
'{"argv":["pause"],"x":"' gives exactly that body), and a rebound DNS name can make the
browser send GETs to 127.0.0.1 with Host: evil.example. Both are refused
(relay/admin_http.c, browser_refusal): a request with an Origin or a Sec-Fetch-Site other
than none gets 403, a body that is not application/json 415, and without a token a Host
that is not an address or localhost 421; scripts (posternctl, curl) keep working."""
import http.client
import json

import pytest

from conftest import free_port
from postern import Postern


@pytest.fixture
def node(tmp_path, redis_server, test_ca):
    port = free_port()
    p = Postern(tmp_path, test_ca, overrides={
        "redis": {"socket": redis_server.socket},
        "admin": {"http": {"address": "127.0.0.1:%d" % port}},   # loopback, no token
    }).start()
    p.api_port = port
    yield p
    p.stop()


def request(p, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", p.api_port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, text


def delivery(p):
    code, text = request(p, "GET", "/api/v1/status")
    assert code == 200, text
    return json.loads(text)["data"]["delivery"]


def test_review_admin_csrf_cross_site_form_post_is_refused(node):
    before = delivery(node)
    code, text = request(node, "POST", "/api/v1/command",
                         body='{"argv":["pause"],"x":"="}',
                         headers={"Origin": "https://evil.example",
                                  "Content-Type": "text/plain",
                                  "Sec-Fetch-Site": "cross-site"})
    assert code in (400, 403, 415), text
    assert delivery(node) == before


def test_review_admin_csrf_rebound_host_is_refused(node):
    code, text = request(node, "GET", "/api/v1/queue", headers={"Host": "evil.example:80"})
    assert code in (400, 403, 421), text


def test_review_admin_csrf_scripts_still_work(node):
    # what the fix must keep: curl/posternctl (no Origin, Host = the address) and JSON
    code, text = request(node, "POST", "/api/v1/command", body='{"argv":["status"]}',
                         headers={"Content-Type": "application/json"})
    assert code == 200, text


def test_review_admin_csrf_json_body_required_and_local_hosts(node):
    # a body that is not JSON is refused even without Origin (a form post from an old browser)
    code, text = request(node, "POST", "/api/v1/command", body='{"argv":["status"]}',
                         headers={"Content-Type": "text/plain"})
    assert code == 415, text
    code, text = request(node, "POST", "/api/v1/command", body='{"argv":["status"]}',
                         headers={"Content-Type": "application/json; charset=utf-8"})
    assert code == 200, text
    # addresses and localhost are fine; Sec-Fetch-Site "none" (typed in the address bar) too
    for host in ("127.0.0.1:%d" % node.api_port, "localhost", "[::1]:80"):
        code, text = request(node, "GET", "/metrics", headers={"Host": host})
        assert code == 200, (host, text)
    code, text = request(node, "GET", "/api/v1/status", headers={"Sec-Fetch-Site": "none"})
    assert code == 200, text
    code, text = request(node, "GET", "/metrics", headers={"Sec-Fetch-Site": "same-site"})
    assert code == 403, text
    assert "requests from web pages are refused" in node.log()
