"""Start the real Postern daemon for a test, and talk raw SMTP to it.

Postern(tmp_path, ca, overrides) writes a config with free loopback ports, a spool in the
temp dir and the test CA's certificate, starts `postern -d` and waits for its listeners;
events(type) reads the alert events it logged. Raw(host, port) is a minimal line client
for protocol tests that real clients (swaks, curl, smtplib) cannot express: pipelining,
bare LF, over-long lines, STARTTLS injection.
"""
import copy
import json
import os
import signal as sig_mod
import socket
import ssl
import subprocess
import time

from conftest import BUILD, free_port, wait_for


def deep_merge(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


# Every daemon started by a test, so that the autouse fixture in conftest.py can stop
# those a failing test left running (stop_leftover_daemons).
RUNNING = []


class Postern:
    def __init__(self, tmp_path, ca=None, overrides=None, name="postern", binary="postern"):
        self.binary = binary  # "postern-test": with the test-only policy checks
        self.dir = str(tmp_path / name)
        os.makedirs(self.dir, exist_ok=True)
        self.ports = {"mx": free_port(), "submission": free_port(), "submissions": free_port()}
        self.spool = os.path.join(self.dir, "spool")
        self.config_path = os.path.join(self.dir, "postern.json")
        self.log_path = os.path.join(self.dir, "postern.log")
        cfg = {
            "hostname": "mx.test.example",
            "spool_dir": self.spool,
            "workers": 2,
            # tests run as root in throwaway temp dirs; test_privileges.py drops to a user
            "privileges": {"run_as_root": True},
            "relay": {"local_domains": ["example.test"], "backup_domains": ["backup.test"]},
            # accepted mail stays queued (no delivery, no DNS off loopback) unless a test
            # turns delivery on: test_delivery.py sets {"queue": {"paused": False}}; the
            # primary MX of backup.test is probed only by the tests that ask for it
            "queue": {"paused": True, "backup_probe_interval": "0"},
            # no signature database on a test machine: the virus tests turn scanning on
            # with their own (virusdb.py)
            "virus": {"enabled": False},
            # the DMARC look-up of domains whose mail leaves unsigned would ask the system's
            # resolver: only test_dkim_signing.py turns it on, with its test DNS server
            "dkim": {"warn_unsigned": False},
            # the content checks of the shipped profiles would score or wrap the tests'
            # small hand-made messages: tests of them clear disabled_checks
            # (test_shipped_content.py). The shipped inbound profile runs the DNS checks
            # (rdns, helo, dnsbl, sender_domain): test clients on loopback are exempt, so no
            # test reaches a real resolver; the DNS tests (test_inbound_dns.py) set
            # dns_skip_networks to [] and use their own test DNS server
            "policy": {"disabled_checks": ["spam", "bulk", "filetype"],
                       "dns_skip_networks": ["127.0.0.0/8", "::1"]},
            "listeners": [
                {"name": "mx", "address": "127.0.0.1:%d" % self.ports["mx"],
                 "profile": "inbound"},
            ],
        }
        if ca is not None:
            cfg["tls"] = {"cert": ca.cert, "key": ca.key}
            cfg["listeners"] += [
                {"name": "submission", "address": "127.0.0.1:%d" % self.ports["submission"],
                 "profile": "submission", "tls": "starttls", "auth": "required"},
                {"name": "submissions", "address": "127.0.0.1:%d" % self.ports["submissions"],
                 "profile": "submissions", "tls": "implicit", "auth": "required"},
            ]
        self.config = deep_merge(cfg, copy.deepcopy(overrides or {}))
        self.proc = None
        self.write_config()

    @property
    def port(self):
        return self.ports["mx"]

    def write_config(self, config=None):
        if config is not None:
            self.config = config
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)

    def start(self, wait=True, preexec_fn=None):
        before = self.log().count("disconnect from") if os.path.exists(self.log_path) else 0
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(BUILD, self.binary), "-d", "-f",
                                      self.config_path], stdout=self.logf,
                                     stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
        RUNNING.append(self)
        if wait:
            for lst in self.config["listeners"]:
                host, port = lst["address"].rsplit(":", 1)
                host, port = host.strip("[]"), int(port)
                wait_for(lambda: self._accepts(host, port) or self.proc.poll() is not None,
                         what="postern listener %d" % port)
            assert self.proc.poll() is None, "postern exited: " + self.log()
            # the probes above are sessions too: let them end so limits start from zero
            probes = before + len(self.config["listeners"])
            wait_for(lambda: self.log().count("disconnect from") >= probes, what="probes")
        return self

    def _accepts(self, host, port):
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def events(self, type):
        """The data of every alert event of this type, from the log (server_event logs each
        one as "event TYPE {json}", the object that is sent as the webhook's data)."""
        prefix = "event %s " % type
        return [json.loads(line.split(prefix, 1)[1]) for line in self.log().splitlines()
                if prefix in line]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=sig_mod.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        self.assert_no_sanitizer_report()
        return rc

    def assert_no_sanitizer_report(self):
        log = self.log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in log, "sanitizer report in postern log:\n" + log[-4000:]

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.logf.close()
        self.proc = None

    def queue_files(self):
        q = os.path.join(self.spool, "queue")
        return sorted(os.listdir(q)) if os.path.isdir(q) else []

    def tmp_files(self):
        """Partial messages in tmp/. Empty files are the spool's spares (created ahead of
        need, or recycled after delivery: relay/spool/spool.h) and hold no message."""
        t = os.path.join(self.spool, "tmp")
        if not os.path.isdir(t):
            return []
        return sorted(f for f in os.listdir(t) if os.path.getsize(os.path.join(t, f)) > 0)

    def wait_spares_settled(self):
        """Wait until the spool's refill of spare files (a worker creating 64 files, one by
        one, after the first MAIL) is over: the set of spare files stops changing."""
        def settled():
            seen = set(self.spare_files())
            time.sleep(0.3)
            return len(seen) >= 32 and set(self.spare_files()) == seen
        wait_for(settled, what="the spool's spare files")
        return set(self.spare_files())

    def spare_files(self):
        t = os.path.join(self.spool, "tmp")
        if not os.path.isdir(t):
            return []
        return sorted(f for f in os.listdir(t) if os.path.getsize(os.path.join(t, f)) == 0)

    def read_queue_file(self, qid):
        """Parse a queue file: (envelope dict with lists for rcpt, message bytes)."""
        with open(os.path.join(self.spool, "queue", qid), "rb") as f:
            data = f.read()
        env = {"rcpt": []}
        pos = 0
        while True:
            nl = data.index(b"\n", pos)
            line = data[pos:nl].decode()
            pos = nl + 1
            if line == "data":
                break
            key, _, value = line.partition(" ")
            if key == "rcpt":
                env["rcpt"].append(value)
            else:
                env[key] = value
        size = int(env["size"])
        return env, data[pos:pos + size]

    def records(self, qid):
        """The records after the message (docs/spool.md, "Status records"), as lines."""
        with open(os.path.join(self.spool, "queue", qid), "rb") as f:
            data = f.read()
        start = data.index(b"\ndata\n") + len(b"\ndata\n")
        size = int(data.split(b"\n", 2)[1].split()[1])
        return data[start + size:].decode().splitlines()


