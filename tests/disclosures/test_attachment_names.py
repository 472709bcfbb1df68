"""Attachment names in any script reach the browser intact (RFC 6266 / 5987), on both apps."""

from __future__ import annotations

import http.client
import io
import re
import threading
from urllib.parse import quote

import pytest
from sqlalchemy import select
from werkzeug.http import parse_options_header
from werkzeug.serving import make_server

from app.models import DisclosureAttachment
from app.security.headers import content_disposition
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token
from tests.helpers.servers import free_port

NAMES = [
    "招标结果.pdf",
    "2026年 上半年 领导人员薪酬.csv",
    'a "quoted" name.csv',
    "甲;乙; filename=evil.pdf",
    "第一行\r\n第二行.pdf",
    "tab\there.csv",
    "100%_done é.pdf",
    "plain.pdf",
]


def browser_filename(header: str) -> tuple[str, str]:
    """The disposition and name a browser takes: ``filename*`` first (RFC 6266, 4.3)."""
    header.encode("latin-1")  # what a server must be able to send at all
    disposition, params = parse_options_header(header)
    return disposition, params.get("filename")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["inline", "attachment"])
def test_header_is_ascii_and_carries_the_name(kind, name):
    header = content_disposition(kind, name)
    assert header.isascii() and "\r" not in header and "\n" not in header
    disposition, filename = browser_filename(header)
    assert disposition == kind
    assert filename == re.sub(r"[\x00-\x1f]", "", name)
    fallback = re.search(r'filename="([^"]*)"', header).group(1)
    assert fallback and fallback.isascii() and not fallback.startswith(".")
    assert header.count("filename=") == 1  # a semicolon in the name adds no parameter


def test_fallback_keeps_the_extension_of_a_chinese_name():
    assert 'filename="attachment.pdf"' in content_disposition("inline", "招标结果.pdf")


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("招标 结果(终稿).pdf", "attachment.pdf"),
        ("（）.txt", "attachment.txt"),
        ("会议纪要(2).docx", "(2).docx"),
        ("预算 v2 最终.xlsx", "v2.xlsx"),
        ("招标结果.报告", "attachment"),
        ("说明", "attachment"),
        ("Report 2026.pdf", "Report 2026.pdf"),
    ],
)
def test_the_ascii_stand_in_is_a_name_or_attachment(name, fallback):
    header = content_disposition("attachment", name)
    assert f'filename="{fallback}";' in header
    assert header.endswith("filename*=UTF-8''" + quote(name, safe="!#$&+-.^_`|~"))


def _publish_with(auth, console_app, files):
    auth.login("publisher")
    client = auth.client
    token = csrf_token(client.get("/publish/new").get_data(as_text=True))
    response = client.post(
        "/publish/new",
        data={
            "csrf_token": token,
            "title": "附件名称测试",
            "category": "procurement",
            "unit": "GRP",
            "scope": "everyone",
            "body": "见附件。",
            "save_and_submit": "1",
            "attachments": files,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    d_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    approver = signed_in(console_app, "approver")
    page = approver.get(f"/publish/{d_id}").get_data(as_text=True)
    approver.post(f"/publish/{d_id}/review", data={"csrf_token": csrf_token(page), "approve": "1"})
    return d_id


def _serve(instance):
    port = free_port("127.0.0.1")
    app = instance.app("public", PUBLIC_BIND=f"127.0.0.1:{port}")
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def test_chinese_names_download_from_both_apps(instance, auth, console_app, public_app):
    files = [
        (io.BytesIO(b"%PDF-1.4 demo"), "招标结果.pdf"),
        (io.BytesIO("名称,金额\n甲,1\n".encode()), "会议 纪要.csv"),
    ]
    d_id = _publish_with(auth, console_app, files)
    db = console_app.extensions["portal.db"]
    with db.session() as session:
        rows = list(session.scalars(select(DisclosureAttachment).order_by(DisclosureAttachment.id)))
        # A name stored before names were cleaned on upload: a line break must not break it.
        rows[1].filename = '会议 "纪要";\r\n终稿.csv'
        session.commit()
        ids = [row.id for row in rows]
    expected = {ids[0]: ("inline", "招标结果.pdf"), ids[1]: ("attachment", '会议 "纪要";终稿.csv')}
    public = public_app.test_client()
    console = auth.client  # signed in as the publisher
    server = _serve(instance)
    try:
        for attachment_id, (kind, name) in expected.items():
            path = f"/disclosures/{d_id}/attachments/{attachment_id}"
            for client, url in (
                (public, path),
                (console, f"/publish/{d_id}/attachments/{attachment_id}"),
            ):
                response = client.get(url)
                assert response.status_code == 200, url
                assert browser_filename(response.headers["Content-Disposition"]) == (kind, name)
                response.close()
            # The same through a real HTTP server, as a browser receives it.
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
            conn.request("GET", path)
            real = conn.getresponse()
            assert real.status == 200
            assert browser_filename(real.getheader("Content-Disposition")) == (kind, name)
            real.read()
            conn.close()
    finally:
        server.shutdown()
