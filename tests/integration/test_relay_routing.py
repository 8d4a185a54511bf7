"""Recipients that could make a next hop relay, and the ones RFC 5321 makes us accept:
routing characters in local parts (%, !, a quoted @) refused from unauthenticated clients
unless the domain allows them, and a bare <postmaster> delivered to a real mailbox.
"""
import os
import subprocess

import pytest

from conftest import BUILD
from postern import Postern, Raw, queued_id, send_raw_message
from test_submission_auth import make_sasldb, plain

ROUTED = ["victim%other.test@example.test", '"victim@other.test"@example.test',
          '"victim%other.test"@example.test', "other.test!victim@example.test",
          "victim%other.test@backup.test"]


def rcpt_reply(p, rcpt, port=None):
    r = Raw(port or p.port)
    r.reply()
    r.cmd("EHLO client.example")
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    code, lines = r.cmd("RCPT TO:<%s>" % rcpt)
    r.close()
    return code, lines


@pytest.mark.parametrize("rcpt", ROUTED)
def test_routing_characters_are_refused_from_unauthenticated_clients(tmp_path, rcpt):
    p = Postern(tmp_path).start()
    code, lines = rcpt_reply(p, rcpt)
    assert code == 550 and "5.7.1" in lines[0], lines
    assert rcpt_reply(p, "victim@example.test")[0] == 250
    assert rcpt_reply(p, '"first last"@example.test')[0] == 250
    assert "reject: RCPT" in p.log()
    p.stop()


def test_a_domain_delivered_locally_may_allow_them(tmp_path):
    p = Postern(tmp_path, overrides={
        "domains": {"example.test": {"allow_routing_characters": True}},
        "transport": {"domains": {"example.test": {"route": "maildir:%s" % (tmp_path / "md")}}}}).start()
    for rcpt in ROUTED[:4]:
        assert rcpt_reply(p, rcpt)[0] == 250, rcpt
    code, lines = rcpt_reply(p, ROUTED[4])     # backup.test did not allow them
    assert code == 550, lines
    p.stop()


def test_allowing_them_for_a_domain_delivered_by_smtp_is_a_config_error(tmp_path):
    p = Postern(tmp_path, overrides={
        "domains": {"example.test": {"allow_routing_characters": True}},
        "transport": {"domains": {"example.test": {"route": "relay:[127.0.0.1]:2525"}}}})
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-f", p.config_path],
                       capture_output=True, text=True)
    assert r.returncode == 78
    assert "/domains/example.test: allow_routing_characters" in r.stderr, r.stderr


def test_authenticated_and_trusted_clients_may_use_them(tmp_path, test_ca, redis_server):
    user, password = "alice@example.test", "pw"
    db = str(tmp_path / "sasldb2")
    make_sasldb(db, [(user, password)])
    p = Postern(tmp_path, test_ca, overrides={
        "redis": {"socket": redis_server.socket}, "auth": {"sasldb": db},
        "relay": {"trusted_networks": ["127.0.0.2/32"]}}).start()
    r = Raw(p.ports["submissions"], tls=True)
    r.reply()
    r.cmd("EHLO client.example")
    assert r.cmd("AUTH PLAIN " + plain(user, password))[0] == 235
    assert r.cmd("MAIL FROM:<%s>" % user)[0] == 250
    assert r.cmd("RCPT TO:<%s>" % ROUTED[0])[0] == 250
    r.close()
    r = Raw(p.port, source="127.0.0.2")
    r.reply()
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.org>")
    assert r.cmd("RCPT TO:<%s>" % ROUTED[1])[0] == 250
    r.close()
    p.stop()


def test_bare_postmaster_goes_to_the_first_local_domain(tmp_path):
    p = Postern(tmp_path, overrides={
        "relay": {"local_domains": ["example.test", "second.test"]}}).start()
    r = Raw(p.port)
    r.reply()
    code, lines = send_raw_message(r, rcpts=("postmaster", "PostMaster"))
    assert code == 250, lines
    env, msg = p.read_queue_file(queued_id(lines))
    assert env["rcpt"] == ["postmaster@example.test", "postmaster@example.test"]
    p.stop()


def test_postmaster_domain_is_a_setting(tmp_path):
    p = Postern(tmp_path, overrides={
        "relay": {"local_domains": ["example.test", "second.test"],
                  "postmaster_domain": "second.test"}}).start()
    r = Raw(p.port)
    r.reply()
    code, lines = send_raw_message(r, rcpts=("postmaster",))
    env, _ = p.read_queue_file(queued_id(lines))
    assert env["rcpt"] == ["postmaster@second.test"]
    p.stop()
