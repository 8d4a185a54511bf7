"""The web page's JSON API (docs/api.md, "User API") against the real daemon and Redis:
status codes for good requests, bad input and missing rights; sessions in Redis; the
login throttle; the security headers of every answer."""
import json

import pytest

from webclient import (ADMIN, ADMIN_PASSWORD, BOB, BOB_PASSWORD, PASSWORD, USER, Client,
                       start_web_server)


@pytest.fixture
def web(tmp_path, test_ca, redis_server):
    p = start_web_server(tmp_path, test_ca, redis_server)
    yield p
    p.stop()


def test_web_login_api_sets_a_strict_cookie_and_me_answers(web):
    c = Client(web.web_port)
    r = c.login(USER, PASSWORD)
    assert r.status == 200, r.text
    assert r.json()["user"] == USER
    [cookie] = [v for v in r.header("set-cookie") if v.startswith("postern_session=")]
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/ui/"):
        assert attr in cookie
    me = c.get("/ui/api/me")
    assert me.status == 200
    assert me.json()["user"] == USER and me.json()["admin_of"] == []
    assert set(me.json()["levels"]) >= {"high", "medium", "low"}
    # the session lives in Redis with a TTL
    sid = c.cookies["postern_session"]
    assert web.redis.cli("HGET", "pt:web:sess:{%s}" % sid, "login") == USER
    assert 0 < int(web.redis.cli("PTTL", "pt:web:sess:{%s}" % sid)) <= 3600 * 1000


