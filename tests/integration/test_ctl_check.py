"""posternctl check: a message through a profile's checks offline, with the daemon's engine
(tools/posternctl_check.c): each stage's reply, each recipient's action, score, symbols and
headers, the facts; per-domain levels, per-user overrides from Redis, refusals at RCPT and
END, a suspended login at MAIL. Nothing is queued."""
import os
import subprocess

from conftest import BUILD
from postern import Postern

HAM = ("From: a@sender.example\nTo: x@example.test\nSubject: hello\n"
       "Date: Fri, 4 Dec 2026 10:00:00 +0000\nMessage-ID: <1@sender.example>\n\nhello\n")
GTUBE = HAM.replace("\n\nhello\n", "\n\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-"
                                    "TEST-EMAIL*C.34X\n")


def config(tmp_path, test_ca, redis_server, **extra):
    # the submission listeners (test_ca) make the daemon, and so posternctl check, use Redis
    over = {"redis": {"socket": redis_server.socket},
            "relay": {"local_domains": ["example.test", "strict.example.test"]},
            "domains": {"strict.example.test": {"level": "high"}},
            "policy": {"blacklist": ["@spam.example"], "disabled_checks": [],
                       "profiles": {"mx": {"direction": "inbound",
                                           "checks": {"relay_access": {}, "spam": {}}}}}}
    over.update(extra)
    return Postern(tmp_path, test_ca, overrides=over)


def check(p, tmp_path, text, *args):
    path = str(tmp_path / "msg.eml")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path, "check"] +
                          list(args) + [path], capture_output=True, text=True, timeout=60)


def lines(out, prefix):
    return [l for l in out.splitlines() if l.startswith(prefix)]


def test_ctl_check_gives_each_recipient_its_level_and_refuses_relaying(tmp_path, test_ca, redis_server):
    p = config(tmp_path, test_ca, redis_server)
    r = check(p, tmp_path, HAM.replace("Date:", "X-Date:"), "--profile", "mx", "--client",
              "192.0.2.7", "--helo", "client.example", "--from", "a@sender.example",
              "--rcpt", "x@example.test", "--rcpt", "y@strict.example.test",
              "--rcpt", "z@elsewhere.example")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("profile: mx (inbound)\nconnect: 220")
    assert "helo: 250 Ok\nmail: 250 2.1.0 Ok\n" in out
    assert "rcpt <x@example.test>: 250 2.1.5 Ok\n" in out
    assert ("rcpt <z@elsewhere.example>: 554 5.7.1 <z@elsewhere.example>: Relay access denied "
            "(check relay_access, reason relay)\n") in out
    assert "end: 250 2.0.0 Ok: queued as (not queued: posternctl check)\n" in out
    # MISSING_DATE (1.0): medium (tag 5) passes it, high (tag 3) too, both get the headers
    assert lines(out, "result <x@example.test>: ") == [
        "result <x@example.test>: action=pass score=1.0/8 symbols=MISSING_DATE(1.0)"]
    assert lines(out, "result <y@strict.example.test>: ") == [
        "result <y@strict.example.test>: action=pass score=1.0/5 symbols=MISSING_DATE(1.0)"]
    assert ("header <y@strict.example.test>: X-Spam-Status: No, score=1.0 required=3.0 "
            "tests=MISSING_DATE") in out
    assert "symbol <x@example.test>: MISSING_DATE 1.00" in out
    assert 'fact message.from = "a@sender.example"' in out
    assert "fact message.from_count = 1" in out
    assert not os.path.exists(os.path.join(p.spool, "queue")) or \
        os.listdir(os.path.join(p.spool, "queue")) == []


def test_ctl_check_sees_a_users_blacklist_set_in_redis(tmp_path, test_ca, redis_server):
    p = config(tmp_path, test_ca, redis_server)
    ctl = [os.path.join(BUILD, "posternctl"), "-f", p.config_path]
    assert subprocess.run(ctl + ["policy", "set", "x@example.test", "blacklist",
                                 '["@sender.example"]'], capture_output=True).returncode == 0
    try:
        r = check(p, tmp_path, HAM.replace("Date:", "X-Date:"), "--profile", "mx",
                  "--from", "a@sender.example", "--rcpt", "x@example.test",
                  "--rcpt", "w@example.test")
        assert r.returncode == 0, r.stderr
        assert lines(r.stdout, "result <x@example.test>: ")[0].startswith(
            "result <x@example.test>: action=mark score=1.0/")
        assert "SENDER_BLACKLISTED" in lines(r.stdout, "result <x@example.test>: ")[0]
        assert lines(r.stdout, "result <w@example.test>: ")[0].startswith(
            "result <w@example.test>: action=pass ")
    finally:
        subprocess.run(ctl + ["policy", "unset", "x@example.test", "all"], capture_output=True)


def test_ctl_check_shows_the_refusal_after_the_final_dot(tmp_path, test_ca, redis_server):
    p = config(tmp_path, test_ca, redis_server)
    r = check(p, tmp_path, GTUBE, "--profile", "mx", "--from", "a@sender.example",
              "--rcpt", "x@example.test")
    assert r.returncode == 1, r.stdout + r.stderr
    end = lines(r.stdout, "end: ")
    assert end[0].startswith("end: 550 5.7.1 Message refused as spam"), end
    assert "GTUBE" in end[1], end
    assert lines(r.stdout, "result ") == []


def test_ctl_check_refuses_a_suspended_login_at_mail(tmp_path, test_ca, redis_server):
    p = config(tmp_path, test_ca, redis_server, auth={"senders": {}})
    login = "news@example.test"
    redis_server.cli("HSET", "pt:acct:{%s}" % login, "suspended", "1", "reason", "spam")
    try:
        r = check(p, tmp_path, HAM, "--profile", "submission", "--auth", login,
                  "--from", login, "--rcpt", "r@elsewhere.example", "--skip", "ratelimit")
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stdout.startswith("profile: submission (submission), skipping ratelimit\n")
        mail = lines(r.stdout, "mail: ")
        assert mail[0].startswith("mail: 450 4.7.1 Error: this account is suspended"), mail
        assert lines(r.stdout, "rcpt ") == []
    finally:
        redis_server.cli("DEL", "pt:acct:{%s}" % login)
    r = check(p, tmp_path, HAM, "--profile", "submission", "--auth", login, "--from", login,
              "--rcpt", "r@elsewhere.example", "--skip", "ratelimit")
    assert "mail: 250 2.1.0 Ok" in r.stdout, r.stdout + r.stderr


def test_ctl_check_usage_and_unknown_profile(tmp_path, test_ca, redis_server):
    p = config(tmp_path, test_ca, redis_server)
    r = check(p, tmp_path, HAM, "--profile", "mx")             # no --rcpt
    assert r.returncode == 64 and "usage: posternctl check" in r.stderr
    r = check(p, tmp_path, HAM, "--profile", "nope", "--rcpt", "x@example.test")
    assert r.returncode == 78 and 'no profile "nope"' in r.stderr
