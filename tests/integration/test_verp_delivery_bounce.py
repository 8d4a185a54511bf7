"""A 5xx to a newsletter recipient's VERP copy at delivery counts as a hard bounce of that
recipient exactly as a DSN sent back to its bounce address does (issue 19): the same
recipient.bounced event (login, recipient, original queue ID, type hard), the address on
the login's suppression list (the next message to it is refused at RCPT), and the same
feed of the compromised-account breaker (over the bounce rate: account.suspended, and the
login's mail still queued is held). Once per recipient; a 4xx is no bounce. Real daemon,
real Redis, a real sink that answers 550 to one recipient and 451 to another."""
import os
import subprocess

from conftest import BUILD, wait_for
from postern import Postern, queued_id
from smtp_sink import SmtpSink
from test_newsletter_verp import NL, UNSUB
from test_ratelimit_smtp import PASSWORD, USER, login
from test_submission_auth import make_sasldb

GOOD, GONE, LATER = "good@far.example", "gone@far.example", "later@far.example"


def ctl(p, *args):
    out = subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path] +
                         list(args), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


def submit(p, rcpts):
    r = login(p.ports["submissions"])
    try:
        assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
        replies = [r.cmd("RCPT TO:<%s>" % rc) for rc in rcpts]
        if not any(code == 250 for code, _ in replies):
            return replies, None
        assert r.cmd("DATA")[0] == 354
        r.send("From: %s\r\nTo: list@example.test\r\nSubject: news\r\n%s\r\nhello\r\n.\r\n"
               % (USER, UNSUB))
        code, lines = r.reply()
        assert code == 250, lines
        return replies, queued_id(lines)
    finally:
        r.close()


def test_verp_delivery_5xx_suppresses_the_recipient_and_feeds_the_breaker(
        tmp_path, test_ca, redis_server):
    sink = SmtpSink(tmp_path / "sink", rcpt_replies={
        GONE: "550 5.1.1 <gone@far.example>: no such user",
        LATER: "451 4.2.0 try later"}).start()
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    # 1 bounce of 3 sent is over 30%: the breaker suspends the login
    nl = dict(NL, max_recipients=3, min_messages=1, max_bounce_rate=0.3)
    sub = {"direction": "submission",
           "checks": {"submission_auth": {}, "sender_owner": {}, "relay_access": {},
                      "account": {}, "newsletter": nl}}
    over = {"redis": {"socket": redis_server.socket}, "auth": {"sasldb": db, "senders": {}},
            "relay": {"local_domains": ["example.test", NL["bounce_domain"]]},
            "queue": {"paused": False, "retry_min": "500ms", "retry_max": "500ms"},
            "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port},
            "policy": {"profiles": {"submissions": sub}}}
    p = Postern(tmp_path, test_ca, overrides=over).start()
    try:
        _, qid = submit(p, [GOOD, GONE, LATER])
        [msg] = sink.wait_messages(1)
        assert msg.rcpts == [GOOD] and msg.mail_from.startswith("bounces+")
        wait_for(lambda: p.events("recipient.bounced"), what="recipient.bounced")
        [ev] = p.events("recipient.bounced")
        assert (ev["login"], ev["recipient"], ev["original_queue_id"], ev["type"],
                ev["status"]) == (USER, GONE, qid, "hard", "5.1.1"), ev
        assert "550 5.1.1" in ev["diagnostic"]
        sup = redis_server.cli("HGET", "pt:sup:{%s}" % USER, GONE)
        assert sup.startswith("hard:"), sup
        assert redis_server.cli("HGET", "pt:sup:{%s}" % USER, LATER) in ("", None)
        assert redis_server.cli("HGET", "pt:health:{%s}" % USER, "bounced") == "1"
        # the same breaker as a DSN's: suspended, and the 4xx recipient's copy is held
        wait_for(lambda: p.events("account.suspended"), what="account.suspended")
        [susp] = p.events("account.suspended")
        assert (susp["login"], susp["reason"], susp["queued_held"]) == \
            (USER, "bounce_rate", 1), susp
        wait_for(lambda: "%s: held: account suspended" % qid in p.log(), what="held")
        ctl(p, "account", "release", USER)
        # suppressed at RCPT for this login now; the 4xx recipient is not
        replies, _ = submit(p, [GONE])
        assert replies[0][0] == 550 and "suppressed" in " ".join(replies[0][1]), replies
        replies, _ = submit(p, [LATER])
        assert replies[0][0] == 250
        wait_for(lambda: p.log().count("to=<%s>" % LATER) >= 3, what="later retried")
        # once per recipient: the 550 was not tried again, the 451s are no bounces
        assert len(p.events("recipient.bounced")) == 1
        # the readers' copies; the sender still gets Postern's own DSN about gone@ as before
        assert [m.rcpts for m in sink.messages() if m.rcpts != [USER]] == [[GOOD]]
        assert len([m for m in sink.messages() if m.rcpts == [USER]]) == 1
        assert p.stop() == 0
    finally:
        p.stop()
        sink.stop()
