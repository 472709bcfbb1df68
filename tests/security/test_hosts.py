"""Both sites answer only the host names they are configured for (TRUSTED_HOSTS)."""

from __future__ import annotations

import pytest
from flask import template_rendered

from app.config import ConfigError
from tests.helpers.disclosures import publish_item

FOREIGN = ["evil.example", "localhost.evil.example", "127.0.0.1.evil.example:8000", "公开.example"]


def rendered_templates(app):
    names: list[str] = []

    def record(_sender, template, **_extra):
        names.append(template.name)

    template_rendered.connect(record, app, weak=False)
    return names


@pytest.mark.parametrize("host", FOREIGN)
def test_a_foreign_host_reaches_no_view_and_no_cache(public_app, demo, host):
    client = public_app.test_client()
    cache = public_app.extensions["portal.page_cache"]
    names = rendered_templates(public_app)
    for path in ("/", "/disclosures/", "/disclosures/1/history", "/search?q=招标", "/healthz"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 400, path
        assert "请求有误" in response.get_data(as_text=True)  # the translated error page
        assert host not in response.get_data(as_text=True)
    assert set(names) == {"errors/error.html"}
    assert len(cache) == 0
    # A known name still works, and is what fills the cache.
    assert client.get("/disclosures/", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    assert len(cache) == 1


def test_console_refuses_a_foreign_host(console_app):
    client = console_app.test_client()
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400
    assert client.post("/login", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/login", headers={"Host": "localhost:8001"}).status_code == 200


def test_hosts_come_from_the_base_url_binds_and_allowed_hosts(instance):
    app = instance.app(
        "public",
        PUBLIC_BASE_URL="https://portal.example.internal:8443/",
        CONSOLE_BIND="10.1.2.3:8001",
        PUBLIC_BIND="0.0.0.0:8000",
        ALLOWED_HOSTS="console.example.internal, .jw.example.internal",
    )
    assert app.config["TRUSTED_HOSTS"] == [
        "localhost",
        "127.0.0.1",
        "portal.example.internal",
        "10.1.2.3",
        "console.example.internal",
        ".jw.example.internal",
    ]
    client = app.test_client()
    for host in ("portal.example.internal", "10.1.2.3:8001", "a.jw.example.internal"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    for host in ("0.0.0.0:8000", "jw.example.internal.evil", "example.internal"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 400, host


def test_a_chinese_base_url_host_is_trusted_in_its_ascii_form(instance):
    app = instance.app("public", PUBLIC_BASE_URL="https://公开.example.internal")
    assert "xn--55qw44a.example.internal" in app.config["TRUSTED_HOSTS"]


@pytest.mark.parametrize("bad", ["evil example", "exa_mple.com", "[::1]", "a/b", "公开 网"])
def test_bad_allowed_hosts_stop_the_app(instance, bad):
    with pytest.raises(ConfigError, match="PORTAL_ALLOWED_HOSTS"):
        instance.app("public", ALLOWED_HOSTS=bad)


def test_absolute_links_use_the_public_base_url(instance, demo, db):
    d_id = publish_item(db, title="二维码链接测试")
    app = instance.app("public", PUBLIC_BASE_URL="https://portal.example.internal")
    client = app.test_client()
    base = "https://portal.example.internal"
    printed = client.get(f"/disclosures/{d_id}/print").get_data(as_text=True)
    assert f"{base}/disclosures/{d_id}" in printed and "http://localhost" not in printed
    feed = client.get("/disclosures/feed.atom").get_data(as_text=True)
    assert f"{base}/disclosures/{d_id}" in feed and "http://localhost" not in feed
    qr = client.get(f"/disclosures/{d_id}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"


def test_host_names_are_case_insensitive_and_ports_are_the_sites_own(public_app, demo):
    client = public_app.test_client()
    cache = public_app.extensions["portal.page_cache"]
    for host in ("LOCALHOST", "Localhost:8000", "127.0.0.1:8000", "127.0.0.1:443", "localhost"):
        assert client.get("/disclosures/", headers={"Host": host}).status_code == 200, host
    # Other ports of a known name are made-up names: no page, no cache entry each.
    entries = len(cache)
    for port in (1, 123, 8002, 65535, 99999):
        response = client.get("/disclosures/", headers={"Host": f"localhost:{port}"})
        assert response.status_code == 400, port
    assert len(cache) == entries


def test_the_base_url_port_is_accepted(instance):
    app = instance.app("public", PUBLIC_BASE_URL="https://portal.example.internal:8443")
    client = app.test_client()
    for port, status in ((8443, 200), (8444, 400)):
        host = f"portal.example.internal:{port}"
        assert client.get("/healthz", headers={"Host": host}).status_code == status
