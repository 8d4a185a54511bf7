"""The web page in a real browser: Debian's chromium, headless, driven over the DevTools
protocol (cdp.py, Python's standard library). One browser for the module; each test
starts from no cookies. Log in through the form, change the protection level and see it
used for the next message, a CSRF attempt from another page fails, markup stored in a
user's data is shown as text."""
import http.server
import threading

import pytest

from cdp import Browser, chromium_path
from conftest import free_port
from postern import Raw, queued_id, send_raw_message
from webclient import ADMIN, ADMIN_PASSWORD, PASSWORD, USER, start_web_server

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="chromium is not installed (make deps)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


@pytest.fixture
def page(browser):
    p = browser.page()
    p.call("Network.enable")
    p.call("Network.clearBrowserCookies")
    yield p
    p.close()


@pytest.fixture
def web(tmp_path, test_ca, redis_server):
    p = start_web_server(tmp_path, test_ca, redis_server)
    yield p
    p.stop()


def base(web):
    return "http://127.0.0.1:%d/ui/" % web.web_port


def login(page, web, user, password):
    page.goto(base(web))
    assert "Log in" in page.text()
    page.fill("input[name=login]", user)
    page.fill("input[name=password]", password)
    page.submit("form.login")


def level_of_next_message(web, rcpt):
    """Send one message to rcpt and return the level the engine applied to it (its
    policy record in the queue file)."""
    r = Raw(web.port)
    assert r.reply()[0] == 220
    code, lines = send_raw_message(r, rcpts=[rcpt])
    assert code == 250, lines
    r.close()
    qid = queued_id(lines)
    recs = [ln for ln in web.records(qid) if ln.startswith("policy ")]
    assert recs, web.records(qid)
    return recs[-1].split()[7]


def test_web_browser_login_and_change_level_used_for_next_message(web, page):
    assert level_of_next_message(web, USER) == "medium"
    login(page, web, USER, "wrong password")
    assert "Wrong login or password" in page.text()
    login(page, web, USER, PASSWORD)
    assert page.url() == base(web)
    text = page.text()
    assert "Settings of " + USER in text and "Log out" in text
    # the session cookie is invisible to scripts (HttpOnly)
    assert "postern_session" not in page.eval("document.cookie")
    # the custom scores are hidden by the script until "custom" is chosen
    assert page.eval("document.getElementById('scores').classList.contains('hidden')")
    page.eval("var s = document.getElementById('level'); s.value = 'high';"
              "s.dispatchEvent(new Event('change'))")
    page.submit("#settings-form")
    assert "Saved." in page.text()
    assert page.eval("document.getElementById('level').value") == "high"
    assert web.redis.cli("HGET", "pt:pol:{%s}" % USER, "level") == "high"
    assert level_of_next_message(web, USER) == "high"
    # custom scores through the same form
    page.eval("var s = document.getElementById('level'); s.value = 'custom';"
              "s.dispatchEvent(new Event('change'))")
    assert not page.eval("document.getElementById('scores').classList.contains('hidden')")
    page.fill("input[name=spam]", "4.5")
    page.submit("#settings-form")
    assert "Saved." in page.text()
    assert web.redis.cli("HGET", "pt:pol:{%s}" % USER, "spam") == "4.5"
    assert page.console_errors() == []


class AttackPage(http.server.BaseHTTPRequestHandler):
    """Another site's page that posts the settings form to the web page on load."""
    target = None

    def do_GET(self):
        body = ("<!DOCTYPE html><form method=post action='%ssettings'>"
                "<input name=user value='%s'><input name=level value=low>"
                "<input name=csrf value='guess'></form>"
                "<script>document.forms[0].submit()</script>" % (self.target, USER)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_web_browser_csrf_attempt_fails(web, page):
    login(page, web, USER, PASSWORD)
    assert "Settings of" in page.text()
    AttackPage.target = base(web)
    # threads: the browser may keep an idle (pre)connection open, which must not hold up
    # the shutdown
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), AttackPage)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        page.call("Page.navigate", url="http://127.0.0.1:%d/" % srv.server_address[1])
        page.wait_until("location.pathname === '/ui/settings' && "
                        "document.readyState === 'complete'")   # the form's answer
        text = page.text()
        assert "CSRF" in text or "not logged in" in text, text
    finally:
        srv.shutdown()
        srv.server_close()
    assert web.redis.cli("HGET", "pt:pol:{%s}" % USER, "level") == ""
    # and the real form of the logged-in user still works
    page.goto(base(web))
    assert "Settings of" in page.text()


