"""Recipients/s through authenticated submission, rate limiting on versus off.

Then the same with DKIM signing (an RSA 2048 key for the sender's domain) on versus off.

Starts Postern on the same private Redis, with a class large enough never to refuse or
with ratelimit.enabled=false, and drives it with T pipelining clients over implicit TLS
(AUTH PLAIN), M messages of R recipients each. The runs go off, on, on, off, each after a
sync(2), so that neither side always pays for the write-back of the run before it; the
figure of each side is the mean of its two runs. The queue is paused: nothing is
delivered and no DNS query leaves the machine. Wall-clock rates on this shared machine
vary from run to run; the CPU time that Postern and Redis spend per 1000 recipients
(from /proc) is printed too. Both still move with the filesystem: on ext4 each new spool
file costs an inode allocation whose price depends on how many inodes were deleted in the
last minutes in that block group (docs/spool.md), which no bench controls. Compare
figures of several runs. Prints figures; asserts nothing.
"""
import base64
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("POSTERN_BUILD", os.path.join(ROOT, "build"))
from conftest import RedisServer, TestCA, free_port, wait_for  # noqa: E402

THREADS, MESSAGES, RCPTS = 4, int(os.environ.get("BENCH_SUB_MESSAGES", "4000")), 10
USER, PASSWORD = "bench@example.test", "bench-password"
# BENCH_POSTERN: another daemon binary to measure (an A/B against an older build)
POSTERN = os.environ.get("BENCH_POSTERN", os.path.join(ROOT, "bin", "postern"))


