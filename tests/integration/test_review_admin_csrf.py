"""Security review: the admin HTTP API on loopback without a token (allowed by postern -n)
must not be drivable by a web page that an admin's browser on the same host opens.

A cross-site page can send, without any CORS preflight, a POST with Content-Type
text/plain whose body is JSON (an HTML form with enctype="text/plain" and the field name
'{"argv":["pause"],"x":"' gives exactly that body), and a rebound DNS name can make the
browser send GETs to 127.0.0.1 with Host: evil.example. The API takes both today:
the browser request pauses delivery, and the rebound GET reads the queue. The fix belongs
in relay/admin_http.c / relay/admin_api.c (owned by branch ops4 today): refuse a request
that carries an Origin (or Sec-Fetch-Site other than none/same-origin) and require
Content-Type: application/json on a request with a body, and answer only a Host that is
the listener's address (or localhost). Marked xfail(strict) until then: the day the fix
lands these pass, xfail turns into a failure, and the marker goes."""
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


@pytest.mark.xfail(strict=True, reason="admin API CSRF: finding for branch ops4")
def test_review_admin_csrf_cross_site_form_post_is_refused(node):
    before = delivery(node)
    code, text = request(node, "POST", "/api/v1/command",
                         body='{"argv":["pause"],"x":"="}',
                         headers={"Origin": "https://evil.example",
                                  "Content-Type": "text/plain",
                                  "Sec-Fetch-Site": "cross-site"})
    assert code in (400, 403, 415), text
    assert delivery(node) == before


@pytest.mark.xfail(strict=True, reason="admin API DNS rebinding: finding for branch ops4")
def test_review_admin_csrf_rebound_host_is_refused(node):
    code, text = request(node, "GET", "/api/v1/queue", headers={"Host": "evil.example:80"})
    assert code in (400, 403, 421), text


def test_review_admin_csrf_scripts_still_work(node):
    # what the fix must keep: curl/posternctl (no Origin, Host = the address) and JSON
    code, text = request(node, "POST", "/api/v1/command", body='{"argv":["status"]}',
                         headers={"Content-Type": "application/json"})
    assert code == 200, text
