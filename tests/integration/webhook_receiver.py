"""A webhook receiver for tests (and for trying Postern's webhooks by hand). Stdlib only.

Receiver is a ThreadingHTTPServer on loopback, started and stopped by object:

    r = Receiver(secret="whsec_...").start()          # HTTP on 127.0.0.1:<free port>
    r = Receiver(secret=s, tls=(cert, key)).start()   # HTTPS (e.g. conftest's test_ca)
    r.url                                             # "http://127.0.0.1:PORT/hook"
    r.respond(503, 503)        # the next two requests get 503, then the default (200)
    r.respond("hang")          # the next request gets no answer until stop()
    r.respond((503, {"Retry-After": "2"}))  # a status with extra response headers
    r.default_status = 410     # every request from now on
    r.delay = 0.2              # wait that long before each answer
    r.max_concurrent           # most requests being answered at the same time
    r.wait_for(3)              # until 3 requests arrived (AssertionError on timeout)
    r.requests                 # [Request]: method, path, headers (lower-case names),
                               #  body (bytes), json, status (what we answered),
                               #  signature_ok / signature_error (Standard Webhooks check)
    r.tls_errors               # TLS handshakes that failed (e.g. a client refusing the cert)
    r.sni_names                # server names clients sent in TLS SNI (None: none sent)
    r.stop()

Every request is recorded, whatever the answer. Signatures are verified with
verify_signature() when a secret is given: webhook-id, webhook-timestamp (within 5 minutes),
webhook-signature "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" (space-separated list),
key = base64 of the secret after "whsec_".

Run as a script to watch events by hand (the demo config posts to 127.0.0.1:8099/hook):
    python3 tests/integration/webhook_receiver.py --port 8099 --secret whsec_...
"""
import argparse
import base64
import collections
import hashlib
import hmac
import http.server
import json
import socket
import ssl
import threading
import time

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300
HANG_MAX_S = 120
DEFAULT_PATH = "/hook"
WAIT_TIMEOUT_S = 10.0
WAIT_INTERVAL_S = 0.02


def sign(secret, msg_id, timestamp, body):
    """The v1 signature of body (bytes), as the webhook-signature header carries it."""
    key = base64.b64decode(secret[len(SECRET_PREFIX):])
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def verify_signature(secret, headers, body, now=None, tolerance=TOLERANCE_S):
    """Check a request the way Standard Webhooks verifiers do. headers: lower-case names.
    Returns None when valid, else a short reason."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not msg_id or not ts or not sigs:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        ts_int = int(ts)
    except ValueError:
        return "webhook-timestamp is not an integer"
    now = time.time() if now is None else now
    if abs(now - ts_int) > tolerance:
        return "webhook-timestamp out of tolerance"
    want = sign(secret, msg_id, ts_int, body)
    for candidate in sigs.split(" "):
        if candidate.startswith("v1,") and hmac.compare_digest(candidate, want):
            return None
    return "no matching v1 signature"


class Request:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.received_at = time.time()
        self.status = None
        self.signature_error = None
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def signature_ok(self):
        return self.signature_error is None

    def __repr__(self):
        return "Request(%s %s status=%s id=%s)" % (self.method, self.path, self.status,
                                                   self.headers.get("webhook-id"))


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "webhook-receiver/1"

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.server.owner._tls_error()
                raise

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError):
            pass

    def log_message(self, fmt, *args):  # quiet: tests read .requests instead
        pass

    def _serve(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, self.path, headers, body)
        if owner.secret:
            req.signature_error = verify_signature(owner.secret, headers, body)
        action = owner._next_action()
        extra = {}
        if isinstance(action, tuple):
            action, extra = action
        req.status = action
        owner._record(req)
        if action == "hang":
            owner._stopping.wait(HANG_MAX_S)
            self.close_connection = True
            owner._leave()
            return
        if owner.delay:
            owner._stopping.wait(owner.delay)
        owner._leave()
        reply = json.dumps({"ok": 200 <= action < 300}).encode()
        self.send_response(action)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = _serve
    do_PUT = _serve
    do_GET = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # TLS failures are counted, not printed
        pass


class Receiver:
    """An HTTP(S) webhook receiver on loopback; see the module docstring."""

    def __init__(self, secret=None, host="127.0.0.1", port=0, tls=None, path=DEFAULT_PATH):
        self.secret = secret
        self.host = host
        self.port = port
        self.tls = tls
        self.path = path
        self.default_status = 200
        self.delay = 0
        self.max_concurrent = 0
        self._active = 0
        self.requests = []
        self.tls_errors = 0
        self.sni_names = []
        self._script = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d%s" % ("https" if self.tls else "http", host, self.port, self.path)

    def start(self):
        self._stopping.clear()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_Server", (_Server,), {"address_family": family})
        self._server = server_class((self.host, self.port), _Handler)
        self._server.owner = self
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls[0], self.tls[1])
            ctx.sni_callback = self._sni
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(10)
        self._server = None
        self._thread = None

    def respond(self, *actions):
        """Queue answers for the next requests: HTTP status codes or "hang"."""
        with self._lock:
            self._script.extend(actions)

    def fail(self, n, status=503):
        self.respond(*([status] * n))

    def wait_for(self, n, timeout=WAIT_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= n:
                return self.requests
            time.sleep(WAIT_INTERVAL_S)
        raise AssertionError("receiver got %d requests, expected %d: %r"
                             % (len(self.requests), n, self.requests))

    def events(self):
        """The JSON bodies received so far."""
        return [r.json for r in list(self.requests)]

    def _next_action(self):
        with self._lock:
            return self._script.popleft() if self._script else self.default_status

    def _record(self, req):
        with self._lock:
            self.requests.append(req)
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)

    def _leave(self):
        with self._lock:
            self._active -= 1

    def _sni(self, sslobj, name, ctx):
        with self._lock:
            self.sni_names.append(name)

    def _tls_error(self):
        with self._lock:
            self.tls_errors += 1


def main():
    ap = argparse.ArgumentParser(description="Print Standard Webhooks events as they arrive.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--secret", help="whsec_... to verify signatures")
    ap.add_argument("--cert", help="PEM certificate (HTTPS)")
    ap.add_argument("--key", help="PEM private key (HTTPS)")
    args = ap.parse_args()
    tls = (args.cert, args.key) if args.cert else None
    r = Receiver(secret=args.secret, host=args.host, port=args.port, tls=tls).start()
    print("listening on", r.url, flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.2)
            for req in r.requests[seen:]:
                sig = "" if not args.secret else (
                    " signature=ok" if req.signature_ok else " signature=BAD (%s)"
                    % req.signature_error)
                print("%s %s%s %s" % (time.strftime("%H:%M:%S"), req.headers.get(
                    "webhook-id"), sig, req.body.decode(errors="replace")), flush=True)
            seen = len(r.requests)
    except KeyboardInterrupt:
        r.stop()


if __name__ == "__main__":
    main()
