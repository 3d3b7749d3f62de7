"""The HTML pages work under the Content-Security-Policy, in a real headless browser.

Debian's Chromium (``/usr/bin/chromium``, never a downloaded build) driven by Playwright for Python
loads the admin (login, index, a change list), the browsable API and the docs (Swagger UI) from the
app running under gunicorn with ``DJANGO_DEBUG`` off, as on the instances, and asserts that each
page rendered (an element only its scripts make) with no CSP violation, no console error, no
script error and no failed request. Without Chromium or Playwright the tests are skipped, except
in CI (``CLOUDSITE_REQUIRE_SERVICES=1``), where they fail. A failing page leaves a screenshot in
``var/browser/``.
"""
import os
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devkit import live

CHROMIUM = Path(os.environ.get("CLOUDSITE_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = live.REPO / "var" / "browser"
REQUIRE_SERVICES = os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1"
ADMIN, ADMIN_PASSWORD = "root@example.com", "browser-admin-secret-77"
USER, PASSWORD = "browser@example.com", "browser-user-secret-55"
TIMEOUT_MS = 20_000
# The app under test has its own SQLite database whatever the pass: the Makefile's MariaDB pass
# leaves this directory out (--ignore=tests/browser), so it runs once, never skipped.
TINY_GIF = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"  # 1x1, base64
# Every securitypolicyviolation event of the page, from before its first script runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def unavailable(message: str):
    if REQUIRE_SERVICES:
        pytest.fail(message + "; CI requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):
    """The app under gunicorn, static files collected, an admin and a verified user; its base URL."""
    workdir = tmp_path_factory.mktemp("browser")
    env = live.app_environment(workdir, "http://127.0.0.1:9", DJANGO_STATIC_ROOT=str(workdir / "static"),
                               DJANGO_DEBUG="false")
    live.manage(env, "migrate", "--noinput", "-v0")
    live.manage(env, "collectstatic", "--noinput", "-v0")
    live.manage(env, "shell", "-c", (
        "from accounts.models import User; "
        f"User.objects.create_superuser({ADMIN!r}, {ADMIN_PASSWORD!r}, first_name='A', last_name='D')"
    ))
    live.create_verified_user(env, USER, PASSWORD)
    with live.gunicorn(env, workdir / "gunicorn.log") as (port, _):
        yield f"http://127.0.0.1:{port}"


class Watched:
    """A page whose CSP violations, console errors, script errors and failed requests are kept."""

    def __init__(self, page, name: str):
        self.page = page
        self.name = name
        self.problems = []
        page.set_default_timeout(TIMEOUT_MS)
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(
            f"request failed: {request.url} ({request.failure})"))
        page.on("response", lambda response: response.status >= 400 and self.problems.append(
            f"HTTP {response.status}: {response.url}"))

    def _console(self, message):
        url = message.location.get("url", "")
        # Chromium's own request for /favicon.ico (the site has none) is not the page's doing
        if message.type == "error" and not url.endswith("/favicon.ico"):
            self.problems.append(f"console error: {message.text} ({url})")

    def goto(self, url: str):
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, (url, response and response.status)
        assert "script-src 'self'" in response.headers.get("content-security-policy", ""), url
        return response

    def violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations")

    def assert_clean(self):
        assert self.violations() == [] and self.problems == []

    @contextmanager
    def screenshot_on_failure(self):
        try:
            yield self
        except BaseException:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"{self.name}.png"), full_page=True)
            raise


@contextmanager
def watched_page(chromium, name: str, **context_options):
    context = chromium.new_context(**context_options)
    try:
        with Watched(context.new_page(), name).screenshot_on_failure() as watched:
            yield watched
    finally:
        context.close()


def test_the_admin_works_under_the_policy(chromium, app):
    with watched_page(chromium, "admin") as watched:
        page = watched.page
        watched.goto(f"{app}/admin/login/")
        # the admin's stylesheet applied: the header has its colour, not the default transparent
        assert page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        page.fill("#id_username", ADMIN)
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{app}/admin/")
        assert page.inner_text("#content h1") == "Site administration"
        watched.goto(f"{app}/admin/accounts/user/")
        # actions.js ran: it fills the selection counter ("0 of 2 selected")
        page.wait_for_function("document.querySelector('.action-counter')?.textContent.includes('selected')")
        watched.assert_clean()


