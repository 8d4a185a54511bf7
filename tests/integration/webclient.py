"""A small HTTP client for the web page's tests (http.client, cookies kept by hand: the
session cookie is Secure, which a cookie jar would not send back over http://127.0.0.1).

WebServer(tmp_path, ca, redis) starts Postern with the web page on a free loopback port,
logins in a sasldb and domain admins; Client(port) keeps cookies and the CSRF token."""
import http.client
import json
import re
import subprocess
import urllib.parse

from conftest import free_port, wait_for
from postern import Postern

USER, PASSWORD = "alice@example.test", "alice-password"
BOB, BOB_PASSWORD = "bob@example.test", "bob-password"
ADMIN, ADMIN_PASSWORD = "admin@example.test", "admin-password"
NODE = "elsewhere.test"             # the holder of the test entries: no daemon pops its jobs
TOKEN_KEY = "web-test-token-key-0123456789"
AUTHFAIL = {"window": "1m", "ip_threshold": 20, "login_ip_threshold": 3,
            "login_threshold": 10, "login_delay": "50ms", "login_delay_max": "200ms"}


def make_sasldb(path, users):
    for login, password in users:
        local, domain = login.split("@")
        subprocess.run(["saslpasswd2", "-f", path, "-p", "-c", "-u", domain, local],
                       input=password.encode(), check=True)


def start_web_server(tmp_path, ca, redis_server, overrides=None):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD), (BOB, BOB_PASSWORD), (ADMIN, ADMIN_PASSWORD)])
    port = free_port()
    cfg = {
        "redis": {"socket": redis_server.socket},
        "auth": {"sasldb": db},
        "authfail": AUTHFAIL,
        "relay": {"local_domains": ["example.test", "other.test"],
                  "trusted_networks": ["127.0.0.1/32"]},
        "domains": {"example.test": {"level": "medium", "admins": [ADMIN]},
                    "other.test": {"level": "low"}},
        "policy": {"user_settings_ttl": "0"},
        "web": {"enabled": True, "address": "127.0.0.1:%d" % port},
        "quarantine": {"token_key": TOKEN_KEY},
    }
    for k, v in (overrides or {}).items():
        cfg[k] = v
    p = Postern(tmp_path, ca, overrides=cfg)
    port = int(cfg["web"]["address"].rsplit(":", 1)[1])
    p.web_port = port
    p.redis = redis_server
    p.start()
    wait_for(lambda: p._accepts("127.0.0.1", port), what="web listener")
    return p


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name.lower())


class Client:
    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.csrf = None

    def request(self, method, path, body=None, headers=None, json_body=None, form=None,
                csrf=True):
        h = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            h.setdefault("Content-Type", "application/json")
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h.setdefault("X-CSRF-Token", self.csrf)
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {}
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, val = v.split(";", 1)[0].split("=", 1)
                if "Max-Age=0" in v:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = val
                hdrs.setdefault("set-cookie", []).append(v)
            else:
                hdrs[k.lower()] = v
        c.close()
        return Response(r.status, hdrs, data)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def login(self, login, password):
        r = self.request("POST", "/ui/api/login", json_body={"login": login,
                                                             "password": password})
        if r.status == 200:
            self.csrf = r.json()["csrf"]
        return r

    def form_token(self, path="/ui/"):
        """The csrf field of the form on a page."""
        r = self.get(path)
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
        return m.group(1) if m else None


def jobs(redis):
    """The release / delete jobs queued for the test entries' holder."""
    return redis.cli("LRANGE", "pt:qj:{%s}" % NODE, "0", "-1").splitlines()


def make_token(entry, rcpt, action="release", expires=None):
    """A digest link token, made by content/quar_token.c (tests/helpers/quarlink)."""
    import os
    import time
    from conftest import helper_path
    out = subprocess.run([helper_path("quarlink"), "make", TOKEN_KEY, entry, rcpt, action,
                          str(expires if expires is not None else int(time.time()) + 3600)],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def add_quarantine_entry(redis, entry_id, rcpt, subject="Cheap pills", sender="s@spam.example",
                         score=9.5, reason="spam", date=1700000000, node=None):
    """Index a quarantine entry the way content/quar.c's quar_index_add does (the web page
    only reads the index and asks for releases). Its holder is a node that does not run
    (NODE), so the release jobs the page queues stay in pt:qj:{NODE} to be looked at."""
    node = node or NODE
    key = "pt:q:{%s}" % entry_id
    redis.cli("HSET", key, "rcpt", rcpt, "sender", sender, "from", "Spammer <%s>" % sender,
              "subject", subject, "reason", reason, "detail", "spam score %.1f" % score,
              "symbols", "TEST(%.1f)" % score, "node", node, "qid", entry_id.split(".")[0],
              "score", "%.2f" % score, "date", str(date), "size", "1234")
    for z in ("pt:qr:{%s}" % rcpt.lower(), "pt:qd:{%s}" % rcpt.split("@")[1].lower(),
              "pt:qa:{all}"):
        redis.cli("ZADD", z, str(date), entry_id)
