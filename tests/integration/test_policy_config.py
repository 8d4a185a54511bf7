"""postern -n / -v / -R and the policy engine's config: shipped levels and profiles shown
with their defaults, domain_defaults inherited by domains, and what -n refuses: unknown
symbols, levels and checks (exit 78 with a JSON pointer)."""
import json
import os
import subprocess

from conftest import BUILD


def postern(*args):
    r = subprocess.run([os.path.join(BUILD, "postern")] + list(args), capture_output=True,
                       text=True)
    return r.returncode, r.stdout, r.stderr


def check(tmp_path, extra, verbose=False):
    conf = {
        "spool_dir": str(tmp_path / "spool"),
        "relay": {"local_domains": ["example.test", "strict.example.test"]},
        "listeners": [{"name": "mx", "address": "127.0.0.1:2525", "profile": "inbound"}],
    }
    conf.update(extra)
    f = tmp_path / "postern.conf"
    f.write_text(json.dumps(conf))
    rc, out, err = postern("-n", "-f", str(f), *(["-v"] if verbose else []))
    return rc, out, err.replace(str(f), "FILE")


def test_effective_config_shows_levels_profiles_and_domain_defaults(tmp_path):
    rc, out, err = check(tmp_path, {
        "domain_defaults": {"greylisting": True},
        "domains": {"strict.example.test": {"level": "high"}},
        "policy": {"levels": {"high": {"kill": 9}, "custom": {"tag": 4}}},
    }, verbose=True)
    assert rc == 0, err
    c = json.loads(out)
    levels = c["policy"]["levels"]
    assert {k: (v["tag"], v["spam"], v["kill"]) for k, v in levels.items()} == {
        "high": (3, 5, 9), "medium": (5, 8, 12), "low": (8, 12, 20), "custom": (4, 8, 12)}
    assert levels["medium"]["subject_prefix"] == "+++SPAM+++ "
    assert set(c["policy"]["profiles"]) == {"inbound", "submission", "submissions"}
    assert c["policy"]["profiles"]["submissions"]["direction"] == "submission"
    strict = c["domains"]["strict.example.test"]
    assert strict["level"] == "high" and strict["greylisting"] is True
    assert c["domain_defaults"]["level"] == "medium"
    assert c["policy"]["user_settings_ttl"] == "5s"


def test_unknown_symbol_is_refused(tmp_path):
    rc, _, err = check(tmp_path, {"policy": {"symbols": {"RDNS_NOPE": {"score": 2}}}})
    assert rc == 78
    assert "FILE: error: /policy/symbols/RDNS_NOPE: unknown symbol (no check declares it)" in err


def test_unknown_level_is_refused(tmp_path):
    rc, _, err = check(tmp_path, {"domains": {"example.test": {"level": "hihg"}}})
    assert rc == 78
    assert ('FILE: error: /domains/example.test/level: unknown level "hihg" '
            '(not in policy.levels)') in err


def test_unknown_check_is_refused(tmp_path):
    rc, _, err = check(tmp_path, {"policy": {"profiles": {"inbound": {
        "checks": {"no_such_check": {}}}}}})
    assert rc == 78
    assert "FILE: error: /policy/profiles/inbound/checks/no_such_check: unknown name" in err
    rc, _, err = check(tmp_path, {"policy": {"levels": {"high": {
        "unsure_defer": ["no_such_check"]}}}})
    assert rc == 78
    assert 'unknown check "no_such_check"' in err


def test_bad_thresholds_and_list_entries_are_refused(tmp_path):
    rc, _, err = check(tmp_path, {"policy": {"levels": {"low": {"tag": 30}}}})
    assert rc == 78
    assert "/policy/levels/low: thresholds must be tag <= spam <= kill" in err
    rc, _, err = check(tmp_path, {"policy": {"whitelist": ["not an entry"]}})
    assert rc == 78
    assert "/policy/whitelist/0:" in err


def test_reference_documents_the_policy_keys():
    rc, out, _ = postern("-R")
    assert rc == 0
    for row in ("| /policy/levels/NAME/kill | number | 12 | -1000..1000 |",
                "| /domain_defaults/level | string | medium |",
                "| /policy/profiles/NAME/checks | map of named objects |",
                "| /policy/symbols/NAME/score | number, required |"):
        assert row in out, row
