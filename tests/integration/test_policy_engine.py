"""The policy engine wired into the SMTP session, driven through the daemon's test build
(build/postern-test) whose test-only checks (tests/checks/check_test.h) emit chosen
symbols and verdicts at chosen stages, so that no DNS is needed.

What is checked: symbols add up per recipient and become the queue file's policy records
and the log line; levels per domain (example.test medium, strict.example.test high) give
tag, mark and kill; refusals decided at CONNECT, HELO, MAIL, RCPT, DATA and END are given
where docs/policy.md says; postmaster@ bypasses a MAIL refusal; a check that misses the
stage deadline adds NAME_TIMEOUT and its unsure rule (accept or defer); white and black
lists; the multi-recipient rule (refuse at END only what every recipient refuses).
"""
import json
import os
import re
import subprocess

import pytest

from conftest import BUILD, free_port, wait_for
from postern import Postern, Raw, message, queued_id

HIGH = "strict.example.test"


def engine(tmp_path, checks, deadline=None, policy=None, domains=None, extra=None):
    prof = {"direction": "inbound", "checks": dict({"relay_access": {}}, **checks)}
    if deadline:
        prof["deadline"] = deadline
        prof["end_deadline"] = deadline
    pol = {"profiles": {"inbound": prof}}
    pol.update(policy or {})
    dom = {"example.test": {"level": "medium"}, HIGH: {"level": "high"}}
    dom.update(domains or {})
    over = {"relay": {"local_domains": ["example.test", HIGH],
                      "backup_domains": ["backup.test"]},
            "policy": pol, "domains": dom}
    over.update(extra or {})
    return Postern(tmp_path, overrides=over, binary="postern-test").start()


def deliver(p, rcpts, sender="a@example.org"):
    """One message to rcpts; returns (final reply code, lines, per-RCPT codes)."""
    r = Raw(p.port)
    try:
        assert r.reply()[0] == 220
        assert r.cmd("EHLO client.example")[0] == 250
        assert r.cmd("MAIL FROM:<%s>" % sender)[0] == 250
        codes = [r.cmd("RCPT TO:<%s>" % rc)[0] for rc in rcpts]
        if 250 not in codes:
            return None, None, codes
        code, lines = r.cmd("DATA")
        if code != 354:
            return code, lines, codes
        r.send(message().encode() + b".\r\n")
        code, lines = r.reply()
        return code, lines, codes
    finally:
        r.close()


def record(line):
    f = line.split()
    return {"idx": int(f[1]), "disp": f[2], "score": float(f[3]), "flags": f[6],
            "level": f[7], "syms": dict(kv.split(":") for kv in
                                        re.search(r"syms=(\S+)", line).group(1).split(","))
            if "syms=" in line else {}}


def records(p, qid):
    return [record(line) for line in p.records(qid) if line.startswith("policy ")]


def test_symbols_add_up_into_the_record_and_the_log_line(tmp_path):
    p = engine(tmp_path, {"testsym": {"emit": ["TEST_A", "TEST_B"]},
                          "testpeer": {"stages": ["rcpt"], "emit": ["TEST_POINT"]}})
    code, lines, _ = deliver(p, ["b@example.test"])
    assert code == 250
    qid = queued_id(lines)
    recs = records(p, qid)
    assert len(recs) == 1
    assert recs[0]["disp"] == "pass" and recs[0]["score"] == pytest.approx(3.6)
    assert recs[0]["syms"] == {"TEST_A": "1", "TEST_B": "2.5", "TEST_POINT": "0.1"}
    assert recs[0]["level"] == "medium" and "H" in recs[0]["flags"]
    assert "%s: action=pass score=3.6/8 symbols=TEST_A(1.0),TEST_B(2.5),TEST_POINT(0.1)" % qid \
        in p.log()
    # the message itself is unchanged: the records come after it
    env, msg = p.read_queue_file(qid)
    assert msg.endswith(message().encode())
    p.stop()


def test_levels_per_domain_and_the_mixed_recipient_rule(tmp_path):
    # 6 points: medium (tag 5, spam 8) tags, high (tag 3, spam 5) marks
    p = engine(tmp_path, {"testsym": {"emit": ["TEST_SCORE*6"]}})
    code, lines, _ = deliver(p, ["b@example.test", "c@" + HIGH])
    assert code == 250
    recs = records(p, queued_id(lines))
    assert [(r["idx"], r["disp"]) for r in recs] == [(0, "tag"), (1, "mark")]
    assert "S" in recs[0]["flags"] and "S" in recs[1]["flags"]
    line = [l for l in p.records(queued_id(lines)) if l.startswith("policy 1 ")][0]
    assert "prefix=+++SPAM+++%20" in line
    p.stop()