def test_web_login_api_refusals(web):
    c = Client(web.web_port)
    assert c.login(USER, "wrong").status == 401
    assert c.request("POST", "/ui/api/login", body=b"login=a&password=b",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status == 415
    assert c.request("POST", "/ui/api/login", json_body={"login": USER}).status == 400
    assert c.request("POST", "/ui/api/login", body=b"{not json",
                     headers={"Content-Type": "application/json"}).status == 400
    assert c.get("/ui/api/login").status == 405
    assert c.get("/ui/api/me").status == 401
    assert c.get("/ui/api/settings").status == 401
    assert c.get("/ui/api/nothing").status == 404


def test_web_login_is_throttled_like_smtp_auth(web):
    c = Client(web.web_port)
    for _ in range(3):
        assert c.login(BOB, "wrong").status == 401
    # the (login, address) pair is blocked now, whatever the password
    r = c.login(BOB, BOB_PASSWORD)
    assert r.status == 429, r.text
    assert "too many failed logins" in r.json()["error"]
    assert Client(web.web_port).login(USER, PASSWORD).status == 200


def test_web_settings_get_put_share_posternctl_storage(web):
    c = Client(web.web_port)
    c.login(USER, PASSWORD)
    r = c.get("/ui/api/settings")
    assert r.status == 200
    body = r.json()
    assert body["user"] == USER and body["settings"] == {}
    assert body["domain_settings"]["level"] == "medium"
    r = c.request("PUT", "/ui/api/settings", json_body={
        "level": "high", "greylisting": False, "virus_action": "quarantine",
        "whitelist": ["@partner.example", "boss@example.org"]})
    assert r.status == 200, r.text
    s = r.json()["settings"]
    assert s == {"level": "high", "greylisting": False, "virus_action": "quarantine",
                 "whitelist": ["@partner.example", "boss@example.org"]}
    # the same hash posternctl policy reads
    key = "pt:pol:{%s}" % USER
    assert web.redis.cli("HGET", key, "level") == "high"
    assert web.redis.cli("HGET", key, "greylisting") == "off"
    assert json.loads(web.redis.cli("HGET", key, "whitelist")) == ["@partner.example",
                                                                   "boss@example.org"]
    # custom scores, and null unsets
    r = c.request("PUT", "/ui/api/settings", json_body={"level": None, "tag": 4, "spam": 6.5,
                                                        "kill": 9, "whitelist": None})
    assert r.status == 200, r.text
    assert r.json()["settings"] == {"tag": 4.0, "spam": 6.5, "kill": 9.0,
                                    "greylisting": False, "virus_action": "quarantine"}


@pytest.mark.parametrize("body", [
    {"level": "nosuchlevel"}, {"level": "BAD LEVEL"}, {"tag": "many"}, {"tag": 5000},
    {"greylisting": "maybe"}, {"virus_action": "explode"}, {"whitelist": ["not an entry!"]},
    {"whitelist": "a string"}, {"colour": "blue"}, {"level": {"x": 1}}, {}, [],
])
def test_web_settings_put_refuses_bad_input(web, body):
    c = Client(web.web_port)
    c.login(USER, PASSWORD)
    r = c.request("PUT", "/ui/api/settings", json_body=body)
    assert r.status == 400, (body, r.text)
    assert "error" in r.json()
    assert web.redis.cli("EXISTS", "pt:pol:{%s}" % USER) == "0"


def test_web_settings_need_csrf_and_rights(web):
    c = Client(web.web_port)
    c.login(USER, PASSWORD)
    # no or wrong CSRF header: refused, nothing written
    assert c.request("PUT", "/ui/api/settings", json_body={"level": "high"},
                     csrf=False).status == 403
    assert c.request("PUT", "/ui/api/settings", json_body={"level": "high"},
                     headers={"X-CSRF-Token": "0" * 64}).status == 403
    assert web.redis.cli("EXISTS", "pt:pol:{%s}" % USER) == "0"
    # another user's settings: refused for a plain user
    assert c.get("/ui/api/settings?user=" + BOB).status == 403
    assert c.request("PUT", "/ui/api/settings?user=" + BOB,
                     json_body={"level": "high"}).status == 403
    assert c.get("/ui/api/settings?user=not-an-address").status == 400
    assert c.get("/ui/api/users?domain=example.test").status == 403


def test_web_domain_admin_sees_and_changes_the_domain_users(web):
    alice = Client(web.web_port)
    alice.login(USER, PASSWORD)
    assert alice.request("PUT", "/ui/api/settings", json_body={"level": "low"}).status == 200
    a = Client(web.web_port)
    assert a.login(ADMIN, ADMIN_PASSWORD).status == 200
    assert a.get("/ui/api/me").json()["admin_of"] == ["example.test"]
    r = a.get("/ui/api/users?domain=example.test")
    assert r.status == 200 and r.json()["users"] == [USER]
    r = a.request("PUT", "/ui/api/settings?user=" + BOB, json_body={"level": "high"})
    assert r.status == 200 and r.json()["user"] == BOB
    assert a.get("/ui/api/users?domain=example.test").json()["users"] == [USER, BOB]
    # not an admin of other.test
    assert a.get("/ui/api/settings?user=carol@other.test").status == 403
    assert a.get("/ui/api/users?domain=other.test").status == 403
    assert a.get("/ui/api/users").status == 400


def test_web_logout_ends_the_session_everywhere(web):
    c = Client(web.web_port)
    c.login(USER, PASSWORD)
    sid = c.cookies["postern_session"]
    assert c.request("POST", "/ui/api/logout", csrf=False).status == 403
    assert c.request("POST", "/ui/api/logout").status == 200
    assert web.redis.cli("EXISTS", "pt:web:sess:{%s}" % sid) == "0"
    c.cookies["postern_session"] = sid          # a stolen old cookie is dead too
    assert c.get("/ui/api/me").status == 401


def test_web_every_answer_has_the_security_headers(web):
    c = Client(web.web_port)
    for path in ("/ui/", "/ui/api/me", "/ui/static/style.css", "/ui/nothing"):
        r = c.get(path)
        csp = r.header("content-security-policy")
        assert csp and "default-src 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp
        assert r.header("x-content-type-options") == "nosniff"
        assert r.header("x-frame-options") == "DENY"
    assert c.get("/ui/static/app.js").status == 200
    assert c.get("/ui/static/login.html").status == 404
    assert c.get("/ui/static/../../etc/passwd").status == 404


def test_web_form_login_needs_its_csrf_token(web):
    c = Client(web.web_port)
    token = c.form_token()
    assert token
    # without the login cookie's twin (another site's form): refused
    other = Client(web.web_port)
    r = other.request("POST", "/ui/login", form={"csrf": token, "login": USER,
                                                 "password": PASSWORD})
    assert r.status == 403 and "postern_session" not in other.cookies
    r = c.request("POST", "/ui/login", form={"csrf": token, "login": USER,
                                             "password": PASSWORD})
    assert r.status == 303 and r.header("location") == "/ui/"
    page = c.get("/ui/")
    assert page.status == 200 and "Settings of" in page.text and USER in page.text


def test_web_quarantine_api_list_release_delete(web):
    from webclient import add_quarantine_entry, jobs
    add_quarantine_entry(web.redis, "AAA1.0", USER, subject="first", score=9.0, date=1700000001)
    add_quarantine_entry(web.redis, "AAA2.0", USER, subject="second", score=7.0,
                         date=1700000002)
    add_quarantine_entry(web.redis, "AAA3.0", BOB, subject="bob's", date=1700000003)
    add_quarantine_entry(web.redis, "AAA4.0", USER, subject="virus", reason="virus",
                         date=1700000004)
    c = Client(web.web_port)
    c.login(USER, PASSWORD)
    r = c.get("/ui/api/quarantine")
    assert r.status == 200, r.text
    assert [e["id"] for e in r.json()["entries"]] == ["AAA4.0", "AAA2.0", "AAA1.0"]
    assert r.json()["total"] == 3
    r = c.get("/ui/api/quarantine?sort=score&order=asc&search=SEC")
    assert [e["subject"] for e in r.json()["entries"]] == ["second"]
    assert c.get("/ui/api/quarantine?sort=colour").status == 400
    assert c.get("/ui/api/quarantine?limit=0").status == 400
    assert c.get("/ui/api/quarantine?user=" + BOB).status == 403
    assert c.get("/ui/api/quarantine?domain=example.test").status == 403
    # release: once; the second time is harmless
    rel = "/ui/api/quarantine/release"
    assert c.request("POST", rel, json_body={"id": "AAA1.0"}, csrf=False).status == 403
    r = c.request("POST", rel, json_body={"id": "AAA1.0", "learn": True})
    assert r.status == 200 and r.json()["done"], r.text
    r = c.request("POST", rel, json_body={"id": "AAA1.0"})
    assert r.status == 200 and r.json()["already"], r.text
    queued = jobs(web.redis)
    assert [j for j in queued if j.startswith("release AAA1.0")] == [queued[0]], queued
    assert [e["id"] for e in c.get("/ui/api/quarantine").json()["entries"]] == ["AAA4.0",
                                                                                 "AAA2.0"]
    # another user's entry, a virus, an unknown one, a bad ID
    assert c.request("POST", rel, json_body={"id": "AAA3.0"}).status == 403
    assert c.request("POST", rel, json_body={"id": "AAA4.0"}).status == 403
    assert c.request("POST", rel, json_body={"id": "NOPE9.0"}).status == 404
    assert c.request("POST", rel, json_body={"id": "../x"}).status == 400
    assert c.request("POST", rel, json_body={"nothing": 1}).status == 400
    # delete (virus entries too)
    r = c.request("POST", "/ui/api/quarantine/delete", json_body={"id": "AAA4.0"})
    assert r.status == 200, r.text
    # the domain admin sees the whole domain and acts for its users
    a = Client(web.web_port)
    a.login(ADMIN, ADMIN_PASSWORD)
    ids = [e["id"] for e in a.get("/ui/api/quarantine?domain=example.test").json()["entries"]]
    assert ids == ["AAA3.0", "AAA2.0"]
    r = a.request("POST", rel, json_body={"id": "AAA3.0", "user": BOB})
    assert r.status == 200, r.text
    assert a.get("/ui/api/quarantine?domain=other.test").status == 403


def test_web_digest_link_get_confirms_post_releases_once(web):
    from webclient import add_quarantine_entry, jobs, make_token
    add_quarantine_entry(web.redis, "LNK1.0", USER, subject="<b>link</b> me")
    token = make_token("LNK1.0", USER)
    c = Client(web.web_port)
    r = c.get("/ui/q/" + token)                 # a link scanner, or a person
    assert r.status == 200, r.text
    assert "Release this message?" in r.text and "&lt;b&gt;link&lt;/b&gt; me" in r.text
    assert 'action="/ui/q/%s"' % token in r.text
    assert jobs(web.redis) == []                 # GET changed nothing
    r = c.request("POST", "/ui/q/" + token)
    assert r.status == 200 and "released" in r.text.lower(), r.text
    assert [j.split()[:2] for j in jobs(web.redis)] == [["release", "LNK1.0"]]
    r = c.request("POST", "/ui/q/" + token)       # twice: harmless
    assert r.status == 200 and "already" in r.text.lower(), r.text
    assert len(jobs(web.redis)) == 1
    assert c.get("/ui/q/" + token).status == 200  # "already released" page


def test_web_digest_link_refusals(web):
    import time
    from webclient import add_quarantine_entry, jobs, make_token
    add_quarantine_entry(web.redis, "LNK2.0", USER)
    add_quarantine_entry(web.redis, "LNK3.0", USER, reason="virus")
    c = Client(web.web_port)
    good = make_token("LNK2.0", USER)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for method in ("GET", "POST"):
        assert c.request(method, "/ui/q/" + forged).status == 400
        assert c.request(method, "/ui/q/not-a-token").status == 400
        expired = make_token("LNK2.0", USER, expires=int(time.time()) - 10)
        assert c.request(method, "/ui/q/" + expired).status == 410
    # a token made for another recipient of that entry
    other = make_token("LNK2.0", BOB)
    assert c.request("POST", "/ui/q/" + other).status == 403
    # a virus entry is never released by a link
    assert c.request("POST", "/ui/q/" + make_token("LNK3.0", USER)).status == 403
    assert c.request("PUT", "/ui/q/" + good).status == 405
    assert jobs(web.redis) == []


@pytest.mark.parametrize("web_conf, message", [
    ({"enabled": True, "address": "0.0.0.0:8025"}, "needs HTTPS"),
    ({"enabled": True, "address": "192.0.2.1:8025"}, "needs HTTPS"),
    ({"enabled": True, "address": "localhost"}, "expected IP:port"),
    ({"enabled": True, "cert": "/etc/hostname"}, "cert and key go together"),
    ({"base_url": "ftp://x/"}, "http:// or https://"),
    ({"session_ttl": "1s"}, "session_ttl"),
])
def test_web_config_check_refuses(tmp_path, web_conf, message):
    import os
    import subprocess
    from conftest import BUILD
    cfg = {"hostname": "mx.test.example", "spool_dir": str(tmp_path / "spool"),
           "relay": {"local_domains": ["example.test"]},
           "listeners": [{"name": "mx", "address": "127.0.0.1:2525", "profile": "inbound"}],
           "web": web_conf}
    f = tmp_path / "postern.json"
    f.write_text(json.dumps(cfg))
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", str(f)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert message in r.stderr + r.stdout, r.stderr


def test_web_https_listener_off_loopback_config_passes(tmp_path, test_ca):
    import os
    import subprocess
    from conftest import BUILD
    cfg = {"hostname": "mx.test.example", "spool_dir": str(tmp_path / "spool"),
           "relay": {"local_domains": ["example.test"]},
           "listeners": [{"name": "mx", "address": "127.0.0.1:2525", "profile": "inbound"}],
           "web": {"enabled": True, "address": "0.0.0.0:8025", "cert": test_ca.cert,
                   "key": test_ca.key, "base_url": "https://mail.example.test/ui/"}}
    f = tmp_path / "postern.json"
    f.write_text(json.dumps(cfg))
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_web_serves_https_with_its_certificate(tmp_path, test_ca, redis_server):
    import http.client
    import ssl
    from conftest import free_port
    port = free_port()
    p = start_web_server(tmp_path, test_ca, redis_server, overrides={
        "web": {"enabled": True, "address": "127.0.0.1:%d" % port, "cert": test_ca.cert,
                "key": test_ca.key}})
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", p.web_port, context=ctx, timeout=10)
        c.request("POST", "/ui/api/login", body=json.dumps({"login": USER,
                                                            "password": PASSWORD}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200, r.read()
        assert "max-age" in r.getheader("Strict-Transport-Security")
        c.close()
    finally:
        p.stop()


def test_web_writes_from_another_origin_are_refused(web):
    c = Client(web.web_port)
    c.login(USER, PASSWORD)
    put = lambda origin: c.request("PUT", "/ui/api/settings", json_body={"level": "high"},
                                   headers={"Origin": origin})
    assert put("http://evil.example").status == 403
    assert put("http://127.0.0.1:%d" % (web.web_port + 1)).status == 403
    assert web.redis.cli("EXISTS", "pt:pol:{%s}" % USER) == "0"
    assert put("http://127.0.0.1:%d" % web.web_port).status == 200
    r = Client(web.web_port).request("POST", "/ui/api/login", headers={"Origin": "null"},
                                     json_body={"login": USER, "password": PASSWORD})
    assert r.status == 403
