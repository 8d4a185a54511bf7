"""Greylisting only above a score (the level's greylist_score) and after DATA
(domains.D.greylist_stage "data"), through the daemon with a private Redis. The score
comes from the helo check without DNS (lookup off): a bare IP as HELO scores 2
(HELO_BARE_IP), a host name 0."""
import time

from postern import Postern, Raw


def node(tmp_path, redis_socket, domain):
    over = {
        "redis": {"socket": redis_socket},
        "policy": {
            "dns_skip_networks": [],    # the helo check must see the loopback client
            "levels": {"otp": {"greylist_score": 1.5}},
            "profiles": {"inbound": {"direction": "inbound", "checks": {
                "relay_access": {}, "helo": {"lookup": False}, "greylist": {}}}}},
        "domains": {"example.test": dict({"greylisting": True, "greylist_delay": "1s",
                                          "level": "otp"}, **domain)},
    }
    return Postern(tmp_path, overrides=over).start()


def send(p, helo, sender="alice@sender.example", to="bob@example.test", data=True):
    """(RCPT reply code, final reply code and text or None)."""
    r = Raw(p.port)
    try:
        r.reply()
        r.cmd("EHLO " + helo)
        assert r.cmd("MAIL FROM:<%s>" % sender)[0] == 250
        code, lines = r.cmd("RCPT TO:<%s>" % to)
        if code != 250 or not data:
            return code, " ".join(lines)
        assert r.cmd("DATA")[0] == 354
        r.send("Subject: code 123456\r\n\r\nyour one-time code\r\n.\r\n")
        code, lines = r.reply()
        return code, " ".join(lines)
    finally:
        r.close()


def test_only_recipients_scoring_above_the_level_threshold_are_greylisted(
        tmp_path, redis_server):
    p = node(tmp_path, redis_server.socket, {})
    try:
        assert send(p, "client.example", data=False)[0] == 250        # score 0: no delay
        code, text = send(p, "192.0.2.1", data=False)                  # score 2: greylisted
        assert code == 451 and "4.7.1 Greylisted, try again in 1 seconds" in text
        time.sleep(1.1)
        assert send(p, "192.0.2.1", data=False)[0] == 250
    finally:
        p.stop()


def test_greylisting_after_data_defers_the_message_and_the_retry_passes(
        tmp_path, redis_server):
    p = node(tmp_path, redis_server.socket, {"greylist_stage": "data"})
    try:
        # a clean one-time-password mail is not delayed at all
        code, text = send(p, "client.example")
        assert code == 250 and "queued as" in text
        # a suspicious one is accepted at RCPT, then deferred after the message
        code, text = send(p, "192.0.2.1", sender="carol@sender.example")
        assert code == 451 and "4.7.1 Greylisted, try again in 1 seconds" in text, text
        assert send(p, "192.0.2.1", sender="carol@sender.example")[0] == 451   # too early
        time.sleep(1.1)
        code, text = send(p, "192.0.2.1", sender="carol@sender.example")
        assert code == 250, text
        assert "action=greylist, reason=new" in p.log()
    finally:
        p.stop()
