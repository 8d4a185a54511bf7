"""A scriptable downstream SMTP/LMTP server for delivery tests (standard library only).

Every delivery test points Postern (or the smtpc driver) at one of these. It listens on a
free loopback port (or a unix socket), speaks SMTP or LMTP, and records what it saw:
every connection (greeting/EHLO/TLS/AUTH, each command line with the number of the recv()
that completed it, so tests can tell a pipelined batch from lock-step), and every message
(envelope plus the exact bytes after dot-unstuffing, or the chunks of BDAT joined), in
memory and as files in a directory.

    sink = SmtpSink(tmp_path / "sink", starttls="optional", tls=(cert, key),
                    rcpt_replies={"bad@x": "550 5.1.1 no such user"}).start()
    ... deliver to 127.0.0.1:sink.port ...
    msgs = sink.wait_messages(1)
    assert msgs[0].data == body
    sink.stop()

Options (all keyword arguments, all optional):
  lmtp            speak LMTP: LHLO, one reply per accepted recipient after the dot
  unix_path       listen on this unix socket instead of TCP
  host, port      the TCP address (default 127.0.0.1, "::1" for IPv6) and port (default 0:
                  a free one; a fixed one shares a port number with another address)
  greeting        the banner, e.g. "421 4.3.2 busy" (a 421 closes; other non-2xx banners
                  answer every command with 503 until QUIT)
  ehlo_reply      replace the EHLO reply, e.g. "502 5.5.2 no EHLO" (HELO still works)
  pipelining, eightbitmime, smtputf8, chunking   advertise these (defaults: on, on, off, off);
                  with chunking, BDAT (RFC 3030) is accepted: exact byte counts, chunks
                  joined as they came (Message.chunks lists their sizes; None after DATA),
                  DATA after a BDAT chunk refused with 503
  size            advertise SIZE with this value and refuse bigger messages (None: no SIZE)
  starttls        None, "optional" or "required" (then MAIL before STARTTLS gets 530)
  tls             (certfile, keyfile) for STARTTLS
  starttls_inject plaintext sent right after the 220 to STARTTLS, in the same write (the
                  response injection a client must discard)
  auth_users      {"user": "password"}: advertise AUTH and check logins
  auth_mechs      the mechanisms advertised (default "PLAIN LOGIN"; both are always accepted)
  auth_requires_tls  advertise/accept AUTH only over TLS (default True)
  hangup_after_data  close the connection right after answering the end of DATA (a
                  server whose idle timeout is shorter than the client's cache time)
  mail_reply      the reply to MAIL (default "250 2.1.0 Ok")
  rcpt_replies    {address: reply} for RCPT (default: rcpt_default)
  rcpt_default    the reply to a RCPT rcpt_replies does not name (default "250 2.1.5 Ok")
  data_replies    replies after the final dot, one per message in order (then the default
                  "250 2.0.0 Ok: queued as N")
  lmtp_replies    {address: reply} after the dot in LMTP mode (default "250 2.0.0 Ok")
  stall           "greeting", "ehlo", "mail", "rcpt", "data" or "data-end": at that point
                  say nothing until the client goes away or the sink stops; "body": after
                  the 354, stop reading too (the client's writes back up) until the sink stops
Thread-safe accessors: messages(), connections(), wait_messages(n), wait_connections(n).
"""
import base64
import copy
import json
import os
import socket
import socketserver
import ssl
import threading
import time

RECV_SIZE = 65536
LINE_LIMIT = 4096            # longest command line accepted
COMPACT_AT = 1 << 20         # drop consumed input once this much has piled up
POLL_S = 0.05                # how often a stalled session checks for the end
DEFAULT_TIMEOUT_S = 10.0


class Message:
    """One received message: envelope and exact unstuffed bytes."""

    def __init__(self, conn, mail_from, mail_params, rcpts, data, tls, auth_user,
                 chunks=None):
        self.conn = conn
        self.mail_from = mail_from
        self.mail_params = mail_params
        self.rcpts = rcpts
        self.data = data
        self.tls = tls
        self.auth_user = auth_user
        self.chunks = chunks     # BDAT: the sizes of the chunks; None: DATA

    def envelope(self):
        return {"conn": self.conn, "mail_from": self.mail_from,
                "mail_params": self.mail_params, "rcpts": self.rcpts,
                "tls": self.tls, "auth_user": self.auth_user, "size": len(self.data),
                "chunks": self.chunks}