def test_web_browser_markup_in_stored_data_is_shown_as_text(web, page):
    evil = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>@example.test"
    web.redis.cli("HSET", "pt:pol:{%s}" % evil.lower(), "level", "high")
    login(page, web, ADMIN, ADMIN_PASSWORD)
    assert "Users of your domains" in page.text()
    assert evil.lower() in page.text()                  # shown, as text
    assert page.eval("window.pwned === undefined")
    assert page.eval("document.querySelectorAll('main script, main img').length") == 0


def test_web_browser_quarantine_release_and_script_subject_escaped(web, page):
    from webclient import add_quarantine_entry, jobs
    add_quarantine_entry(web.redis, "QQQ1.0", USER, subject="<script>window.pwned=1</script>",
                         score=9.5, date=1700000001)
    add_quarantine_entry(web.redis, "QQQ2.0", USER, subject="Cheap pills", score=7.5,
                         date=1700000002)
    login(page, web, USER, PASSWORD)
    assert page.eval("document.querySelectorAll('#quarantine-table tbody tr').length") == 2
    subjects = page.eval("Array.from(document.querySelectorAll('td.subject'))"
                         ".map(td => td.textContent)")
    assert "<script>window.pwned=1</script>" in subjects       # shown as text
    assert page.eval("window.pwned === undefined")
    assert page.eval("document.querySelectorAll('main script').length") == 0
    # sort by score in the page (app.js), then filter
    page.eval("document.querySelector('th[data-sort=score] button').click()")
    assert page.eval("document.querySelector('#quarantine-table tbody tr').dataset.id") == \
        "QQQ2.0"
    page.fill("#quarantine-search", "pills")
    page.eval("document.getElementById('quarantine-search')"
              ".dispatchEvent(new Event('input'))")
    assert page.eval("document.querySelectorAll('#quarantine-table tbody tr:not(.hidden)')"
                     ".length") == 1
    # release one entry
    page.events.clear()
    page.eval("document.querySelector('tr[data-id=\"QQQ2.0\"] button[value=release]').click()")
    page._wait_event("Page.loadEventFired")
    assert "The message was released" in page.text()
    assert page.eval("document.querySelectorAll('#quarantine-table tbody tr').length") == 1
    assert "release QQQ2.0 0" in "\n".join(jobs(web.redis))


def test_web_browser_domain_admin_releases_from_the_domain_quarantine(web, page):
    from webclient import BOB, add_quarantine_entry, jobs
    add_quarantine_entry(web.redis, "DOM1.0", USER, subject="for alice", date=1700000001)
    add_quarantine_entry(web.redis, "DOM2.0", BOB, subject="for bob", date=1700000002)
    add_quarantine_entry(web.redis, "DOM3.0", "carol@other.test", subject="elsewhere",
                         date=1700000003)
    login(page, web, ADMIN, ADMIN_PASSWORD)
    page.events.clear()
    page.eval("document.querySelector('a.domain-quarantine').click()")
    page._wait_event("Page.loadEventFired")
    assert "Quarantine of example.test" in page.text()
    rows = page.eval("Array.from(document.querySelectorAll('#quarantine-table tbody tr'))"
                     ".map(r => r.dataset.id)")
    assert rows == ["DOM2.0", "DOM1.0"]
    page.events.clear()
    page.eval("document.querySelector('tr[data-id=\"DOM2.0\"] button[value=release]').click()")
    page._wait_event("Page.loadEventFired")
    assert "The message was released" in page.text()
    assert "Quarantine of example.test" in page.text()
    assert "release DOM2.0 0" in "\n".join(jobs(web.redis))
    # a domain it does not administer
    page.goto(base(web) + "?domain=other.test")
    assert "only an admin of the domain" in page.text()


def test_web_browser_digest_link_confirms_then_releases(web, page):
    from webclient import add_quarantine_entry, jobs, make_token
    add_quarantine_entry(web.redis, "LNKB.0", USER, subject="<script>window.pwned=3</script>")
    token = make_token("LNKB.0", USER, action="learn")
    page.goto(base(web) + "q/" + token)            # no login needed
    assert "Release this message?" in page.text()
    assert page.eval("document.getElementById('subject').textContent") == \
        "<script>window.pwned=3</script>"
    assert page.eval("window.pwned === undefined")
    assert jobs(web.redis) == []
    page.submit("#confirm-form")
    assert "released" in page.text().lower()
    assert [j.split()[:2] for j in jobs(web.redis)] == [["release", "LNKB.0"]]
