"""Inbound protection through real SMTP sessions and the shipped inbound profile, with a
private Redis: greylisting (first try deferred with the wait, retry passes, a second node
honours the pass), recipient verification from a static list, and backscatter refusal."""
import time

from conftest import wait_for
from postern import Postern, Raw


def node(tmp_path, redis_socket, name="postern", domains=None):
    over = {
        "redis": {"socket": redis_socket},
        "domains": domains or {
            "example.test": {"greylisting": True, "greylist_delay": "1s",
                             "recipients_file": str(tmp_path / "users.txt"),
                             "backscatter_protection": True},
        },
    }
    return Postern(tmp_path, overrides=over, name=name).start()


def rcpt(p, rcpt, sender="alice@sender.example", data=None):
    """MAIL + RCPT (+ DATA when data is given); returns the RCPT reply, or the final one."""
    r = Raw(p.port)
    try:
        r.reply()
        r.cmd("EHLO client.example")
        assert r.cmd("MAIL FROM:<%s>" % sender)[0] == 250
        code, lines = r.cmd("RCPT TO:<%s>" % rcpt)
        if code != 250 or data is None:
            return code, " ".join(lines)
        assert r.cmd("DATA")[0] == 354
        r.send(data.replace("\n", "\r\n") + "\r\n.\r\n")
        code, lines = r.reply()
        return code, " ".join(lines)
    finally:
        r.close()


def test_greylisting_defers_the_first_try_and_a_second_node_honours_the_pass(
        tmp_path, redis_server):
    (tmp_path / "users.txt").write_text("bob\n")
    a = node(tmp_path, redis_server.socket, "a")
    b = node(tmp_path, redis_server.socket, "b")
    try:
        code, text = rcpt(a, "bob@example.test")
        assert code == 451 and "4.7.1 Greylisted, try again in 1 seconds" in text
        assert rcpt(a, "bob@example.test")[0] == 451          # too early
        wait_for(lambda: "action=greylist, reason=new" in a.log(), what="postgrey-style line")
        time.sleep(1.1)
        assert rcpt(b, "bob@example.test")[0] == 250          # the other node, same /24
        assert rcpt(a, "bob@example.test", sender="ALICE+x@sender.example")[0] == 250
        # postmaster@ is never greylisted
        assert rcpt(a, "postmaster@example.test", sender="new@else.example")[0] == 250
    finally:
        a.stop()
        b.stop()


def test_unknown_recipients_are_refused_from_the_static_list(tmp_path, redis_server):
    (tmp_path / "users.txt").write_text("# the domain's users\nbob\ncarol@example.test\n")
    p = node(tmp_path, redis_server.socket, domains={
        "example.test": {"recipients_file": str(tmp_path / "users.txt")}})
    try:
        assert rcpt(p, "carol@example.test")[0] == 250
        code, text = rcpt(p, "mallory@example.test")
        assert code == 550 and "5.1.1 <mallory@example.test>: Recipient address rejected: " \
                               "User unknown" in text
    finally:
        p.stop()


def test_a_bounce_for_mail_never_sent_from_here_is_refused(tmp_path, redis_server):
    (tmp_path / "users.txt").write_text("bob\n")
    p = node(tmp_path, redis_server.socket, domains={
        "example.test": {"recipients_file": str(tmp_path / "users.txt"),
                         "backscatter_protection": True}})
    bounce = ("From: MAILER-DAEMON@far.example\nTo: bob@example.test\nSubject: failure\n\n"
              "Your message could not be delivered.\n\nMessage-ID: <spam123@example.test>\n")
    try:
        code, text = rcpt(p, "bob@example.test", sender="", data=bounce)
        assert code == 550 and "5.7.1 Bounce refused: it refers to no message sent from " \
                               "here (backscatter)" in text
        # ordinary mail still passes
        assert rcpt(p, "bob@example.test", data="Subject: hi\n\nhello")[0] == 250
    finally:
        p.stop()