def test_kill_at_end_refuses_only_what_every_recipient_refuses(tmp_path):
    # 10 points: over high's kill (8), under medium's (12)
    p = engine(tmp_path, {"testsym": {"emit": ["TEST_SCORE*10"]}})
    code, lines, _ = deliver(p, ["c@" + HIGH])
    assert code == 550 and "5.7.1" in lines[0] and "score 10.0" in lines[0]
    ev = p.events("message.rejected")[-1]
    assert ev["stage"] == "data" and ev["symbols"] == {"TEST_SCORE": 10}
    code, lines, _ = deliver(p, ["b@example.test", "c@" + HIGH])
    assert code == 250  # one recipient would accept: accepted, never bounced
    recs = records(p, queued_id(lines))
    assert [r["disp"] for r in recs] == ["mark", "mark"]  # spam for medium; kill -> mark
    p.stop()


def test_a_score_known_at_rcpt_refuses_at_rcpt(tmp_path):
    p = engine(tmp_path, {"testsym": {"stages": ["rcpt"], "emit": ["TEST_SCORE*10"]}})
    code, lines, codes = deliver(p, ["c@" + HIGH, "b@example.test"])
    assert codes == [550, 250]
    assert code == 250
    recs = records(p, queued_id(lines))
    assert len(recs) == 1 and recs[0]["idx"] == 0 and recs[0]["disp"] == "mark"
    p.stop()


def test_mail_refusal_is_given_per_recipient_and_postmaster_bypasses(tmp_path):
    p = engine(tmp_path, {"testrule": {"stages": ["mail"], "verdict": "550 5.7.1 go away"}})
    code, lines, codes = deliver(p, ["b@example.test", "postmaster@example.test",
                                     "abuse@example.test"])
    assert codes == [550, 250, 250]
    assert code == 250
    assert "reject: RCPT from" in p.log() and "550 5.7.1 go away" in p.log()
    ev = p.events("message.rejected")[0]
    assert ev["stage"] == "rcpt" and ev["reason"] == "test"
    p.stop()


def test_refusal_now_at_helo_and_disconnect_at_connect(tmp_path):
    p = engine(tmp_path, {"testrule": {"stages": ["helo"], "verdict": "550 5.7.1 bad name",
                                       "verdict_kind": "now"}})
    r = Raw(p.port)
    assert r.reply()[0] == 220
    code, lines = r.cmd("EHLO client.example")
    assert code == 550 and "bad name" in lines[0]
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 503  # no HELO was accepted
    r.close()
    p.stop()

    p = engine(tmp_path, {"testrule": {"stages": ["connect"], "verdict": "421 4.7.0 not now",
                                       "verdict_kind": "disconnect"}})
    r = Raw(p.port)
    code, lines = r.reply()
    assert code == 421 and "not now" in lines[0]
    assert r.closed()
    p.stop()


def test_data_refusal_before_354(tmp_path):
    p = engine(tmp_path, {"testrule": {"stages": ["data"], "verdict": "554 5.7.1 no data"}})
    code, lines, codes = deliver(p, ["b@example.test"])
    assert codes == [250] and code == 554 and "no data" in lines[0]
    p.stop()


def test_deadline_accepts_or_defers_by_the_unsure_rule(tmp_path):
    # testsym: unsure accept; it never answers within the 300 ms deadline
    p = engine(tmp_path, {"testsym": {"stages": ["rcpt"], "hang": True}}, deadline="300ms")
    code, lines, codes = deliver(p, ["b@example.test"])
    assert codes == [250] and code == 250
    recs = records(p, queued_id(lines))
    assert "TESTSYM_TIMEOUT" in recs[0]["syms"]
    p.stop()
    # testrule: unsure defer
    p = engine(tmp_path, {"testrule": {"stages": ["rcpt"], "hang": True}}, deadline="300ms")
    code, lines, codes = deliver(p, ["b@example.test"])
    assert codes == [451]
    assert "451 4.3.0" in p.log()
    p.stop()


def test_pipelined_rcpt_batch_with_async_checks(tmp_path):
    p = engine(tmp_path, {"testsym": {"stages": ["rcpt"], "delay": "50ms",
                                      "emit_for": ["bad TEST_SCORE*20"]}})
    r = Raw(p.port)
    assert r.reply()[0] == 220
    assert r.cmd("EHLO client.example")[0] == 250
    r.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<a@example.test>\r\n"
           b"RCPT TO:<bad@example.test>\r\nRCPT TO:<c@example.test>\r\n")
    assert [r.reply()[0] for _ in range(4)] == [250, 250, 550, 250]
    r.close()
    p.stop()


