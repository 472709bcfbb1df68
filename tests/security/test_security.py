"""Security baseline on every response of both apps."""

import re

import pytest
from flask import abort

from tests.helpers.forms import csrf_token

PUBLIC_PATHS = ["/", "/healthz", "/static/css/portal.css", "/no-such-page"]
CONSOLE_PATHS = ["/login", "/", "/admin/", "/healthz", "/no-such-page"]


def _check_baseline(response):
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    # No third-party host anywhere: every source is 'self' or 'none'.
    for directive in csp.split(";"):
        for source in directive.split()[1:]:
            assert source in ("'self'", "'none'"), directive
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "geolocation=()" in response.headers["Permissions-Policy"]


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_public_headers(public_app, path):
    response = public_app.test_client().get(path)
    response.close()
    _check_baseline(response)
    assert "no-store" not in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_console_headers(console_app, path):
    response = console_app.test_client().get(path)
    _check_baseline(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_reference_only_local_assets(public_app, console_app):
    for app, path in ((public_app, "/"), (console_app, "/login")):
        html = app.test_client().get(path).get_data(as_text=True)
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"^(https?:)?//", url), url
        assert "<script>" not in html and " style=" not in html and "<style" not in html


def test_hsts_only_with_https(instance):
    plain = instance.app("public").test_client().get("/")
    assert "Strict-Transport-Security" not in plain.headers
    secure = instance.app("public", HTTPS=True).test_client().get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def _login_cookie(client):
    page = client.get("/login")
    return page, [v for k, v in page.headers.items() if k == "Set-Cookie"]


def test_cookies_are_separate_httponly_and_samesite(instance):
    console = instance.app("console").test_client()
    _page, cookies = _login_cookie(console)
    assert cookies, "the login form needs a session for its CSRF token"
    cookie = cookies[0]
    assert cookie.startswith("portal_console=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie

    public = instance.app("public").test_client()
    response = public.get("/?lang=en")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("portal_public=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookies_are_secure_with_https(instance):
    console = instance.app("console", HTTPS=True).test_client()
    page = console.get("/login", base_url="https://localhost")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("__Host-portal_console=")
    assert "Secure" in cookie and "Path=/" in cookie


def test_a_console_session_is_not_accepted_by_the_public_app(instance, demo):
    from tests.helpers.console import ConsoleAuth

    console_app = instance.app("console")
    auth = ConsoleAuth(console_app.test_client())
    auth.login("admin")
    ticket = auth.client.get_cookie("portal_console_key")
    assert auth.client.get("/admin/").status_code == 200
    public = instance.app("public").test_client()
    public.set_cookie("portal_public", ticket.value)
    public.set_cookie("portal_console_key", ticket.value)
    with public.session_transaction() as session:
        assert "staff_id" not in session
    assert public.get("/admin/").status_code == 404
    assert public.get("/account/sessions").status_code == 404


def test_every_console_url_is_404_on_public(console_app, public_app):
    client = public_app.test_client()
    rules = [
        r
        for r in console_app.url_map.iter_rules()
        if r.endpoint not in ("static", "health.healthz")
    ]
    assert rules
    for rule in rules:
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        if path == "/":
            continue
        assert client.get(path).status_code == 404, path
        assert client.post(path).status_code in (404, 400), path


def test_console_refuses_addresses_outside_the_allowlist(instance):
    app = instance.app("console", CONSOLE_ALLOW="10.20.0.0/16")
    client = app.test_client()
    refused = client.get("/login", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert refused.status_code == 403
    assert "无权访问" in refused.get_data(as_text=True)
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "10.21.0.1"}).status_code == 403
    assert client.get("/login", environ_base={"REMOTE_ADDR": "10.20.3.4"}).status_code == 200


def test_default_allowlist_is_loopback_and_private(console_app):
    client = console_app.test_client()
    for address in ("127.0.0.1", "10.1.2.3", "172.16.5.5", "192.168.0.9", "::1"):
        assert client.get("/login", environ_base={"REMOTE_ADDR": address}).status_code == 200
    for address in ("8.8.8.8", "172.32.0.1", "2001:db8::1"):
        assert client.get("/login", environ_base={"REMOTE_ADDR": address}).status_code == 403


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(instance):
    app = instance.app("console", CONSOLE_ALLOW="10.0.0.0/8", TRUSTED_PROXIES="127.0.0.1")
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}  # the proxy's own address is not in the allowlist

    def through_proxy(forwarded_for):
        return client.get("/login", environ_base=proxy, headers={"X-Forwarded-For": forwarded_for})

    # Through the trusted proxy, the client's own address decides, either way.
    allowed = through_proxy("10.0.0.1")
    assert allowed.status_code == 200 and "工作人员登录" in allowed.get_data(as_text=True)
    refused = through_proxy("203.0.113.5")
    assert refused.status_code == 403 and "无权访问" in refused.get_data(as_text=True)
    # The proxy adds the address it sees to what the client sent: only that one counts.
    assert through_proxy("10.0.0.1, 203.0.113.5").status_code == 403
    # A client that talks directly cannot pick an allowed address with the header.
    spoofed = client.get(
        "/login",
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
        headers={"X-Forwarded-For": "10.0.0.1"},
    )
    assert spoofed.status_code == 403


