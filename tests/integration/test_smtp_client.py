"""The outbound SMTP/LMTP client (relay/deliver/smtp_client*.c), driven by the smtpc helper against
smtp_sink.py on loopback: byte-exact bodies (dot-stuffing across chunk boundaries, 5 MB),
PIPELINING, per-recipient results, greetings and connect failures, STARTTLS policies and
certificate verification, AUTH, LMTP over TCP and a unix socket, 8BITMIME / SMTPUTF8 / SIZE
decisions, connection reuse with RSET, stage timeouts and cancellation.

Every stage timeout is short (--timeout-ms) where a test waits for one.
"""
import subprocess
import time

import pytest

from conftest import free_port, helper_path
from smtp_sink import SmtpSink

SHORT_MS = 300
RUN_TIMEOUT_S = 60


class Run:
    """Parsed smtpc output: the connection line, per-message recipient results, flags."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.conn = None
        self.msgs = [[]]
        self.lines = proc.stdout.splitlines()
        for line in self.lines:
            kind, _, rest = line.partition(" ")
            if kind == "conn":
                self.conn = self._fields(rest)
            elif kind == "rcpt":
                self.msgs[-1].append(self._fields(rest))
            elif kind == "msg" and rest.endswith(" done"):
                self.msgs.append([])
        self.msgs.pop()

    @staticmethod
    def _fields(rest):
        head, _, text = rest.partition(" text=")
        parts = head.split()
        f = {"text": text}
        pos = [p for p in parts if "=" not in p]
        f.update(p.split("=", 1) for p in parts if "=" in p)
        if pos and pos[0] in ("ok", "fail"):
            f["result"] = pos.pop(0)
        if len(pos) == 3:
            f["addr"] = pos.pop(0)
        if len(pos) == 2:
            f["code"], f["enh"] = int(pos[0]), pos[1]
        return f

    def rcpt(self, addr, msg=0):
        return next(r for r in self.msgs[msg] if r["addr"] == addr)


def smtpc(sink_or_addr, *args, msg, sender="a@client.test", rcpts=("b@sink.test",)):
    addr = sink_or_addr if isinstance(sink_or_addr, str) else sink_or_addr.address()
    cmd = [helper_path("smtpc"), "--connect", addr, "--from", sender, "--msg", str(msg)]
    for r in rcpts:
        cmd += ["--to", r]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    run = Run(proc)
    assert run.rc == 0 and "BUG" not in run.out, run.out + run.err
    return run


@pytest.fixture
def sinks(tmp_path):
    made = []

    def make(**options):
        s = SmtpSink(tmp_path / ("sink%d" % len(made)), **options).start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


@pytest.fixture
def body(tmp_path):
    def write(data, name="msg.eml"):
        p = tmp_path / name
        p.write_bytes(data)
        return p
    return write


DOTS = (b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nplain\r\n. \r\n"
        b"...\r\n.x.y.\r\nlast\r\n")


# ---- bodies ----------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk", ["1", "7", "65536"])
def test_body_is_byte_exact_with_dot_lines_across_chunk_boundaries(sinks, body, chunk):
    sink = sinks()
    run = smtpc(sink, "--data-chunk", chunk, "--prepend", "X-Postern: test", msg=body(DOTS))
    assert run.conn["result"] == "ok" and run.conn["tls"] == "none"
    assert run.rcpt("b@sink.test")["status"] == "sent"
    (m,) = sink.wait_messages(1)
    assert m.data == b"X-Postern: test\r\n" + DOTS
    assert m.mail_from == "a@client.test" and m.rcpts == ["b@sink.test"]


def test_empty_body_sends_only_the_end_of_data(sinks, body):
    sink = sinks()
    run = smtpc(sink, msg=body(b""))
    assert run.rcpt("b@sink.test")["status"] == "sent"
    assert sink.wait_messages(1)[0].data == b""


def test_addresses_with_line_breaks_are_refused(sinks, body):
    sink = sinks()
    run = smtpc(sink, msg=body(DOTS), rcpts=("b@sink.test>\r\nRSET\r\nRCPT TO:<c@sink.test",))
    assert "msg 1 unusable" in run.lines
    (conn,) = sink.wait_connections(1)
    assert conn.verbs() == ["EHLO"]


def test_body_is_read_from_the_offset_given(sinks, body):
    sink = sinks()
    junk = b"spool record header that is not part of the message\n"
    smtpc(sink, "--offset", str(len(junk)), msg=body(junk + DOTS))
    assert sink.wait_messages(1)[0].data == DOTS


def test_large_5mb_body_is_byte_exact(sinks, body):
    sink = sinks()
    line = b"%07d .. a line of a large message with some text in it, seventy-odd bytes\r\n"
    data = b"Subject: big\r\n\r\n" + b"".join(
        (b"." if i % 50 == 0 else b"") + line % i for i in range(5 * 1024 * 1024 // 80))
    assert len(data) > 5 * 1000 * 1000
    run = smtpc(sink, msg=body(data))
    assert run.rcpt("b@sink.test")["status"] == "sent"
    m = sink.wait_messages(1)[0]
    assert len(m.data) == len(data) and m.data == data
    assert "SIZE=%d" % len(data) not in m.mail_params   # the sink offers no SIZE by default


# ---- pipelining and results ------------------------------------------------------------------

def test_pipelining_sends_mail_every_rcpt_and_data_in_one_batch(sinks, body):
    sink = sinks()
    smtpc(sink, msg=body(DOTS), rcpts=("b@sink.test", "c@sink.test", "d@sink.test"))
    (conn,) = sink.wait_connections(1)
    batches = conn.batch_of("MAIL") + conn.batch_of("RCPT") + conn.batch_of("DATA")
    assert len(batches) == 5 and len(set(batches)) == 1


def test_without_pipelining_commands_wait_for_replies(sinks, body):
    sink = sinks(pipelining=False)
    run = smtpc(sink, msg=body(DOTS), rcpts=("b@sink.test", "c@sink.test"))
    assert [r["status"] for r in run.msgs[0]] == ["sent", "sent"]
    (conn,) = sink.wait_connections(1)
    batches = conn.batch_of("MAIL") + conn.batch_of("RCPT") + conn.batch_of("DATA")
    assert len(set(batches)) == 4


def test_per_recipient_results_mix_sent_temporary_and_permanent(sinks, body):
    sink = sinks(rcpt_replies={"bad@sink.test": "550 5.1.1 no such user",
                               "busy@sink.test": "450 4.2.0 busy, try later"})
    run = smtpc(sink, msg=body(DOTS), rcpts=("b@sink.test", "bad@sink.test", "busy@sink.test"))
    ok, bad, busy = (run.rcpt(a) for a in ("b@sink.test", "bad@sink.test", "busy@sink.test"))
    assert (ok["code"], ok["enh"], ok["status"], ok["stage"]) == (250, "2.0.0", "sent", "data-end")
    assert ok["text"].startswith("Ok: queued as")
    assert (bad["code"], bad["enh"], bad["status"], bad["stage"]) == (550, "5.1.1", "permfail", "rcpt")
    assert bad["text"] == "no such user" and bad["local"] == "0" and bad["session"] == "0"
    assert (busy["code"], busy["enh"], busy["status"], busy["stage"]) == (450, "4.2.0", "tempfail", "rcpt")
    assert sink.wait_messages(1)[0].rcpts == ["b@sink.test"]


def test_refused_mail_fails_every_recipient(sinks, body):
    sink = sinks(mail_reply="451 4.3.0 try again later")
    run = smtpc(sink, msg=body(DOTS), rcpts=("b@sink.test", "c@sink.test"))
    for r in run.msgs[0]:
        assert (r["code"], r["status"], r["stage"]) == (451, "tempfail", "mail")
    assert sink.messages() == []


def test_reply_after_dot_applies_to_every_accepted_recipient(sinks, body):
    sink = sinks(data_replies=["554 5.7.1 message refused"],
                 rcpt_replies={"bad@sink.test": "550 5.1.1 no"})
    run = smtpc(sink, msg=body(DOTS), rcpts=("b@sink.test", "bad@sink.test", "c@sink.test"))
    for a in ("b@sink.test", "c@sink.test"):
        r = run.rcpt(a)
        assert (r["code"], r["enh"], r["status"], r["stage"]) == (554, "5.7.1", "permfail", "data-end")
    assert run.rcpt("bad@sink.test")["stage"] == "rcpt"


# ---- greeting, EHLO, connect ---------------------------------------------------------------------

def test_421_greeting_is_a_temporary_session_failure(sinks, body):
    sink = sinks(greeting="421 4.3.2 busy, come back later")
    run = smtpc(sink, msg=body(DOTS))
    c = run.conn
    assert c["result"] == "fail" and (c["code"], c["enh"]) == (421, "4.3.2")
    assert (c["status"], c["stage"], c["session"], c["local"]) == ("tempfail", "greeting", "1", "0")
    assert run.msgs == []


def test_554_greeting_is_permanent_for_this_host_and_gets_a_quit(sinks, body):
    sink = sinks(greeting="554 5.3.2 no service here")
    run = smtpc(sink, msg=body(DOTS))
    assert (run.conn["code"], run.conn["status"], run.conn["session"]) == (554, "permfail", "1")
    (conn,) = sink.wait_connections(1)
    assert conn.verbs() == ["QUIT"]


def test_refused_connection_is_a_temporary_connect_failure(body):
    run = smtpc("127.0.0.1:%d" % free_port(), msg=body(DOTS))
    c = run.conn
    assert (c["result"], c["code"], c["enh"], c["status"]) == ("fail", 451, "4.4.1", "tempfail")
    assert (c["stage"], c["local"], c["session"]) == ("connect", "1", "1")
    assert "refused" in c["text"]


def test_missing_unix_socket_is_a_connect_failure(tmp_path, body):
    run = smtpc("unix:" + str(tmp_path / "nobody.sock"), "--lmtp", msg=body(DOTS))
    assert (run.conn["result"], run.conn["stage"], run.conn["status"]) == ("fail", "connect", "tempfail")


def test_ehlo_refused_falls_back_to_helo(sinks, body):
    sink = sinks(ehlo_reply="502 5.5.2 EHLO not implemented")
    run = smtpc(sink, msg=body(DOTS), rcpts=("b@sink.test", "c@sink.test"))
    assert [r["status"] for r in run.msgs[0]] == ["sent", "sent"]
    (conn,) = sink.wait_connections(1)
    assert conn.verbs()[:3] == ["EHLO", "HELO", "MAIL"]
    assert len(set(conn.batch_of("RCPT"))) == 2      # no PIPELINING after HELO


# ---- STARTTLS ----------------------------------------------------------------------------------

def tls_sink(sinks, test_ca, **kw):
    return sinks(tls=(test_ca.cert, test_ca.key), **kw)


def test_opportunistic_tls_encrypts_when_offered(sinks, body, test_ca):
    sink = tls_sink(sinks, test_ca, starttls="optional")
    run = smtpc(sink, "--tls", "opportunistic", msg=body(DOTS))
    assert run.conn["tls"] == "TLSv1.3" and run.conn["verified"] == "0"
    m = sink.wait_messages(1)[0]
    assert m.tls and m.data == DOTS
    (conn,) = sink.wait_connections(1)
    assert [line for _, line, tls in conn.commands if not tls] == [
        "EHLO client.postern.test", "STARTTLS"]
    assert conn.verbs()[2] == "EHLO" and conn.plaintext_after_starttls == 0


def test_plaintext_injected_after_the_starttls_reply_is_discarded(sinks, body, test_ca):
    inject = "250-PIPELINING\r\n250 AUTH PLAIN\r\n"
    sink = tls_sink(sinks, test_ca, starttls="optional", starttls_inject=inject)
    run = smtpc(sink, "--tls", "required", msg=body(DOTS))
    assert run.conn["tls"] == "TLSv1.3" and run.rcpt("b@sink.test")["status"] == "sent"
    assert "discarding %d bytes received after the reply to STARTTLS" % len(inject) in run.err


def test_large_body_over_starttls_is_byte_exact(sinks, body, test_ca):
    sink = tls_sink(sinks, test_ca, starttls="optional")
    data = b"Subject: big\r\n\r\n" + b"".join(
        b"%s%06d the quick brown fox jumps over the lazy dog\r\n" % (b"." * (i % 3), i)
        for i in range(100000))
    run = smtpc(sink, "--tls", "required", msg=body(data))
    assert run.rcpt("b@sink.test")["status"] == "sent"
    assert sink.wait_messages(1)[0].data == data


def test_opportunistic_tls_goes_plaintext_when_not_offered(sinks, body):
    sink = sinks()
    run = smtpc(sink, "--tls", "opportunistic", msg=body(DOTS))
    assert run.conn["tls"] == "none" and run.rcpt("b@sink.test")["status"] == "sent"


def test_required_tls_without_starttls_fails_before_any_mail(sinks, body):
    sink = sinks()
    run = smtpc(sink, "--tls", "required", msg=body(DOTS))
    c = run.conn
    assert (c["result"], c["code"], c["enh"], c["status"]) == ("fail", 451, "4.7.4", "tempfail")
    assert (c["stage"], c["local"], c["session"]) == ("starttls", "1", "1")
    (conn,) = sink.wait_connections(1)
    assert conn.verbs() == ["EHLO", "QUIT"]


def test_required_tls_with_starttls_delivers(sinks, body, test_ca):
    sink = tls_sink(sinks, test_ca, starttls="required")
    run = smtpc(sink, "--tls", "required", msg=body(DOTS))
    assert run.rcpt("b@sink.test")["status"] == "sent"
    assert sink.wait_messages(1)[0].tls


def test_verification_with_the_test_ca_and_right_name_succeeds(sinks, body, test_ca):
    sink = tls_sink(sinks, test_ca, starttls="optional")
    for name in ("localhost", "127.0.0.1"):
        run = smtpc(sink, "--tls", "required", "--verify", "--cafile", test_ca.ca_cert,
                    "--servername", name, msg=body(DOTS))
        assert run.conn["verified"] == "1", run.err
        assert "Verified TLS connection established" in run.err


@pytest.mark.parametrize("extra,why", [
    (("--cafile", "CA", "--servername", "wrong.example"), "hostname mismatch"),
    (("--servername", "localhost"), "unable to get local issuer certificate"),
])
def test_verification_failure_ends_the_session_before_mail(sinks, body, test_ca, extra, why):
    sink = tls_sink(sinks, test_ca, starttls="optional")
    args = [test_ca.ca_cert if a == "CA" else a for a in extra]
    run = smtpc(sink, "--tls", "opportunistic", "--verify", *args, msg=body(DOTS))
    c = run.conn
    assert (c["result"], c["code"], c["enh"], c["status"]) == ("fail", 454, "4.7.5", "tempfail")
    assert c["stage"] == "starttls" and why in c["text"]
    (conn,) = sink.wait_connections(1)
    assert "MAIL" not in conn.verbs()


# ---- AUTH --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mechs", ["PLAIN LOGIN", "LOGIN"])
def test_auth_over_starttls(sinks, body, test_ca, mechs):
    sink = tls_sink(sinks, test_ca, starttls="optional", auth_users={"alice": "s3cret"},
                    auth_mechs=mechs)
    run = smtpc(sink, "--tls", "required", "--auth", "alice:s3cret", msg=body(DOTS))
    assert run.rcpt("b@sink.test")["status"] == "sent"
    m = sink.wait_messages(1)[0]
    assert m.auth_user == "alice" and m.tls
    (conn,) = sink.wait_connections(1)
    assert [line.split()[1] for _, line, _ in conn.commands if line.startswith("AUTH")] == \
        [mechs.split()[0]]


def test_auth_refused_is_a_temporary_failure(sinks, body, test_ca):
    sink = tls_sink(sinks, test_ca, starttls="optional", auth_users={"alice": "s3cret"})
    run = smtpc(sink, "--tls", "required", "--auth", "alice:wrong", msg=body(DOTS))
    c = run.conn
    assert (c["result"], c["code"], c["status"], c["stage"]) == ("fail", 535, "tempfail", "auth")
    assert sink.messages() == []


def test_credentials_are_not_sent_without_tls_unless_allowed(sinks, body):
    sink = sinks(auth_users={"alice": "s3cret"}, auth_requires_tls=False)
    run = smtpc(sink, "--auth", "alice:s3cret", msg=body(DOTS))
    c = run.conn
    assert (c["result"], c["code"], c["enh"], c["stage"], c["local"]) == \
        ("fail", 451, "4.7.0", "auth", "1")
    (conn,) = sink.wait_connections(1)
    assert "AUTH" not in conn.verbs()
    run = smtpc(sink, "--auth", "alice:s3cret", "--auth-plaintext", msg=body(DOTS))
    assert run.rcpt("b@sink.test")["status"] == "sent"
    assert sink.wait_messages(1)[0].auth_user == "alice"


def test_credentials_are_never_sent_over_an_unverified_session_when_verify_is_asked(
        sinks, body):
    """With --verify, not even --auth-plaintext lets the password go over a session whose
    certificate was not verified (here: no TLS at all)."""
    sink = sinks(auth_users={"alice": "s3cret"}, auth_requires_tls=False)
    run = smtpc(sink, "--verify", "--auth", "alice:s3cret", "--auth-plaintext", msg=body(DOTS))
    c = run.conn
    assert (c["result"], c["code"], c["enh"], c["stage"], c["local"]) == \
        ("fail", 451, "4.7.5", "auth", "1")
    assert "certificate is not verified" in c["text"]
    (conn,) = sink.wait_connections(1)
    assert "AUTH" not in conn.verbs() and sink.messages() == []


# ---- LMTP --------------------------------------------------------------------------------------

LMTP_RCPTS = ("b@sink.test", "full@sink.test", "gone@sink.test", "nobody@sink.test")


def lmtp_sink(sinks, **kw):
    return sinks(lmtp=True, rcpt_replies={"nobody@sink.test": "550 5.1.1 unknown user"},
                 lmtp_replies={"full@sink.test": "452 4.2.2 mailbox full",
                               "gone@sink.test": "554 5.2.1 mailbox disabled"}, **kw)


def check_lmtp(run, sink):
    got = {a: (run.rcpt(a)["code"], run.rcpt(a)["status"], run.rcpt(a)["stage"])
           for a in LMTP_RCPTS}
    assert got == {"b@sink.test": (250, "sent", "data-end"),
                   "full@sink.test": (452, "tempfail", "data-end"),
                   "gone@sink.test": (554, "permfail", "data-end"),
                   "nobody@sink.test": (550, "permfail", "rcpt")}
    m = sink.wait_messages(1)[0]
    assert m.rcpts == ["b@sink.test"] and m.data == DOTS
    (conn,) = sink.wait_connections(1)
    assert conn.verbs()[0] == "LHLO"


def test_lmtp_over_tcp_gives_per_recipient_results(sinks, body):
    sink = lmtp_sink(sinks)
    check_lmtp(smtpc(sink, "--lmtp", msg=body(DOTS), rcpts=LMTP_RCPTS), sink)


def test_lmtp_over_unix_socket(sinks, body, tmp_path):
    sink = lmtp_sink(sinks, unix_path=str(tmp_path / "lmtp.sock"))
    run = smtpc(sink, "--lmtp", "--host", "mailstore", msg=body(DOTS), rcpts=LMTP_RCPTS)
    assert run.conn["relay"] == "mailstore[%s]" % sink.path
    check_lmtp(run, sink)


# ---- 8BITMIME, SMTPUTF8, SIZE ----------------------------------------------------------------------

EIGHT_BIT = "Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n.\r\n".encode()


def test_8bit_body_to_a_server_without_8bitmime_fails_permanently_unsent(sinks, body):
    sink = sinks(eightbitmime=False)
    run = smtpc(sink, "--8bit", msg=body(EIGHT_BIT), rcpts=("b@sink.test", "c@sink.test"))
    for r in run.msgs[0]:
        assert (r["code"], r["enh"], r["status"], r["stage"], r["local"]) == \
            (554, "5.6.3", "permfail", "mail", "1")
        assert "conversion required but not supported" in r["text"]
    (conn,) = sink.wait_connections(1)
    assert "MAIL" not in conn.verbs() and sink.messages() == []


def test_8bit_flag_on_a_7bit_clean_body_sends_it_unchanged(sinks, body):
    sink = sinks(eightbitmime=False)
    run = smtpc(sink, "--8bit", "--data-chunk", "5", msg=body(DOTS))
    assert run.rcpt("b@sink.test")["status"] == "sent"
    m = sink.wait_messages(1)[0]
    assert m.data == DOTS and not any(p.upper().startswith("BODY=") for p in m.mail_params)


def test_8bit_body_goes_with_body_8bitmime_when_offered(sinks, body):
    sink = sinks()
    smtpc(sink, "--8bit", msg=body(EIGHT_BIT))
    m = sink.wait_messages(1)[0]
    assert "BODY=8BITMIME" in m.mail_params and m.data == EIGHT_BIT


UTF8_HEADER = ("From: a@client.test\r\nTo: b@sink.test\r\nSubject: J\u00f6rg's caf\u00e9\r\n"
               "\r\nbody\r\n").encode()
UTF8_BODY_ONLY = "Subject: plain\r\n\r\nd\u00e9j\u00e0 vu\r\n".encode()


def check_smtputf8_refused(run, sink, rcpt="b@sink.test"):
    r = run.rcpt(rcpt)
    assert (r["code"], r["enh"], r["status"], r["stage"], r["local"]) == \
        (553, "5.6.7", "permfail", "mail", "1")
    assert "SMTPUTF8 is required, but was not offered by host" in r["text"]
    (conn,) = sink.wait_connections(1)
    assert "MAIL" not in conn.verbs() and sink.messages() == []


@pytest.mark.parametrize("lmtp", [False, True])
def test_smtputf8_flag_on_an_ascii_message_needs_nothing_from_the_server(sinks, body, lmtp):
    """The client gave SMTPUTF8 but nothing in the envelope or the header is non-ASCII:
    the message goes without the parameter, to a server that offers SMTPUTF8 or not
    (Dovecot's LMTP never does)."""
    extra = ("--lmtp",) if lmtp else ()
    for offered in (False, True):
        sink = sinks(smtputf8=offered, lmtp=lmtp)
        run = smtpc(sink, "--smtputf8", *extra, msg=body(DOTS))
        assert run.rcpt("b@sink.test")["status"] == "sent"
        m = sink.wait_messages(1)[0]
        assert m.data == DOTS and "SMTPUTF8" not in [p.upper() for p in m.mail_params]


@pytest.mark.parametrize("chunk", ["7", "65536"])
def test_utf8_header_needs_smtputf8(sinks, body, chunk):
    """A non-ASCII header byte (found across chunk boundaries) needs SMTPUTF8: refused with
    553 5.6.7 before MAIL when the server lacks it, sent with the parameter when offered."""
    sink = sinks()
    run = smtpc(sink, "--smtputf8", "--data-chunk", chunk, msg=body(UTF8_HEADER))
    check_smtputf8_refused(run, sink)
    sink = sinks(smtputf8=True)
    smtpc(sink, "--smtputf8", "--data-chunk", chunk, msg=body(UTF8_HEADER))
    m = sink.wait_messages(1)[0]
    assert "SMTPUTF8" in m.mail_params and m.data == UTF8_HEADER


def test_utf8_in_a_prepended_header_needs_smtputf8(sinks, body):
    sink = sinks()
    run = smtpc(sink, "--smtputf8", "--prepend", "X-Name: Ren\u00e9", msg=body(DOTS))
    check_smtputf8_refused(run, sink)


def test_utf8_in_the_body_only_needs_8bitmime_not_smtputf8(sinks, body):
    sink = sinks()
    run = smtpc(sink, "--smtputf8", "--8bit", msg=body(UTF8_BODY_ONLY))
    assert run.rcpt("b@sink.test")["status"] == "sent"
    m = sink.wait_messages(1)[0]
    assert m.mail_params == ["BODY=8BITMIME"] and m.data == UTF8_BODY_ONLY


@pytest.mark.parametrize("lmtp", [False, True])
def test_utf8_address_needs_smtputf8_even_unflagged(sinks, body, lmtp):
    extra = ("--lmtp",) if lmtp else ()
    rcpt = "j\u00f6rg@sink.test"
    sink = sinks(lmtp=lmtp)
    run = smtpc(sink, *extra, msg=body(DOTS), rcpts=(rcpt,))
    check_smtputf8_refused(run, sink, rcpt)
    sink = sinks(smtputf8=True, lmtp=lmtp)
    smtpc(sink, *extra, msg=body(DOTS), rcpts=(rcpt,))
    m = sink.wait_messages(1)[0]
    assert "SMTPUTF8" in m.mail_params and m.rcpts == [rcpt]


def test_size_is_announced_and_too_big_fails_before_mail(sinks, body):
    sink = sinks(size=10000)
    smtpc(sink, "--prepend", "X-A: b", msg=body(DOTS))
    assert "SIZE=%d" % (len(DOTS) + len("X-A: b\r\n")) in sink.wait_messages(1)[0].mail_params
    big = body(b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 200, name="big.eml")
    run = smtpc(sink, msg=big)
    r = run.rcpt("b@sink.test")
    assert (r["code"], r["enh"], r["status"], r["stage"], r["local"]) == \
        (552, "5.3.4", "permfail", "mail", "1")
    conns = sink.wait_connections(2)
    assert "MAIL" not in conns[1].verbs()


# ---- connection reuse ----------------------------------------------------------------------------

def test_one_connection_carries_three_messages(sinks, body):
    sink = sinks()
    run = smtpc(sink, "--repeat", "3", msg=body(DOTS))
    assert len(run.msgs) == 3 and all(m[0]["status"] == "sent" for m in run.msgs)
    msgs = sink.wait_messages(3)
    assert [m.data for m in msgs] == [DOTS] * 3
    (conn,) = sink.wait_connections(1)
    assert conn.verbs().count("MAIL") == 3 and "RSET" not in conn.verbs()
    assert conn.verbs()[-1] == "QUIT" and conn.quit


def test_rset_before_the_next_message_after_a_failed_transaction(sinks, body):
    sink = sinks(rcpt_replies={"bad@sink.test": "550 5.1.1 no such user"})
    run = smtpc(sink, "--repeat", "2", msg=body(DOTS), rcpts=("bad@sink.test",))
    assert [m[0]["code"] for m in run.msgs] == [550, 550]
    (conn,) = sink.wait_connections(1)
    verbs = conn.verbs()
    assert verbs.index("RSET") < len(verbs) - 1 - verbs[::-1].index("MAIL")


# ---- timeouts and cancellation --------------------------------------------------------------------

@pytest.mark.parametrize("point,stage", [("greeting", "greeting"), ("ehlo", "ehlo"),
                                         ("rcpt", "rcpt"), ("data-end", "data-end")])
def test_stalled_server_times_out_with_a_temporary_failure(sinks, body, point, stage):
    sink = sinks(stall=point)
    start = time.monotonic()
    run = smtpc(sink, "--timeout-ms", str(SHORT_MS), msg=body(DOTS))
    assert time.monotonic() - start < 5
    r = run.conn if run.conn["result"] == "fail" else run.rcpt("b@sink.test")
    assert (r["code"], r["enh"], r["status"], r["stage"], r["session"]) == \
        (451, "4.4.2", "tempfail", stage, "1")
    assert "timed out" in r["text"]


def test_server_that_stops_reading_the_body_times_out(sinks, body):
    sink = sinks(stall="body")
    data = b"Subject: big\r\n\r\n" + b"x" * 78 * 400000      # more than the socket buffers
    start = time.monotonic()
    run = smtpc(sink, "--timeout-ms", str(SHORT_MS), msg=body(data))
    assert time.monotonic() - start < 5
    r = run.rcpt("b@sink.test")
    assert (r["code"], r["status"], r["stage"], r["session"]) == (451, "tempfail", "data", "1")
    assert "timed out while sending message body" in r["text"]


def test_cancel_during_a_transaction_runs_no_callback(sinks, body):
    sink = sinks(stall="data-end")
    start = time.monotonic()
    run = smtpc(sink, "--cancel-after-ms", "300", msg=body(DOTS))
    assert time.monotonic() - start < 5
    assert run.lines[-1] == "cancelled" and run.msgs == []
    sink.wait_connections(1)          # the client's socket was closed at once


def test_cancel_while_connecting_runs_no_callback(sinks, body):
    sink = sinks(stall="greeting")
    run = smtpc(sink, "--cancel-after-ms", "100", msg=body(DOTS))
    assert run.lines == ["cancelled"]


# ---- CHUNKING / BDAT (RFC 3030) --------------------------------------------------------------

@pytest.mark.parametrize("chunk", ["7", "65536"])
def test_chunking_sends_one_bdat_with_the_exact_bytes(sinks, body, chunk):
    sink = sinks(chunking=True)
    data = DOTS + b"..no final newline"
    run = smtpc(sink, "--data-chunk", chunk, "--prepend", "X-Postern: test", msg=body(data),
                rcpts=("b@sink.test", "c@sink.test"))
    assert [r["status"] for r in run.msgs[0]] == ["sent", "sent"]
    (m,) = sink.wait_messages(1)
    assert m.data == b"X-Postern: test\r\n" + data       # not stuffed, nothing added
    assert m.chunks == [len(m.data)]
    (conn,) = sink.wait_connections(1)
    assert "DATA" not in conn.verbs()
    assert any(line == "BDAT %d LAST" % len(m.data) for _, line, _ in conn.commands)


def test_chunking_can_be_turned_off(sinks, body):
    sink = sinks(chunking=True)
    smtpc(sink, "--no-chunking", msg=body(DOTS))
    (m,) = sink.wait_messages(1)
    assert m.data == DOTS and m.chunks is None


def test_chunking_without_pipelining_and_refused_recipients(sinks, body):
    sink = sinks(chunking=True, pipelining=False, rcpt_replies={"x@sink.test": "550 5.1.1 no"})
    run = smtpc(sink, msg=body(DOTS), rcpts=("x@sink.test", "b@sink.test"))
    assert run.rcpt("x@sink.test")["status"] == "permfail"
    assert run.rcpt("b@sink.test")["status"] == "sent"
    assert sink.wait_messages(1)[0].data == DOTS
    # nobody accepted: no BDAT at all, and RSET before the next message
    sink2 = sinks(chunking=True, rcpt_replies={"x@sink.test": "550 5.1.1 no"})
    run = smtpc(sink2, "--repeat", "2", msg=body(DOTS), rcpts=("x@sink.test",))
    (conn,) = sink2.wait_connections(1)
    assert not any(v == "BDAT" for v in conn.verbs())
    assert "RSET" in conn.verbs()


def test_chunking_reply_to_bdat_last_is_the_result(sinks, body):
    sink = sinks(chunking=True, data_replies=["452 4.3.1 full", "554 5.7.1 no"])
    run = smtpc(sink, "--repeat", "3", msg=body(DOTS))
    assert [(m[0]["status"], m[0]["stage"]) for m in run.msgs] == [
        ("tempfail", "data-end"), ("permfail", "data-end"), ("sent", "data-end")]
    assert len(sink.wait_messages(1)) == 1
