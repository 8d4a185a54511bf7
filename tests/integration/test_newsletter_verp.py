"""The newsletter endpoint's bounce addresses (VERP, issue 19) through the real daemon,
a real sink and a real DSN: each recipient's copy leaves with its own signed bounce
address as envelope sender (the "verp" record of the queue file); a DSN built as a
remote MTA builds one, sent back to that address on the inbound listener, is attributed
to the login and the recipient (recipient.bounced with the original queue ID) and puts
the recipient on the login's suppression list, so the next message to it is refused at
RCPT; a forged token is refused."""
import re

from conftest import wait_for
from postern import Postern, Raw, queued_id
from smtp_sink import SmtpSink
from test_ratelimit_smtp import PASSWORD, USER, login
from test_submission_auth import make_sasldb

BOUNCE_DOMAIN = "bounce.example.test"
NL = {"bounce_domain": BOUNCE_DOMAIN, "token_key": "a test secret of some length"}
UNSUB = ("List-Unsubscribe: <https://example.test/u/1>\r\n"
         "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")


def node(tmp_path, test_ca, redis_server, sink):
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    sub = {"direction": "submission",
           "checks": {"submission_auth": {}, "sender_owner": {}, "relay_access": {},
                      "newsletter": dict(NL, max_recipients=2)}}
    inbound = {"checks": {"relay_access": {}, "newsletter": dict(NL)}}
    over = {"redis": {"socket": redis_server.socket}, "auth": {"sasldb": db, "senders": {}},
            "relay": {"local_domains": ["example.test", BOUNCE_DOMAIN]},
            "queue": {"paused": False},
            "transport": {"default": "relay:[127.0.0.1]:%d" % sink.port},
            "policy": {"profiles": {"submissions": sub, "inbound": inbound}}}
    return Postern(tmp_path, test_ca, overrides=over).start()


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


def dsn(rcpt, status="5.1.1"):
    """A bounce as a remote MTA sends it (RFC 3464), to the envelope sender it saw."""
    return ("From: Mail Delivery System <MAILER-DAEMON@far.example>\r\n"
            "To: <bounce>\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n"
            "\r\n--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
            "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; far.example\r\n\r\n"
            "Final-Recipient: rfc822; %s\r\nOriginal-Recipient: rfc822;%s\r\n"
            "Action: failed\r\nStatus: %s\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <%s>: Recipient address rejected\r\n"
            "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: %s\r\nSubject: news\r\n"
            "\r\n--B--\r\n" % (rcpt, rcpt, status, rcpt, USER))


def send_bounce(p, to, data):
    r = Raw(p.port)
    try:
        r.reply()
        r.cmd("EHLO far.example")
        assert r.cmd("MAIL FROM:<>")[0] == 250
        code, lines = r.cmd("RCPT TO:<%s>" % to)
        if code != 250:
            return code, " ".join(lines)
        assert r.cmd("DATA")[0] == 354
        r.send(data + ".\r\n")
        code, lines = r.reply()
        return code, " ".join(lines)
    finally:
        r.close()


def test_each_recipient_leaves_with_its_own_bounce_address_and_a_dsn_to_it_suppresses(
        tmp_path, test_ca, redis_server):
    sink = SmtpSink(tmp_path / "sink").start()
    p = node(tmp_path, test_ca, redis_server, sink)
    try:
        a, b = "reader-a@far.example", "reader-b@far.example"
        _, qid = submit(p, [a, b])
        msgs = sink.wait_messages(2)
        senders = {m.rcpts[0]: m.mail_from for m in msgs}
        assert sorted(senders) == [a, b] and all(len(m.rcpts) == 1 for m in msgs)
        rx = re.compile(r"^bounces\+[A-Za-z0-9]{26}@%s$" % re.escape(BOUNCE_DOMAIN))
        assert all(rx.match(s) for s in senders.values()), senders
        assert senders[a] != senders[b]
        # the remote MTA bounces b's copy to b's bounce address
        code, text = send_bounce(p, senders[b], dsn(b))
        assert code == 250, text
        wait_for(lambda: p.events("recipient.bounced"), what="recipient.bounced")
        [ev] = p.events("recipient.bounced")
        assert (ev["login"], ev["recipient"], ev["original_queue_id"], ev["type"]) == \
            (USER, b, qid, "hard")
        # b is suppressed for this login; a is not
        replies, _ = submit(p, [b])
        assert replies[0][0] == 550 and "5.1.1" in " ".join(replies[0][1]), replies
        replies, _ = submit(p, [a])
        assert replies[0][0] == 250
        # a token Postern never made is refused
        forged = "bounces+" + "A" * 26 + "@" + BOUNCE_DOMAIN
        code, text = send_bounce(p, forged, dsn(a))
        assert code == 550 and "5.7.1" in text, text
    finally:
        p.stop()
        sink.stop()


def test_a_listener_chooses_the_rate_class_of_its_logins(tmp_path, test_ca, redis_server):
    """listeners[].rate_class: the same login is in the listener's class on the newsletter
    endpoint and in the default class elsewhere; ratelimit.users still wins."""
    from conftest import free_port
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD), ("fixed@example.test", PASSWORD)])
    over = {"redis": {"socket": redis_server.socket}, "auth": {"sasldb": db, "senders": {}},
            "ratelimit": {"classes": {"default": {"recipients": 2, "window": "1h"},
                                      "newsletter": {"recipients": 5, "window": "1h"}},
                          "users": {"fixed@example.test": {"class": "default"}}}}
    p = Postern(tmp_path, test_ca, overrides=over)
    news_port = free_port()
    p.config["listeners"].append({"name": "news", "address": "127.0.0.1:%d" % news_port,
                                  "profile": "submissions", "tls": "implicit",
                                  "auth": "required", "rate_class": "newsletter"})
    p.write_config()
    p.start()
    try:
        def granted(port, user=USER):
            r = login(port, user)
            assert r.cmd("MAIL FROM:<%s>" % user)[0] == 250
            r.send("".join("RCPT TO:<r%d@far.example>\r\n" % i for i in range(6)))
            codes = [r.reply()[0] for _ in range(6)]
            r.close()
            return codes.count(250)
        assert granted(news_port) == 5
        assert "pt:rl:{%s}:newsletter" % USER in redis_server.cli("KEYS", "pt:rl:*")
        assert granted(news_port, "fixed@example.test") == 2
        r = login(p.ports["submissions"])
        assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
        assert r.cmd("RCPT TO:<x@far.example>")[0] == 250   # its default bucket: 1 of 2
        r.close()
        # a class that does not exist is refused by postern -n
        import os
        import subprocess
        from conftest import BUILD
        p.config["listeners"][-1]["rate_class"] = "nosuch"
        p.write_config()
        c = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                           capture_output=True, text=True)
        assert c.returncode != 0 and "rate_class" in c.stderr and "nosuch" in c.stderr, \
            c.stderr
    finally:
        p.stop()