def test_post_without_csrf_token_gets_translated_400(console_app):
    client = console_app.test_client()
    response = client.post("/login", data={"username": "admin", "password": "x", "code": "123456"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "表单已过期" in body and "刷新页面" in body
    english = client.post("/login?lang=en", data={"username": "admin"})
    assert "Reload the page" in english.get_data(as_text=True)


def test_stale_csrf_token_is_refused(console_app):
    client = console_app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    other = console_app.test_client()
    other.get("/login")
    response = other.post("/login", data={"csrf_token": token, "username": "a"})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("code", "zh", "en"),
    [
        (400, "请求有误", "Bad request"),
        (403, "无权访问", "Access denied"),
        (404, "页面不存在", "Page not found"),
        (405, "不支持的请求方式", "Method not allowed"),
        (408, "发送过慢", "Sent too slowly"),
        (413, "上传内容过大", "Upload too large"),
        (429, "请求过于频繁", "Too many requests"),
        (500, "出现了问题", "Something went wrong"),
    ],
)
def test_error_pages_in_both_languages(instance, code, zh, en):
    for surface in ("public", "console"):
        app = instance.app(surface)

        @app.get("/__raise")
        def raise_error():
            if code == 500:
                raise RuntimeError("secret internal detail /etc/passwd")
            abort(code)

        app.testing = False  # real error handling, as in production
        client = app.test_client()
        response = client.get("/__raise")
        assert response.status_code == code
        body = response.get_data(as_text=True)
        assert zh in body
        assert "Traceback" not in body and "secret internal detail" not in body
        assert en in client.get("/__raise?lang=en").get_data(as_text=True)


def test_method_not_allowed_is_a_page(public_app):
    response = public_app.test_client().delete("/")
    assert response.status_code == 405
    assert "不支持的请求方式" in response.get_data(as_text=True)


def test_oversized_request_is_refused(instance):
    app = instance.app("console", MAX_CONTENT_LENGTH=1024)
    response = app.test_client().post("/login", data={"username": "x" * 5000})
    assert response.status_code == 413
    assert "上传内容过大" in response.get_data(as_text=True)


def test_health_reports_database(public_app, console_app):
    for app in (public_app, console_app):
        response = app.test_client().get("/healthz")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_is_503_when_database_is_unreachable(tmp_path, monkeypatch):
    from app import create_app

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = create_app(
        "public", {"DATABASE_URL": f"sqlite:///{tmp_path}/missing-dir/nested/portal.sqlite3"}
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"
