"""posternctl policy set|show|unset: per-user overrides in Redis (pt:pol:{ADDRESS}),
checked before they are stored (policy/user_prefs_admin.c)."""
import os
import subprocess

from conftest import BUILD
from postern import Postern


def ctl(p, *args):
    return subprocess.run([os.path.join(BUILD, "posternctl"), "-f", p.config_path] + list(args),
                          capture_output=True, text=True, timeout=30)


def test_policy_set_show_unset(tmp_path, redis_server):
    p = Postern(tmp_path, overrides={"redis": {"socket": redis_server.socket}})
    r = ctl(p, "policy", "show", "Alice@Example.test")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Alice@Example.test: no overrides\n"

    assert ctl(p, "policy", "set", "alice@example.test", "level", "high").returncode == 0
    assert ctl(p, "policy", "set", "alice@example.test", "greylisting", "off").returncode == 0
    assert ctl(p, "policy", "set", "alice@example.test", "whitelist",
               '["@partner.example", "192.0.2.0/24"]').returncode == 0
    assert redis_server.cli("HGET", "pt:pol:{alice@example.test}", "level") == "high"
    r = ctl(p, "policy", "show", "alice@example.test")
    assert r.stdout == ('greylisting off\nlevel high\n'
                        'whitelist ["@partner.example", "192.0.2.0/24"]\n'), r.stdout

    # refused before anything is stored: unknown key, invalid value, not an address
    for args in (("set", "alice@example.test", "colour", "blue"),
                 ("set", "alice@example.test", "greylisting", "maybe"),
                 ("set", "alice@example.test", "tag", "lots"),
                 ("set", "nobody", "level", "high")):
        r = ctl(p, "policy", *args)
        assert r.returncode == 65, (args, r.returncode, r.stderr)
        assert r.stderr.startswith("posternctl: "), r.stderr
    assert "colour" not in ctl(p, "policy", "show", "alice@example.test").stdout

    r = ctl(p, "policy", "unset", "alice@example.test", "greylisting")
    assert r.returncode == 0 and r.stdout == "alice@example.test: greylisting unset\n"
    r = ctl(p, "policy", "unset", "alice@example.test", "greylisting")
    assert r.stdout == "alice@example.test: greylisting was not set\n"
    assert ctl(p, "policy", "unset", "alice@example.test", "all").returncode == 0
    assert redis_server.cli("EXISTS", "pt:pol:{alice@example.test}") == "0"
