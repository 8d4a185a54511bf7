"""The demo's private DNS zone (tools/demo-dns.sh, written by `make demo-setup`, served by
dnsmasq that `make run` starts on 127.0.0.1:5354).

Writes the zone into a temp dir with a fresh DKIM key, starts dnsmasq on a free loopback port
with the options tools/demo-run.sh uses, and asks it through the daemon's own resolver
(tests/helpers/dnsq): the forward-confirmed PTR of 127.0.0.1, the MX records of the demo's
domains and of the README's example sender domains, SPF, DMARC and the DKIM key; names outside the
zone are refused (nothing is forwarded). The demo config, without the loopback exemption,
passes `postern -n`.
"""
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, helper_path
from dns_zone import query, udp_tcp_port

DEMO_DNS = os.path.join(ROOT, "tools", "demo-dns.sh")
DEMO_CONF = os.path.join(ROOT, "etc", "postern.demo.json")


def dnsq(server, rtype, name):
    """(status, data tokens) of one lookup through lib/dns.c."""
    r = subprocess.run([helper_path("dnsq"), "--server", server, rtype, name],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)
    tokens = r.stdout.splitlines()[0].split()
    data = [t for t in tokens[3:] if t != "cached" and not t.startswith(("ttl=", "ms="))]
    return tokens[2], " ".join(data)


@pytest.fixture(scope="module")
def demo_dns(tmp_path_factory):
    """(server address, DKIM record text, run dir) of the demo zone served by dnsmasq."""
    if shutil.which("dnsmasq") is None:
        pytest.fail("required test tool missing: dnsmasq (apt-get install dnsmasq-base)")
    top = tmp_path_factory.mktemp("demo")
    run = top / "run"
    (run / "dkim").mkdir(parents=True)
    rec = run / "dkim" / "example.test.demo.txt"
    with open(rec, "w") as f:
        subprocess.run([os.path.join(BUILD, "posternctl"), "dkim", "keygen", "example.test",
                        "demo", "--dir", str(run / "dkim")], stdout=f,
                       stderr=subprocess.DEVNULL, check=True, timeout=60)
    subprocess.run(["sh", DEMO_DNS, str(run / "dns"), str(rec)], check=True, timeout=30)
    conf = run / "dns" / "dnsmasq.conf"
    proc = None
    for _ in range(5):
        port = udp_tcp_port()
        cmd = ["dnsmasq", "--conf-file=%s" % conf, "--port=%d" % port,
               "--listen-address=127.0.0.1", "--bind-interfaces", "--keep-in-foreground",
               "--pid-file="]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            if proc.poll() is not None or query(port, "demo.example.test", timeout=0.1):
                break
        if proc.poll() is None:
            break
    assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
    try:
        yield "127.0.0.1:%d" % port, rec.read_text(), run
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


def test_demo_zone_has_forward_confirmed_ptr_for_loopback(demo_dns):
    server = demo_dns[0]
    status, data = dnsq(server, "PTR", "127.0.0.1")
    assert status == "ok" and data.split() == ["demo.example.test"], (status, data)
    status, data = dnsq(server, "A", "demo.example.test")
    assert status == "ok" and data.split() == ["127.0.0.1"], (status, data)


@pytest.mark.parametrize("domain", ["example.test", "strict.example.test",
                                    "bounce.example.test", "example.org", "example.com"])
def test_demo_zone_has_mx_of_demo_and_example_domains(demo_dns, domain):
    status, data = dnsq(demo_dns[0], "MX", domain)
    assert status == "ok" and data.split(), (status, data)
    host = data.split()[-1]
    status, addr = dnsq(demo_dns[0], "A", host)
    assert status == "ok" and addr, (host, status, addr)


def test_demo_zone_publishes_spf_and_the_demo_dkim_key(demo_dns):
    server, record, _ = demo_dns
    status, data = dnsq(server, "TXT", "example.test")
    assert status == "ok" and "v=spf1 ip4:127.0.0.1 -all" in data, (status, data)
    status, data = dnsq(server, "TXT", "demo._domainkey.example.test")
    key = "".join(p for p in record.split('"')[1::2])
    assert status == "ok" and key.startswith("v=DKIM1;"), (status, data, record)
    assert key.split("p=")[1] in data.replace('" "', "").replace('"', ""), (data, key)
    status, data = dnsq(server, "TXT", "_dmarc.example.test")
    assert status == "ok" and "v=DMARC1; p=none" in data, (status, data)


def test_demo_zone_answers_nothing_else_and_forwards_nothing(demo_dns):
    server = demo_dns[0]
    assert dnsq(server, "A", "nosuch.example.test")[0] == "nxdomain"
    assert dnsq(server, "A", "www.example.net")[0] == "refused"


def test_demo_config_passes_check_with_the_demo_zone(demo_dns):
    run = demo_dns[2]
    etc = run.parent / "etc"
    etc.mkdir()
    shutil.copy(DEMO_CONF, etc / "postern.demo.json")
    (run / "tls").mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-keyout", str(run / "tls" / "key.pem"), "-out", str(run / "tls" / "cert.pem"),
                    "-subj", "/CN=postern.example.test"],
                   check=True, capture_output=True, timeout=60)
    r = subprocess.run([os.path.join(BUILD, "postern"), "-n", "-v", "-f",
                        str(etc / "postern.demo.json")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"127.0.0.1:5354"' in r.stdout          # dns.servers: the demo's dnsmasq
    assert "dns_skip_networks" not in open(DEMO_CONF).read()