class Raw:
    """A bare SMTP client over one socket (plain or TLS)."""

    def __init__(self, port, host="127.0.0.1", tls=False, timeout=10, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if tls:
            self.sock = ssl_context().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffer=%r" % self.buf)
            self.buf += chunk
        ln, _, self.buf = self.buf.partition(b"\r\n")
        return ln.decode("utf-8", "replace")

    def reply(self):
        """One complete (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def starttls(self):
        self.sock = ssl_context().wrap_socket(self.sock, server_hostname="localhost")

    def closed(self, timeout=5):
        """True when the server closes the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, ssl.SSLError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def ssl_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(subject="test", body="hello\r\n", extra_headers=""):
    return ("From: a@example.org\r\nTo: b@example.test\r\nSubject: %s\r\n%s\r\n%s"
            % (subject, extra_headers, body))


def send_raw_message(r, rcpts=("b@example.test",), sender="a@example.org", data=None):
    """EHLO/MAIL/RCPT/DATA on a Raw client; returns the final reply (code, lines)."""
    if data is None:
        data = message()
    assert r.cmd("EHLO client.example")[0] == 250
    assert r.cmd("MAIL FROM:<%s>" % sender)[0] == 250
    for rc in rcpts:
        assert r.cmd("RCPT TO:<%s>" % rc)[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(data.encode() if isinstance(data, str) else data)
    r.send(b".\r\n")
    return r.reply()


def queued_id(reply_lines):
    text = reply_lines[-1]
    assert "queued as " in text, text
    return text.split("queued as ")[1].split()[0]