def test_whitelist_and_blacklist(tmp_path):
    p = engine(tmp_path, {"testsym": {"emit": ["TEST_SCORE*9"]}},
               policy={"whitelist": ["friend@example.org"], "blacklist": ["@spam.example"]})
    code, lines, _ = deliver(p, ["b@example.test"], sender="friend@example.org")
    assert code == 250
    rec = records(p, queued_id(lines))[0]
    assert rec["disp"] == "pass" and "SENDER_WHITELISTED" in rec["syms"]
    code, lines, _ = deliver(p, ["b@example.test"], sender="x@spam.example")
    assert code == 250
    rec = records(p, queued_id(lines))[0]
    assert rec["disp"] == "mark" and "SENDER_BLACKLISTED" in rec["syms"]
    p.stop()


def test_plain_mail_through_the_shipped_inbound_profile_passes_with_score_0(tmp_path):
    # greylisting, recipient verification and backscatter protection are in the shipped
    # inbound profile but act only for domains that turn them on: plain mail passes
    p = Postern(tmp_path).start()
    code, lines, _ = deliver(p, ["b@example.test"])
    assert code == 250
    assert p.records(queued_id(lines)) == ["policy 0 pass 0 5 8 H medium"]
    p.stop()


def test_listener_keys_tls_auth_and_a_custom_profile(tmp_path, test_ca):
    over = {"policy": {"profiles": {"relaxed": {
        "direction": "submission",
        "checks": {"relay_access": {}, "submission_auth": {}, "testsym": {"emit": ["TEST_A"]}}}}}}
    p = Postern(tmp_path, test_ca, overrides=over, binary="postern-test")
    p.config["listeners"] += [
        {"name": "plain", "address": "127.0.0.1:%d" % p.ports["mx"], "profile": "inbound",
         "tls": "none"},
        {"name": "open", "address": "127.0.0.1:%d" % free_port(), "profile": "relaxed",
         "tls": "starttls", "auth": "optional"},
    ]
    del p.config["listeners"][0]  # the default mx listener: "plain" takes its port
    p.write_config()
    p.start()
    r = Raw(p.port)
    r.reply()
    code, lines = r.cmd("EHLO client.example")
    assert not any("STARTTLS" in ln for ln in lines) and not any("AUTH" in ln for ln in lines)
    assert r.cmd("STARTTLS")[0] == 454
    r.close()
    # auth optional on a submission profile: MAIL without a login passes submission_auth
    port = int(p.config["listeners"][-1]["address"].rsplit(":", 1)[1])
    r = Raw(port)
    r.reply()
    code, lines = r.cmd("EHLO client.example")
    assert any("STARTTLS" in ln for ln in lines)  # AUTH comes after it (auth.require_tls)
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<b@example.test>")[0] == 250
    assert r.cmd("RCPT TO:<x@elsewhere.example>")[0] == 554  # still no open relay
    r.close()
    # auth required (the shipped submission profile): 530 as before
    r = Raw(p.ports["submission"])
    r.reply()
    r.cmd("EHLO client.example")
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 530
    r.close()
    assert "listening on 127.0.0.1:%d (open, relaxed)" % port in p.log()
    p.stop()


def test_old_listener_configs_keep_working(tmp_path, test_ca):
    # only "profile", as before the tls and auth keys: postern -n -v shows what they became
    p = Postern(tmp_path, test_ca)
    for lst in p.config["listeners"]:
        lst.pop("tls", None)
        lst.pop("auth", None)
    p.write_config()
    out = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-v", "-f", p.config_path],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ls = json.loads(out.stdout)["listeners"]
    assert [(l["profile"], l["tls"], l["auth"]) for l in ls] == [
        ("inbound", "starttls", "off"), ("submission", "starttls", "required"),
        ("submissions", "implicit", "required")]


def test_a_login_whose_mail_is_refused_as_spam_again_and_again_is_suspended(
        tmp_path, test_ca, redis_server):
    from test_ratelimit_smtp import PASSWORD, USER, login
    from test_submission_auth import make_sasldb
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    sub = {"direction": "submission",
           "checks": {"submission_auth": {}, "sender_owner": {}, "relay_access": {},
                      "account": {}, "testsym": {"emit": ["TEST_SCORE*50"]}}}
    over = {"redis": {"socket": redis_server.socket}, "auth": {"sasldb": db, "senders": {}},
            "account": {"strikes": 2, "window": "1m"},
            "policy": {"profiles": {"submissions": sub}}}
    p = Postern(tmp_path, test_ca, overrides=over, binary="postern-test").start()
    try:
        def send():
            r = login(p.ports["submissions"])
            code = r.cmd("MAIL FROM:<%s>" % USER)[0]
            if code == 250:
                assert r.cmd("RCPT TO:<x@elsewhere.example>")[0] == 250
                assert r.cmd("DATA")[0] == 354
                r.send("From: %s\r\nTo: x@elsewhere.example\r\nSubject: buy\r\n\r\n"
                       "cheap\r\n.\r\n" % USER)
                code = r.reply()[0]
            r.close()
            return code
        assert send() == 550            # refused as spam: strike 1
        assert p.events("account.suspended") == []
        assert send() == 550            # strike 2: suspended
        # the strike is counted in Redis after the 550 was given: wait for its answer
        wait_for(lambda: len(p.events("account.suspended")) == 1, what="account.suspended")
        assert len(p.events("account.suspended")) == 1
        assert send() == 450            # 450 4.7.1 at MAIL from now on
        # what posternctl account release does (its own config would not know testsym)
        assert "suspended" in redis_server.cli("HGET", "pt:acct:{%s}" % USER, "reason") \
            or redis_server.cli("HGET", "pt:acct:{%s}" % USER, "reason") == "spam"
        redis_server.cli("DEL", "pt:acct:{%s}" % USER, "pt:acct:{%s}:strikes" % USER)
        assert send() == 550            # may send again (and is refused as spam again)
    finally:
        p.stop()


