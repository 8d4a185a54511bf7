"""Headless Chromium driven over the DevTools protocol with Python's standard library only
(a minimal WebSocket client: RFC 6455 client frames, masked, no extensions).

Browser(tmpdir) starts Debian's `chromium` headless with its own profile and a DevTools
port on loopback; browser.page() opens a tab; Page.goto / eval / wait_for / submit drive it.
One browser serves a whole test module (start-up costs about a second)."""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


class WebSocket:
    def __init__(self, url, timeout=15):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
                          .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError("DevTools refused the WebSocket: %r" % head[:200])
        self.buf = b""

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        data = text.encode()
        head = bytes([0x81])
        n = len(data)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            op = b0 & 0x0F
            if op == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if op in (0x9, 0xA):        # ping / pong: not sent by DevTools, ignored
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    def __init__(self, ws_url):
        self.ws = WebSocket(ws_url)
        self.next_id = 0
        self.events = []
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def _wait_event(self, name, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, e in enumerate(self.events):
                if e["method"] == name:
                    del self.events[:i + 1]
                    return e
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(name)

    def goto(self, url):
        self.events.clear()
        self.call("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired")

    def wait_until(self, expression, timeout=15):
        """Poll a script expression until it is true (a page that navigates by itself)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.eval(expression):
                    return
            except RuntimeError:
                pass                    # the page changed under the evaluation
            time.sleep(0.05)
        raise TimeoutError(expression)

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("page script failed: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def submit(self, selector):
        """Click the submit button of the form at selector and wait for the next page."""
        self.events.clear()
        self.eval("document.querySelector(%s).querySelector('button[type=submit]').click()"
                  % json.dumps(selector))
        self._wait_event("Page.loadEventFired")

    def fill(self, selector, value):
        self.eval("document.querySelector(%s).value = %s" % (json.dumps(selector),
                                                             json.dumps(value)))

    def text(self):
        return self.eval("document.body ? document.body.innerText : ''")

    def html(self):
        return self.eval("document.documentElement.outerHTML")

    def url(self):
        return self.eval("location.href")

    def console_errors(self):
        return [e for e in self.events if e["method"] in ("Runtime.exceptionThrown",)]

    def close(self):
        self.ws.close()


class Browser:
    def __init__(self, tmpdir):
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium is not installed (Debian package chromium)")
        self.profile = os.path.join(str(tmpdir), "chromium-profile")
        os.makedirs(self.profile, exist_ok=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        if os.path.exists(port_file):        # a profile used before: not this browser's
            os.unlink(port_file)
        self.log = open(os.path.join(str(tmpdir), "chromium.log"), "w+b")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update",
             "--metrics-recording-only", "--password-store=basic",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--user-data-dir=" + self.profile, "about:blank"],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while not (os.path.exists(port_file) and open(port_file).read().count("\n") >= 1):
            if self.proc.poll() is not None or time.time() > deadline:
                self.log.seek(0)
                raise RuntimeError("chromium did not start: %s" % self.log.read()[-2000:])
            time.sleep(0.05)
        self.port = int(open(port_file).read().split("\n")[0])

    def _http(self, method, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return json.loads(body)

    def page(self):
        target = self._http("PUT", "/json/new?about:blank")
        return Page(target["webSocketDebuggerUrl"])

    def clear_cookies(self, page):
        page.call("Network.clearBrowserCookies")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
