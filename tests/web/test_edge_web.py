"""The edge in a real browser: a page on another port of the same host cannot act with a
signed-in user's cookie or read a space over the WebSocket, and /docs renders with no
network but the server's own, under the Content-Security-Policy."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.flows import unique

pytestmark = pytest.mark.browser

ATTACK = """<!doctype html><html><head><title>cute cats</title></head><body><script>
const target = %(target)r;
window.stolen = [];
window.closed = null;
async function attack() {
  const opts = (body, type) => ({method: 'POST', mode: 'no-cors', credentials: 'include',
                                 headers: type ? {'Content-Type': type} : {}, body});
  await Promise.allSettled([
    fetch(target + '/api/v1/users/%(attacker)s/follow', opts(undefined)),
    fetch(target + '/api/v1/spaces/%(space)s/join', opts('{}', 'text/plain')),
    fetch(target + '/api/v1/spaces/%(space)s/join', opts(undefined)),
  ]);
  await new Promise((resolve) => {
    const ws = new WebSocket(target.replace('http', 'ws') + '/api/v1/ws');
    ws.onopen = () => ws.send(JSON.stringify({op: 'subscribe', space_id: '%(space)s'}));
    ws.onmessage = (ev) => window.stolen.push(ev.data);
    ws.onerror = () => {};
    ws.onclose = (ev) => { window.closed = ev.code; resolve(); };
    setTimeout(() => { ws.close(); resolve(); }, 5000);
  });
  document.title = 'done';
}
attack();
</script></body></html>"""


@contextlib.contextmanager
def attacker_site(page_html: str) -> Iterator[str]:
    """A plain HTTP server on another loopback port serving one page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _signup(http: httpx.Client, handle: str) -> tuple[int, str]:
    r = http.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle, "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    http.cookies.clear()
    return int(r.json()["user"]["id"]), str(r.json()["token"])


def test_a_page_on_another_port_cannot_act_or_listen_as_the_user(
    browsers: Any, server: str
) -> None:
    names = {k: unique(k) for k in ("victim", "mallory", "hostess")}
    with httpx.Client(base_url=server, timeout=10) as http:
        _signup(http, names["mallory"])
        _, hostess = _signup(http, names["hostess"])
        victim_id, _ = _signup(http, names["victim"])
        r = http.post(
            "/api/v1/spaces",
            json={"title": "Board meeting", "visibility": "private", "guest_ids": [victim_id]},
            headers={"Authorization": f"Bearer {hostess}"},
        )
        assert r.status_code == 201, r.text
        space = r.json()["id"]
    browser = browsers.launch()
    page = browsers.page(browser, server)
    # The victim signs in in this browser (the session cookie is set for 127.0.0.1).
    r = page.request.post(
        server + "/api/v1/auth/login",
        data={"handle": names["victim"], "password": "correct horse"},
        headers={"Origin": server},
    )
    assert r.status == 200, r.text()
    victim_token = r.json()["token"]
    # The refused requests show up as console errors (403, or the WebSocket handshake).
    browsers.console.allow(r"Failed to load resource|WebSocket connection to .* failed")
    html = ATTACK % {"target": server, "attacker": names["mallory"], "space": space}
    with attacker_site(html) as evil:
        assert urlsplit(evil).hostname == urlsplit(server).hostname  # same site, other port
        page.goto(evil)
        expect(page).to_have_title("done", timeout=15_000)
        stolen = page.evaluate("window.stolen")
    assert stolen == [], stolen  # no snapshot, not even an error message: no socket at all
    with httpx.Client(base_url=server, timeout=10) as http:
        me = {"Authorization": f"Bearer {victim_token}"}
        profile = http.get(f"/api/v1/users/{names['mallory']}", headers=me).json()
        assert profile["is_following"] is False
        snapshot = http.get(f"/api/v1/spaces/{space}/snapshot", headers=me)
        assert snapshot.status_code == 200, snapshot.text
        assert snapshot.json()["me"]["role"] is None  # not joined
        assert snapshot.json()["listener_count"] == 0
    # The same browser on the server's own page may.
    page.goto(server + "/")
    result = page.evaluate(
        """async (handle) => {
             const r = await fetch('/api/v1/users/' + handle + '/follow',
                                   {method: 'POST', credentials: 'same-origin'});
             return r.status;
           }""",
        names["mallory"],
    )
    assert result == 200


def test_docs_render_offline_under_the_csp(browsers: Any, server: str) -> None:
    browser = browsers.launch()
    page = browsers.page(browser, server)
    own = urlsplit(server).netloc
    elsewhere: list[str] = []

    def offline(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.context.route("**/*", offline)
    response = page.goto(server + "/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("townhall")
    expect(page.locator(".opblock-tag", has_text="auth")).to_be_visible()
    page.locator(".opblock-summary", has_text="/api/v1/auth/login").first.click()
    expect(page.get_by_text("Sign in with handle and password.").first).to_be_visible()
    assert elsewhere == []