def cpu_s(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(work, ca, redis, enabled, n, data=True, sign_key=None):
    """(recipients/s, CPU ms of Postern + Redis per 1000 recipients). Without data, each
    transaction is MAIL, the RCPTs and RSET: the rate limiter is charged the same, and no
    file is written, so the filesystem does not move the figure."""
    redis_sock = redis.socket
    os.sync()
    port = free_port()
    cfg = {
        "hostname": "bench.example.test", "spool_dir": os.path.join(work, "spool-%d-%d" % (enabled, n)),
        "queue": {"paused": True},
        "privileges": {"run_as_root": True}, "virus": {"enabled": False},
        # the rate limits' cost alone: no content checks (make bench measures those apart)
        "policy": {"disabled_checks": ["spam", "bulk", "filetype"]},
        "tls": {"cert": ca.cert, "key": ca.key},
        "redis": {"socket": redis_sock},
        "auth": {"sasldb": os.path.join(work, "sasldb2")},
        "ratelimit": {"enabled": enabled,
                      "classes": {"default": {"recipients": 10000000, "window": "1h",
                                              "max_recipients_per_message": 1000}}},
        "listeners": [{"name": "s", "address": "127.0.0.1:%d" % port, "profile": "submissions"}],
    }
    cfg["dkim"] = {"warn_unsigned": False}   # no DNS look-ups leave the machine
    if sign_key:
        cfg["dkim"]["sign"] = {"example.test": {"keys": [
            {"selector": "bench", "algorithm": "rsa-sha256", "file": sign_key}]}}
    path = os.path.join(work, "p%d-%d.json" % (enabled, n))
    with open(path, "w") as f:
        json.dump(cfg, f)
    log = open(os.path.join(work, "p%d-%d.log" % (enabled, n)), "wb")
    proc = subprocess.Popen([POSTERN, "-d", "-f", path],
                            stderr=log)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            if proc.poll() is not None:
                sys.exit("bench: postern did not start: " + open(log.name).read()[-2000:])
            return False
    wait_for(listening, what="postern")
    msg = "From: %s\r\nSubject: bench\r\n\r\n%s\r\n" % (USER, "x" * 2000)

    def client():
        # A pipelining client (as bulk senders are): MAIL, all RCPTs and DATA in one write.
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
        f = sock.makefile("rb")

        def replies(n):
            for _ in range(n):
                while True:
                    line = f.readline()
                    if line[3:4] != b"-":
                        break
                if line[:1] not in (b"2", b"3"):
                    raise RuntimeError(line)
        replies(1)
        sock.sendall(b"EHLO bench\r\nAUTH PLAIN " + base64.b64encode(
            ("\0%s\0%s" % (USER, PASSWORD)).encode()) + b"\r\n")
        replies(2)
        envelope = ("MAIL FROM:<%s>\r\n" % USER + "".join(
            "RCPT TO:<r%d@elsewhere.example>\r\n" % j for j in range(RCPTS)) +
            ("DATA\r\n" if data else "RSET\r\n")).encode()
        for _ in range(MESSAGES // THREADS):
            sock.sendall(envelope)
            replies(RCPTS + 2)
            if data:
                sock.sendall(msg.encode() + b".\r\n")
                replies(1)
        sock.sendall(b"QUIT\r\n")
        sock.close()

    t0 = time.monotonic()
    cpu0 = cpu_s(proc.pid) + cpu_s(redis.proc.pid)
    threads = [threading.Thread(target=client) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    cpu = cpu_s(proc.pid) + cpu_s(redis.proc.pid) - cpu0
    proc.terminate()
    proc.wait()
    return MESSAGES * RCPTS / elapsed, cpu * 1e6 / (MESSAGES * RCPTS)


def main():
    work = tempfile.mkdtemp(prefix="postern-bench-sub.")
    try:
        ca = TestCA(work)
        subprocess.run(["saslpasswd2", "-f", os.path.join(work, "sasldb2"), "-p", "-c",
                        "-u", "example.test", "bench"], input=PASSWORD.encode(), check=True)
        redis = RedisServer(work).start()
        (off1, offc1) = run(work, ca, redis, False, 1)
        (on1, onc1) = run(work, ca, redis, True, 1)
        (on2, onc2) = run(work, ca, redis, True, 2)
        (off2, offc2) = run(work, ca, redis, False, 2)
        on, off = (on1 + on2) / 2, (off1 + off2) / 2
        onc, offc = (onc1 + onc2) / 2, (offc1 + offc2) / 2
        print("submission: %.0f recipients/s with rate limits on (%.0f, %.0f), %.0f off (%.0f, "
              "%.0f) (%d messages x %d recipients, %d pipelining TLS clients); on/off = %.2f"
              % (on, on1, on2, off, off1, off2, MESSAGES, RCPTS, THREADS, on / off))
        print("submission CPU (Postern + Redis) per 1000 recipients: %.0f ms with rate limits "
              "on, %.0f ms off; on/off = %.2f" % (onc, offc, onc / offc))
        env = [run(work, ca, redis, e, 10 + i, data=False)
               for i, e in enumerate((False, True, True, False))]
        on, off = (env[1][0] + env[2][0]) / 2, (env[0][0] + env[3][0]) / 2
        onc, offc = (env[1][1] + env[2][1]) / 2, (env[0][1] + env[3][1]) / 2
        print("submission envelopes only (MAIL, %d RCPT, RSET; no file written): %.0f "
              "recipients/s with rate limits on, %.0f off, on/off = %.2f; CPU per 1000 "
              "recipients %.0f ms on, %.0f ms off, on/off = %.2f"
              % (RCPTS, on, off, on / off, onc, offc, onc / offc))
        # DKIM signing (RSA 2048, on the worker pool) on versus off, rate limits on
        subprocess.run([os.path.join(ROOT, "bin", "posternctl"), "dkim", "keygen", "example.test",
                        "bench", "--dir", work], check=True, capture_output=True)
        key = os.path.join(work, "example.test.bench.key")
        sg = [run(work, ca, redis, True, 20 + i, sign_key=key if s else None)
              for i, s in enumerate((False, True, True, False))]
        on, off = (sg[1][0] + sg[2][0]) / 2, (sg[0][0] + sg[3][0]) / 2
        onc, offc = (sg[1][1] + sg[2][1]) / 2, (sg[0][1] + sg[3][1]) / 2
        print("submission with DKIM signing (RSA 2048): %.0f recipients/s signed, %.0f unsigned, "
              "on/off = %.2f; CPU per 1000 recipients %.0f ms signed, %.0f ms unsigned, "
              "on/off = %.2f" % (on, off, on / off, onc, offc, onc / offc))
        redis.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