def test_a_suspension_written_by_another_node_stops_the_next_mail_at_once(
        tmp_path, test_ca, redis_server):
    # the node remembers that the login is active (no HGET per transaction), and the Redis
    # key watch makes a write by anyone else count from the next MAIL on, in the same session
    from test_ratelimit_smtp import PASSWORD, USER, login
    from test_submission_auth import make_sasldb
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(USER, PASSWORD)])
    sub = {"direction": "submission",
           "checks": {"submission_auth": {}, "sender_owner": {}, "relay_access": {},
                      "account": {}}}
    over = {"redis": {"socket": redis_server.socket}, "auth": {"sasldb": db, "senders": {}},
            "policy": {"profiles": {"submissions": sub}}}
    key = "pt:acct:{%s}" % USER
    p = Postern(tmp_path, test_ca, overrides=over).start()
    try:
        r = login(p.ports["submissions"])
        redis_server.cli("CONFIG", "RESETSTAT")
        for _ in range(5):
            assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
            assert r.cmd("RSET")[0] == 250
        stats = redis_server.cli("INFO", "commandstats")
        hgets = [int(re.search(r"calls=(\d+)", l).group(1)) for l in stats.splitlines()
                 if l.startswith("cmdstat_hget:")]
        assert sum(hgets) < 5, stats                          # asked, then remembered
        redis_server.cli("HSET", key, "suspended", "1", "reason", "spam", "since", "1")
        code, text = r.cmd("MAIL FROM:<%s>" % USER)
        assert code == 450 and "suspended" in text[0], text
        redis_server.cli("DEL", key)                            # posternctl account release
        assert r.cmd("MAIL FROM:<%s>" % USER)[0] == 250
        r.close()
    finally:
        p.stop()


def test_session_facts_for_the_dns_checks(tmp_path):
    # a CONNECT check that names the client (as rdns will): logs and Received: use it;
    # one that waits sees an early talker; HELO checks see the HELO name
    p = engine(tmp_path, {
        "testrule": {"stages": ["connect"], "session_fact": "rdns.name=client.example.net"},
        "testsym": {"stages": ["connect", "end"], "delay": "300ms",
                    "emit_if": ["smtpd.early_talk TEST_C", "smtpd.local_ip TEST_POINT"]}})
    r = Raw(p.port)
    r.send(b"EHLO early.example\r\n")  # before the banner
    assert r.reply()[0] == 220
    assert r.reply()[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<b@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(message().encode() + b".\r\n")
    code, lines = r.reply()
    r.close()
    assert code == 250
    qid = queued_id(lines)
    rec = records(p, qid)[0]
    assert "TEST_C" in rec["syms"] and "TEST_POINT" in rec["syms"]
    env, msg = p.read_queue_file(qid)
    assert env["client_name"] == "client.example.net"
    assert b"from early.example (client.example.net [127.0.0.1])" in msg
    assert "%s: client=client.example.net[127.0.0.1]" % qid in p.log()
    p.stop()


def test_a_session_that_goes_away_cancels_its_pending_checks(tmp_path):
    p = engine(tmp_path, {"testrule": {"stages": ["rcpt"], "hang": True},
                          "testsym": {"stages": ["connect"], "delay": "1500ms"}},
               deadline="3s", extra={"timeouts": {"close": "1s"}})
    # (a busy session reads nothing: it sees its client gone when the stage ends, here at
    # the deadline; one that is gone before the banner is freed by timeouts.close, which
    # cancels the CONNECT check)
    # gone while RCPT waits for a check
    r = Raw(p.port)
    r.reply()
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.org>")
    r.send(b"RCPT TO:<b@example.test>\r\n")
    r.close()
    # gone before the banner (CONNECT still running)
    Raw(p.port).close()
    wait_for(lambda: p.log().count("disconnect from") >= 3, timeout=15,
             what="both sessions ended")
    # the daemon goes on serving
    r = Raw(p.port)
    assert r.reply()[0] == 220
    r.close()
    p.stop()