class Connection:
    """What one client did: commands as (recv number, line, over TLS), TLS, AUTH, QUIT."""

    def __init__(self, cid):
        self.id = cid
        self.commands = []
        self.tls_version = None
        self.auth_user = None
        self.plaintext_after_starttls = 0
        self.quit = False
        self.closed = False

    def verbs(self):
        return [line.split(" ", 1)[0].split(":", 1)[0].upper() for _, line, _ in self.commands]

    def batch_of(self, prefix):
        """recv() numbers of the commands that start with prefix (case-insensitive)."""
        p = prefix.upper()
        return [b for b, line, _ in self.commands if line.upper().startswith(p)]


class _Closed(Exception):
    pass


class _Reader:
    """CRLF line reader over a socket that counts recv() calls (the batch number)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.batch = 0

    def _fill(self):
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise _Closed()
        self.buf += data
        self.batch += 1

    def readline(self, limit=LINE_LIMIT):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                if self.pos >= COMPACT_AT:
                    del self.buf[:self.pos]
                    self.pos = 0
                return line
            if limit is not None and len(self.buf) - self.pos > limit:
                raise _Closed()
            self._fill()

    def read_exact(self, n):
        """The next n bytes, whatever they hold (a BDAT chunk)."""
        while len(self.buf) - self.pos < n:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        if self.pos >= COMPACT_AT:
            del self.buf[:self.pos]
            self.pos = 0
        return data

    def discard(self):
        """Drop buffered input (plaintext after STARTTLS); returns how many bytes."""
        n = len(self.buf) - self.pos
        self.buf = bytearray()
        self.pos = 0
        return n


class _Session:
    """One SMTP/LMTP conversation, run on the socketserver's handler thread."""

    def __init__(self, sink, sock, conn):
        self.sink = sink
        self.opt = sink.opt
        self.sock = sock
        self.conn = conn
        self.rd = _Reader(sock)
        self.tls = False
        self.auth_user = None
        self.reset()

    def reset(self):
        self.mail_from = None
        self.mail_params = []
        self.rcpts = []
        self.chunks = None       # BDAT chunks received so far (bytes), None before any

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def stall(self, point):
        if self.opt["stall"] != point:
            return
        if point == "body":
            self.sink._stopping.wait()
            raise _Closed()
        self.sock.settimeout(POLL_S)
        while not self.sink._stopping.is_set():
            try:
                if not self.sock.recv(RECV_SIZE):
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        raise _Closed()

    def run(self):
        self.stall("greeting")
        self.send(self.opt["greeting"])
        if self.opt["greeting"].startswith("421"):
            return
        good = self.opt["greeting"].startswith("2")
        while True:
            raw = self.rd.readline()
            line = raw.decode("utf-8", "replace")
            self.sink._record(self.conn, (self.rd.batch, line, self.tls))
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                self.conn.quit = True
                self.send("221 2.0.0 Bye")
                return
            if not good:
                self.send("503 5.5.1 Error: no service")
                continue
            handler = getattr(self, "cmd_" + verb, None)
            if handler is None:
                self.send("502 5.5.2 Error: command not recognized")
            else:
                handler(arg)

    # ---- greeting commands ------------------------------------------------------------

    def extensions(self):
        o = self.opt
        ext = []
        if o["pipelining"]:
            ext.append("PIPELINING")
        if o["size"] is not None:
            ext.append("SIZE %d" % o["size"])
        if o["eightbitmime"]:
            ext.append("8BITMIME")
        if o["smtputf8"]:
            ext.append("SMTPUTF8")
        if o["chunking"]:
            ext.append("CHUNKING")
        if o["starttls"] and not self.tls:
            ext.append("STARTTLS")
        if self.auth_offered():
            ext.append("AUTH " + self.opt["auth_mechs"])
        ext.append("ENHANCEDSTATUSCODES")
        return ext

    def auth_offered(self):
        return bool(self.opt["auth_users"]) and (self.tls or not self.opt["auth_requires_tls"])

    def hello(self, verb):
        self.stall("ehlo")
        if self.opt["ehlo_reply"] is not None:
            self.send(self.opt["ehlo_reply"])
            return
        lines = [self.sink.hostname] + self.extensions()
        self.send("\r\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                              for i, l in enumerate(lines)))
        self.reset()

    def cmd_EHLO(self, arg):
        if self.opt["lmtp"]:
            self.send("500 5.5.1 Error: use LHLO")
        else:
            self.hello("EHLO")

    def cmd_LHLO(self, arg):
        if not self.opt["lmtp"]:
            self.send("502 5.5.2 Error: command not recognized")
        else:
            self.hello("LHLO")

    def cmd_HELO(self, arg):
        if self.opt["lmtp"]:
            self.send("500 5.5.1 Error: use LHLO")
        else:
            self.send("250 " + self.sink.hostname)
            self.reset()

    def cmd_STARTTLS(self, arg):
        if not self.opt["starttls"] or self.tls:
            self.send("502 5.5.1 Error: STARTTLS not available")
            return
        self.sock.sendall(b"220 2.0.0 Ready to start TLS\r\n" +
                          (self.opt["starttls_inject"] or "").encode())
        self.conn.plaintext_after_starttls = self.rd.discard()
        self.sock = self.sink._tls_context().wrap_socket(self.sock, server_side=True)
        self.rd.sock = self.sock
        self.tls = True
        self.conn.tls_version = self.sock.version()
        self.auth_user = None
        self.reset()

    def cmd_AUTH(self, arg):
        if not self.auth_offered() or self.auth_user is not None:
            self.send("503 5.5.1 Error: authentication not enabled")
            return
        mech, _, ir = arg.partition(" ")
        mech = mech.upper()
        if mech == "PLAIN":
            if not ir:
                self.send("334 ")
                ir = self.rd.readline().decode()
            parts = self.b64(ir).split(b"\0")
            user, password = (parts[1], parts[2]) if len(parts) == 3 else (b"", b"")
        elif mech == "LOGIN":
            self.send("334 VXNlcm5hbWU6")
            user = self.b64(self.rd.readline().decode())
            self.send("334 UGFzc3dvcmQ6")
            password = self.b64(self.rd.readline().decode())
        else:
            self.send("504 5.5.4 Unrecognized authentication type")
            return
        users = self.opt["auth_users"]
        u, p = user.decode("utf-8", "replace"), password.decode("utf-8", "replace")
        if users.get(u) == p:
            self.auth_user = self.conn.auth_user = u
            self.send("235 2.7.0 Authentication successful")
        else:
            self.send("535 5.7.8 Error: authentication failed")

    @staticmethod
    def b64(text):
        try:
            return base64.b64decode(text.strip(), validate=True)
        except ValueError:
            return b""

    # ---- transaction ------------------------------------------------------------------

    @staticmethod
    def path(arg, prefix):
        if not arg.upper().startswith(prefix):
            return None, []
        rest = arg[len(prefix):].strip()
        if not rest.startswith("<") or ">" not in rest:
            return None, []
        addr, _, params = rest[1:].partition(">")
        return addr, params.split()

    def cmd_MAIL(self, arg):
        if self.opt["starttls"] == "required" and not self.tls:
            self.send("530 5.7.0 Must issue a STARTTLS command first")
            return
        if self.mail_from is not None:
            self.send("503 5.5.1 Error: nested MAIL command")
            return
        addr, params = self.path(arg, "FROM:")
        if addr is None:
            self.send("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        upper = [p.upper() for p in params]
        size = [int(p[5:]) for p in upper if p.startswith("SIZE=") and p[5:].isdigit()]
        if self.opt["size"] and size and size[0] > self.opt["size"]:
            self.send("552 5.3.4 Error: message size exceeds fixed limit")
            return
        if "BODY=8BITMIME" in upper and not self.opt["eightbitmime"]:
            self.send("555 5.5.4 Unsupported option: BODY=8BITMIME")
            return
        if "SMTPUTF8" in upper and not self.opt["smtputf8"]:
            self.send("555 5.5.4 Unsupported option: SMTPUTF8")
            return
        self.stall("mail")
        reply = self.opt["mail_reply"]
        if reply.startswith("2"):
            self.mail_from, self.mail_params = addr, params
        self.send(reply)

    def cmd_RCPT(self, arg):
        if self.mail_from is None:
            self.send("503 5.5.1 Error: need MAIL command")
            return
        addr, _ = self.path(arg, "TO:")
        if addr is None:
            self.send("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        self.stall("rcpt")
        reply = self.opt["rcpt_replies"].get(addr, self.opt["rcpt_default"])
        if reply.startswith("2"):
            self.rcpts.append(addr)
        self.send(reply)

    def cmd_RSET(self, arg):
        self.reset()
        self.send("250 2.0.0 Ok")

    def cmd_NOOP(self, arg):
        self.send("250 2.0.0 Ok")

    def read_data(self):
        lines = []
        while True:
            line = self.rd.readline(limit=None)
            if line == b".":
                return b"".join(lines)
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line + b"\r\n")

    def cmd_DATA(self, arg):
        if self.chunks is not None:
            self.send("503 5.5.1 Error: DATA not allowed after BDAT")
            return
        if self.mail_from is None:
            self.send("503 5.5.1 Error: need MAIL command")
            return
        if not self.rcpts:
            self.send("554 5.5.1 Error: no valid recipients")
            return
        self.stall("data")
        self.send("354 End data with <CR><LF>.<CR><LF>")
        self.stall("body")
        data = self.read_data()
        self.stall("data-end")
        too_big = self.opt["size"] and len(data) > self.opt["size"]
        if self.opt["lmtp"]:
            replies = [self.opt["lmtp_replies"].get(r, "250 2.0.0 Ok") for r in self.rcpts]
            ok = [r for r, rep in zip(self.rcpts, replies) if rep.startswith("2")]
            if ok:
                self.sink._store(self, ok, data)
            for rep in replies:
                self.send(rep)
        else:
            reply = ("552 5.3.4 Error: message size exceeds fixed limit" if too_big
                     else self.sink._next_data_reply())
            if reply.startswith("2"):
                self.sink._store(self, list(self.rcpts), data)
            self.send(reply)
        self.reset()
        if self.opt["hangup_after_data"]:
            raise _Closed()


    def cmd_BDAT(self, arg):
        parts = arg.split()
        if (not self.opt["chunking"] or not parts or not parts[0].isdigit() or len(parts) > 2
                or (len(parts) == 2 and parts[1].upper() != "LAST")):
            self.send("501 5.5.4 Syntax: BDAT count [LAST]")
            raise _Closed()      # the chunk cannot be skipped
        data = self.rd.read_exact(int(parts[0]))
        last = len(parts) == 2
        if self.mail_from is None or not self.rcpts:
            self.send("503 5.5.1 Error: need MAIL and RCPT")
            return
        if self.chunks is None:
            self.chunks = []
            self.stall("data")
        self.chunks.append(data)
        if not last:
            self.send("250 2.0.0 %d octets received" % len(data))
            return
        data = b"".join(self.chunks)
        too_big = self.opt["size"] and len(data) > self.opt["size"]
        reply = ("552 5.3.4 Error: message size exceeds fixed limit" if too_big
                 else self.sink._next_data_reply())
        if reply.startswith("2"):
            self.sink._store(self, list(self.rcpts), data, [len(c) for c in self.chunks])
        self.send(reply)
        self.reset()
        if self.opt["hangup_after_data"]:
            raise _Closed()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.sink._serve(self.request)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False      # stop() wakes the sessions itself


class _TCP6Server(_TCPServer):
    address_family = socket.AF_INET6


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False


class SmtpSink:
    """The sink. start() returns self; stop() is safe to call twice."""

    DEFAULTS = {
        "lmtp": False, "unix_path": None, "host": "127.0.0.1", "port": 0,
        "greeting": None, "ehlo_reply": None,
        "pipelining": True, "eightbitmime": True, "smtputf8": False, "chunking": False,
        "size": None, "starttls": None, "tls": None, "starttls_inject": None,
        "auth_users": None, "auth_mechs": "PLAIN LOGIN", "auth_requires_tls": True,
        "mail_reply": "250 2.1.0 Ok", "rcpt_replies": {}, "rcpt_default": "250 2.1.5 Ok", "data_replies": [],
        "lmtp_replies": {}, "stall": None, "hangup_after_data": False,
    }

    def __init__(self, directory, hostname="sink.postern.test", **options):
        unknown = set(options) - set(self.DEFAULTS)
        if unknown:
            raise TypeError("unknown SmtpSink options: %s" % ", ".join(sorted(unknown)))
        self.opt = dict(self.DEFAULTS, **copy.deepcopy(options))
        if self.opt["greeting"] is None:
            self.opt["greeting"] = "220 %s %s" % (hostname, "LMTP" if self.opt["lmtp"] else "ESMTP")
        self.opt["data_replies"] = list(self.opt["data_replies"])
        self.hostname = hostname
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.port = None
        self.path = self.opt["unix_path"]
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._messages = []
        self._conns = []
        self._sessions = set()
        self._queued = 0
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._ctx = None

    # ---- life cycle ---------------------------------------------------------------------

    def start(self):
        if self.path:
            if os.path.exists(self.path):
                os.unlink(self.path)
            self._server = _UnixServer(self.path, _Handler)
        else:
            cls = _TCP6Server if ":" in self.opt["host"] else _TCPServer
            self._server = cls((self.opt["host"], self.opt["port"]), _Handler)
            self.port = self._server.server_address[1]
        self._server.sink = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": POLL_S}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            try:
                session.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(DEFAULT_TIMEOUT_S)
        self._server = None
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)

    def address(self):
        """What smtpc --connect takes."""
        if self.path:
            return "unix:" + self.path
        host = self.opt["host"]
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, self.port)

    # ---- accessors (thread-safe copies) ----------------------------------------------------

    def messages(self):
        with self._lock:
            return copy.deepcopy(self._messages)

    def connections(self):
        with self._lock:
            return copy.deepcopy(self._conns)

    def wait_messages(self, n, timeout=DEFAULT_TIMEOUT_S):
        return self._wait(lambda: len(self._messages) >= n, timeout, self.messages)

    def wait_connections(self, n, closed=True, timeout=DEFAULT_TIMEOUT_S):
        """Wait until n connections exist (and, by default, have all ended)."""
        def done():
            return len(self._conns) >= n and (not closed or all(c.closed for c in self._conns))
        return self._wait(done, timeout, self.connections)

    def _wait(self, predicate, timeout, result):
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("smtp sink: timed out waiting")
                self._changed.wait(left)
        return result()

    # ---- internals -------------------------------------------------------------------------

    def _tls_context(self):
        if self._ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.opt["tls"])
            self._ctx = ctx
        return self._ctx

    def _next_data_reply(self):
        with self._lock:
            self._queued += 1
            if self.opt["data_replies"]:
                return self.opt["data_replies"].pop(0)
            return "250 2.0.0 Ok: queued as SINK%04d" % self._queued

    def _store(self, session, rcpts, data, chunks=None):
        msg = Message(session.conn.id, session.mail_from, list(session.mail_params), rcpts,
                      data, session.tls, session.auth_user, chunks)
        with self._changed:
            n = len(self._messages) + 1
            base = os.path.join(self.dir, "msg-%04d" % n)
            with open(base + ".eml", "wb") as f:
                f.write(data)
            with open(base + ".json", "w") as f:
                json.dump(msg.envelope(), f)
            self._messages.append(msg)
            self._changed.notify_all()

    def _record(self, conn, command):
        with self._lock:
            conn.commands.append(command)

    def _serve(self, sock):
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._changed:
            conn = Connection(len(self._conns) + 1)
            self._conns.append(conn)
            session = _Session(self, sock, conn)
            self._sessions.add(session)
            self._changed.notify_all()
        try:
            session.run()
        except (_Closed, OSError, ssl.SSLError, UnicodeDecodeError):
            pass
        finally:
            try:
                session.sock.close()
            except OSError:
                pass
            with self._changed:
                self._sessions.discard(session)
                conn.closed = True
                self._changed.notify_all()
