#!/usr/bin/env python3
"""Redis memory per user, measured: a private redis-server, the rate limiter's own Lua
script (policy/ratelimit_script.c) run as the daemon runs it for a user who sends 20
messages of 3 recipients in the window (and a heavy one: 60 messages of 1), a per-user
policy override as `posternctl policy set` writes it, then MEMORY USAGE of each key and
INFO memory's used_memory for 10,000 such users. Prints the figures; never fails.
Run: python3 bench/redis_sizing.py (make bench runs it too)."""
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USERS = 10000


def script_source():
    text = open(os.path.join(ROOT, "policy", "ratelimit_script.c")).read()
    body = text[text.index("rl_script_source[] ="):]
    body = body[:body.index(";\n")]
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return "".join(parts).encode().decode("unicode_escape")


def main():
    d = tempfile.mkdtemp(prefix="pt-sizing-")
    sock = os.path.join(d, "redis.sock")
    srv = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                            "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-s", sock, "PING"], capture_output=True,
                              text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        import socket

        def resp(*args):
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            return out

        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        f = s.makefile("rb")

        def read():
            line = f.readline()
            t, rest = line[:1], line[1:-2]
            if t in (b"+", b"-", b":"):
                return rest.decode()
            if t == b"$":
                n = int(rest)
                if n < 0:
                    return None
                v = f.read(n + 2)[:-2]
                return v.decode()
            if t == b"*":
                return [read() for _ in range(int(rest))]

        def cmd(*args):
            s.sendall(resp(*args))
            return read()

        def pipeline(cmds):
            s.sendall(b"".join(resp(*c) for c in cmds))
            return [read() for _ in cmds]

        sha = cmd("SCRIPT", "LOAD", script_source())
        base = int(re.search(r"used_memory:(\d+)", cmd("INFO", "memory")).group(1))

        def user_traffic(user, messages, rcpts):
            p = "pt:rl:{%s}:default" % user
            keys = [p, p + ":log", p + ":msg", p + ":msg:log"]
            now = 1_700_000_000_000
            calls = []
            for m in range(messages):
                t = now + m * 1000
                calls.append(["EVALSHA", sha, 4] + keys +
                             [t, 1, "take", 60, 300000, 60, "need", 100, 3600000, 100, "spend"])
                calls.append(["EVALSHA", sha, 2] + keys[:2] +
                             [t, rcpts, "take", 60, 300000, 60, "spend"])
            pipeline(calls)
            return keys

        typical = user_traffic("alice@example.com", 20, 3)
        heavy = user_traffic("heavy@example.com", 60, 1)
        cmd("HSET", "pt:pol:{alice@example.com}", "level", "high", "greylisting", "false")
        print("key                                   MEMORY USAGE (bytes)")
        for k in typical + ["pt:pol:{alice@example.com}"] + heavy[1:2] + heavy[3:4]:
            print("%-38s %s" % (k, cmd("MEMORY", "USAGE", k, "SAMPLES", "0")))
        for i in range(USERS):
            user_traffic("user%05d@example.com" % i, 20, 3)
            if i % 2 == 0:
                cmd("HSET", "pt:pol:{user%05d@example.com}" % i, "level", "high")
        used = int(re.search(r"used_memory:(\d+)", cmd("INFO", "memory")).group(1)) - base
        per = used / USERS
        print("%d users active in the window (20 messages x 3 recipients each, half with a "
              "policy override): used_memory +%d bytes, %.0f bytes per user" % (USERS, used, per))
        print("1M such users at once: about %.1f GB; 10%% of 1M active in a 5-minute window: "
              "about %.2f GB (rate-limit keys expire after their window)"
              % (per * 1e6 / 1e9, per * 1e5 / 1e9))
    finally:
        srv.terminate()
        srv.wait()


if __name__ == "__main__":
    sys.exit(main())
