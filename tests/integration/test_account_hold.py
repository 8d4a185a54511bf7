"""The queued mail of a suspended login is held (issue 13, the compromised-account breaker),
through real daemons, a real Redis and a real sink: mail of a login whose next hop is down
is queued; the login is suspended (posternctl account suspend, as an admin who knows it is
stolen; the breaker writes the same Redis state); the next hop comes up, and the mail does
not leave: it is listed as held ("account suspended") by posternctl queue, counted by
posternctl status and account show. posternctl account release sends it at once, on every
node sharing the Redis (their key watch sees the release); release --drop-queued deletes
it instead, without a DSN."""
import os
import subprocess
import time
import urllib.request

from conftest import BUILD, free_port, wait_for
from postern import Postern, queued_id
from smtp_sink import SmtpSink
from test_ratelimit_smtp import PASSWORD, USER, login
from test_submission_auth import make_sasldb


def node(tmp_path, test_ca, redis_server, sink_port, name="postern"):
    db = str(tmp_path / "sasldb2")
    if not os.path.exists(db):
        make_sasldb(db, [(USER, PASSWORD)])
    over = {"redis": {"socket": redis_server.socket}, "auth": {"sasldb": db, "senders": {}},
            "queue": {"paused": False, "retry_min": "500ms", "retry_max": "500ms"},
            "transport": {"default": "relay:[127.0.0.1]:%d" % sink_port},
            "admin": {"http": {"address": "127.0.0.1:%d" % free_port()}}}
    return Postern(tmp_path, test_ca, overrides=over, name=name).start()


def held_metric(p):
    url = "http://%s/metrics" % p.config["admin"]["http"]["address"]
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode()
    for line in body.splitlines():
        if line.startswith('postern_queue_held_messages{reason="account"} '):
            return int(float(line.split()[1]))
    return None


def ctl(p, *args):
    out = subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path] +
                         list(args), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


def submit(p, rcpt="reader@far.example"):
    r = login(p.ports["submissions"])
    try:
        assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
        assert r.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send("From: %s\r\nTo: %s\r\nSubject: hi\r\n\r\nhello\r\n.\r\n" % (USER, rcpt))
        code, lines = r.reply()
        assert code == 250, lines
        return queued_id(lines)
    finally:
        r.close()


def deferred(p, qid):
    return "%s: to=<" % qid in p.log() and "status=deferred" in p.log()


def held(p, qid):
    return "%s: held: account suspended" % qid in p.log()


def test_account_hold_keeps_the_mail_of_a_suspended_login_until_release_on_every_node(
        tmp_path, test_ca, redis_server):
    port = free_port()                       # the next hop: nothing listens there yet
    a = node(tmp_path, test_ca, redis_server, port, "a")
    b = node(tmp_path, test_ca, redis_server, port, "b")
    sink = None
    try:
        qa, qb = submit(a), submit(b)
        wait_for(lambda: deferred(a, qa) and deferred(b, qb), what="first tries deferred")
        out = ctl(a, "account", "suspend", USER)
        assert "suspended" in out
        # new mail of the login is refused (the account check), queued mail is held
        r = login(a.ports["submissions"])
        assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 450
        r.close()
        wait_for(lambda: held(a, qa) and held(b, qb), what="held on both nodes")
        sink = SmtpSink(tmp_path / "sink", port=port).start()
        ctl(a, "flush")                      # an admin's flush does not send it either
        time.sleep(1.5)                      # three retry intervals
        assert sink.messages() == []
        listing = ctl(a, "queue")
        assert qa in listing and "(held: account suspended)" in listing, listing
        assert '"held_reason":"account suspended"' in ctl(a, "queue", "--json")
        status = ctl(a, "status")
        assert "held 1" in status and "(account suspended)" in status, status
        assert held_metric(a) == 1
        show = ctl(a, "account", "show", USER)
        assert "suspended" in show and "held (account suspended): 1" in show, show
        records = a.records(qa)
        assert sum(1 for l in records if l.startswith("suspended ")) == 1, records
        # release on node a: both nodes send at once (b through its Redis key watch)
        assert "released" in ctl(a, "account", "release", USER)
        msgs = sink.wait_messages(2)
        assert sorted(m.rcpts[0] for m in msgs) == ["reader@far.example"] * 2
        wait_for(lambda: "%s: removed" % qa in a.log() and "%s: removed" % qb in b.log(),
                 what="both delivered and removed")
        assert "%s: released: login %s is no longer suspended" % (qa, USER) in a.log()
        assert held_metric(a) == 0
        assert a.events("message.bounced") == [] and b.events("message.bounced") == []
        assert a.stop() == 0 and b.stop() == 0        # clean stops
    finally:
        a.stop()
        b.stop()
        if sink:
            sink.stop()


def test_account_hold_release_with_drop_queued_deletes_the_held_mail(
        tmp_path, test_ca, redis_server):
    port = free_port()
    p = node(tmp_path, test_ca, redis_server, port)
    sink = None
    try:
        qid = submit(p)
        wait_for(lambda: deferred(p, qid), what="first try deferred")
        ctl(p, "account", "suspend", USER)
        wait_for(lambda: held(p, qid), what="held")
        sink = SmtpSink(tmp_path / "sink", port=port).start()
        out = ctl(p, "account", "release", USER, "--drop-queued")
        assert "deleted" in out, out
        wait_for(lambda: "%s: removed" % qid in p.log(), what="dropped")
        assert "dropped" in p.log()
        assert qid not in ctl(p, "queue")
        assert p.events("message.bounced") == []
        assert sink.messages() == []
        # the login may send again, and its new mail leaves
        submit(p, "next@far.example")
        assert [m.rcpts for m in sink.wait_messages(1)] == [["next@far.example"]]
        assert p.stop() == 0
    finally:
        p.stop()
        if sink:
            sink.stop()