def test_the_browsable_api_works_under_the_policy(chromium, app):
    credentials = {"username": USER, "password": PASSWORD, "send": "always"}
    with watched_page(chromium, "browsable-api", http_credentials=credentials) as watched:
        page = watched.page
        watched.goto(f"{app}/v1/user/self")
        assert USER in page.inner_text(".response-info")
        # its scripts ran: prettify coloured the JSON (span.str), jQuery and bootstrap are loaded
        page.wait_for_selector(".response-info pre span.str")
        assert page.evaluate("typeof window.jQuery === 'function' && typeof jQuery.fn.modal === 'function'")
        watched.assert_clean()


def test_the_docs_work_under_the_policy(chromium, app):
    with watched_page(chromium, "docs") as watched:
        page = watched.page
        watched.goto(f"{app}/v1/docs")
        # Swagger UI started (its script, a separate file), fetched the schema and rendered it
        assert "cloudsite API" in page.locator(".swagger-ui .info .title").inner_text()
        page.wait_for_selector(".swagger-ui .opblock-summary-path[data-path='/v1/user/self']")
        watched.assert_clean()


def test_an_inline_script_is_blocked_and_seen(chromium, app):
    """The check can fail: a script injected into the page is refused and recorded."""
    with watched_page(chromium, "inline-script") as watched:
        page = watched.page
        watched.goto(f"{app}/admin/login/")
        page.evaluate("""() => {
          const script = document.createElement("script");
          script.textContent = "window.__injectedRan = true";
          document.body.append(script);
        }""")
        page.wait_for_function("window.__cspViolations.length > 0")
        assert page.evaluate("window.__injectedRan") is None
        assert watched.violations() == ["script-src-elem blocked inline"]


class AttackerPage(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<p>Nothing to see here.</p>")

    def log_message(self, *args):
        pass


@contextmanager
def another_site():
    """A page on another site: a plain HTTP server on loopback, browsed as ``localhost`` (a site
    of its own, unlike 127.0.0.1; on loopback, so Chromium's local network checks let it reach
    the app as any site on the Internet could reach a public one)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), AttackerPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_cross_site_form_cannot_use_the_cached_credentials(chromium, app):
    """The browser has Basic credentials for the app (answered once, as a person would in its
    prompt); a page on another site then submits a form that uploads a picture (a file set by
    script, no user action). The browser sends the credentials along, marked cross-site: the app
    refuses it. The same form submitted from the app's own page goes through."""
    port = int(app.rsplit(":", 1)[1])
    submit_picture = f"""() => {{
      const form = document.createElement("form");
      form.method = "POST";
      form.enctype = "multipart/form-data";
      form.action = "{app}/v1/user/self/pic";
      const input = document.createElement("input");
      input.type = "file";
      input.name = "image";
      const gif = Uint8Array.from(atob("{TINY_GIF}"), (c) => c.charCodeAt(0));
      const files = new DataTransfer();
      files.items.add(new File([gif], "x.gif", {{type: "image/gif"}}));
      input.files = files.files;
      form.append(input);
      document.body.append(form);
      form.submit();
    }}"""
    credentials = {"username": USER, "password": PASSWORD}
    with watched_page(chromium, "cross-site", http_credentials=credentials) as watched, \
            another_site() as attacker:
        page = watched.page
        watched.goto(f"{app}/v1/user/self")  # the credentials, now the browser's
        page.goto(attacker)
        with page.expect_response(f"{app}/v1/user/self/pic") as refused:
            page.evaluate(submit_picture)
        page.wait_for_url(f"{app}/v1/user/self/pic")  # the form's navigation has ended
        headers = refused.value.request.all_headers()
        assert headers["sec-fetch-site"] == "cross-site" and "authorization" in headers
        assert refused.value.status == 403
        status, _, _ = live.request(port, "GET", "/v1/user/self/pic", live.basic(USER, PASSWORD))
        assert status == 404  # nothing was stored

        watched.goto(f"{app}/v1/user/self")
        with page.expect_response(f"{app}/v1/user/self/pic") as accepted:
            page.evaluate(submit_picture)
        page.wait_for_url(f"{app}/v1/user/self/pic")
        assert accepted.value.request.all_headers()["sec-fetch-site"] == "same-origin"
        assert accepted.value.status == 201
        status, _, _ = live.request(port, "GET", "/v1/user/self/pic", live.basic(USER, PASSWORD))
        assert status == 200
