"""The backlog cap of a backup-MX domain (domains.D.backlog_max_messages / _bytes, the
backlog check of the shipped inbound profile): while the mail queued for backup.test (its
primary does not answer) is at the cap, new mail for it gets 452 4.3.1; other domains are
not affected, and the cap lifts when the queue drains."""
import os
import re
import subprocess

from conftest import BUILD, free_port, wait_for
from postern import Postern
from smtp_sink import SmtpSink
from test_inbound_protection import rcpt


def node(tmp_path, dead_port, domain):
    over = {
        "queue": {"paused": False, "retry_min": "1h", "retry_max": "1h"},
        "domains": {"backup.test": domain},
        "transport": {"domains": {"backup.test": {"route": "relay:[127.0.0.1]:%d" % dead_port}},
                      "default": "maildir:%s" % (tmp_path / "maildir")},
    }
    return Postern(tmp_path, overrides=over).start()


def queue_and_wait(p, to):
    code, text = rcpt(p, to, data="Subject: queued\n\nfor the primary")
    assert code == 250, text
    qid = re.search(r"queued as (\S+)", text).group(1)
    wait_for(lambda: re.search(r"%s: to=<%s>, .*status=deferred" % (qid, re.escape(to)),
                               p.log()), what="deferred delivery")
    return qid


def test_backup_domain_over_its_message_cap_gets_452(tmp_path):
    p = node(tmp_path, free_port(), {"backlog_max_messages": 2})
    try:
        queue_and_wait(p, "a@backup.test")
        queue_and_wait(p, "b@backup.test")
        code, text = rcpt(p, "c@backup.test")
        assert code == 452 and "4.3.1 <c@backup.test>: Insufficient system storage: too " \
                               "much mail queued for backup.test, try again later" in text
        assert "backup domain backup.test has 2 messages" in p.log()
        assert rcpt(p, "someone@example.test")[0] == 250      # local mail is not capped
    finally:
        p.stop()


def test_byte_cap_and_the_cap_lifts_when_the_queue_drains(tmp_path):
    port = free_port()
    p = node(tmp_path, port, {"backlog_max_bytes": "10"})
    try:
        queue_and_wait(p, "a@backup.test")
        assert rcpt(p, "b@backup.test")[0] == 452
        # the primary comes back: the queue drains, and mail is taken again
        sink = SmtpSink(tmp_path / "sink", port=port).start()
        try:
            subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path, "flush"],
                           capture_output=True, timeout=30)
            sink.wait_messages(1)
            wait_for(lambda: rcpt(p, "b@backup.test")[0] == 250, what="cap lifted")
        finally:
            sink.stop()
    finally:
        p.stop()


def test_byte_cap_counts_the_messages_found_by_the_start_up_scan(tmp_path):
    """After a restart the queued message is known only from the start-up scan (its next
    try is an hour away): its bytes still count against the cap."""
    p = node(tmp_path, free_port(), {"backlog_max_bytes": "10"})
    try:
        queue_and_wait(p, "a@backup.test")
        p.stop()
        p.start()
        wait_for(lambda: "queue scan: 1 messages scheduled" in p.log(), what="queue scan")
        code, text = rcpt(p, "b@backup.test")
        assert code == 452 and "too much mail queued for backup.test" in text
    finally:
        p.stop()
