"""Safe content: Markdown cleaned by an allow-list; attachments checked and served safely."""

import io
import re
import unicodedata

import pytest

from app.services.blobs import BlobError, FilesystemBlobStore
from app.services.disclosures.attachments import matches_content, safe_filename
from app.services.sanitize import markdown_to_text, render_markdown
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "![x](https://evil.example/x.png)",
    "![x](//evil.example/x.png)",
    "![x](/static/../evil.png)",
    "![x](javascript:alert(1))",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<svg onload=alert(1)>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<<script>script>alert(1)<</script>/script>",
    '<a href="http://ok.example" onclick="alert(1)">x</a>',
    '[x](http://ok.example "t" onmouseover=alert(1))',
    "<object data=x></object><embed src=x>",
    "<form action=https://evil.example><input name=a></form>",
    "<!-- --><script>alert(1)</script>",
    "| a |\n| --- |\n| <script>alert(1)</script> |",
    "<base href=https://evil.example/>",
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    "[x](//evil.example)",
]


@pytest.mark.parametrize("payload", XSS)
def test_xss_payloads_do_not_survive(payload):
    html = str(render_markdown(payload)).lower()
    # Escaped text is harmless; what matters is every real tag and attribute.
    tags = re.findall(r"<[^>]*>", html)
    allowed = {"p", "/p", "a", "/a", "img", "table", "/table", "thead", "/thead", "tbody"}
    allowed |= {"/tbody", "tr", "/tr", "th", "/th", "td", "/td", "em", "/em", "br"}
    for tag in tags:
        name = re.match(r"<\s*(/?\w*)", tag).group(1)
        assert name in allowed, tag
        assert not re.search(r"\son\w+\s*=", tag), tag
        assert "style=" not in tag, tag
        for href in re.findall(r'href="([^"]*)"', tag):
            assert re.match(r"^(https?:|mailto:|/[^/\\]|[^:]*$)", href), href
        for src in re.findall(r'src="([^"]*)"', tag):
            assert re.fullmatch(r"/disclosures/\d+/attachments/\d+", src), src


def test_allowed_markdown_renders():
    html = str(
        render_markdown(
            "# 标题\n\n**粗体** *斜体*\n\n- 一\n- 二\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
            "[链接](https://example.org) [邮件](mailto:a@example.org) [站内](/disclosures/1)\n\n"
            "![图](/disclosures/3/attachments/4)"
        )
    )
    for tag in ("<h1>", "<strong>", "<em>", "<ul>", "<table>", "<td>"):
        assert tag in html
    assert 'href="https://example.org"' in html and 'href="mailto:a@example.org"' in html
    assert 'href="/disclosures/1"' in html
    assert 'src="/disclosures/3/attachments/4"' in html
    assert markdown_to_text("**粗体** [链接](https://x)") == "粗体 链接"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("report\x00.pdf", "report.pdf"),
        ("/absolute/path/a.pdf", "a.pdf"),
        ("...", "attachment"),
        (".htaccess", "attachment.htaccess"),
        ("C:\\Users\\x\\预算.xlsx", "预算.xlsx"),
        # Dots and spaces mixed in front, in any order and in compatibility forms.
        ("  ..  .pdf", "attachment.pdf"),
        (". . .pdf", "attachment.pdf"),
        ("..pdf", "attachment.pdf"),
        ("   ", "attachment"),
        ("  ．．招标结果.pdf", "招标结果.pdf"),
        ("．．．pdf", "attachment.pdf"),
        ("．", "attachment"),
        ("\u2026招标结果.pdf", "招标结果.pdf"),  # an ellipsis is "..." under NFKC
        ("\u3000.\u00a0.招标结果.docx", "招标结果.docx"),
        ("../．．/ .. .xlsx", "attachment.xlsx"),
        (".\u200b.pdf", "attachment.pdf"),
        (". 招标结果", "招标结果"),
        ("2026年 上半年 .csv", "2026年 上半年 .csv"),
    ],
)
def test_path_tricks_in_names_are_harmless(name, expected):
    assert safe_filename(name) == expected
    for form in ("NFC", "NFKC", "NFKD"):
        assert not unicodedata.normalize(form, safe_filename(name)).startswith(".")


def test_blob_store_names_are_random_and_keys_checked(tmp_path):
    store = FilesystemBlobStore(tmp_path / "blobs")
    blob = store.put(io.BytesIO(b"%PDF-1.4 x"), 1000)
    assert re.fullmatch(r"[0-9a-f]{32}", blob.key)
    with store.open(blob.key) as fh:
        assert fh.read() == b"%PDF-1.4 x"
    for bad in ("../../etc/passwd", "..", "a/b", blob.key + "/.."):
        with pytest.raises(BlobError):
            store.open(bad)


@pytest.mark.parametrize(
    ("ext", "head", "ok"),
    [
        ("pdf", b"%PDF-1.7\n", True),
        ("pdf", b"<html><script>", False),
        ("png", b"\x89PNG\r\n\x1a\n....", True),
        ("jpg", b"GIF89a", False),
        ("docx", b"PK\x03\x04....", True),
        ("docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", False),
        ("doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", True),
        ("xls", b"PK\x03\x04", False),
        ("csv", "a,b\n1,二\n".encode(), True),
        ("csv", b"PK\x03\x04", False),
        ("csv", b"a\x00b", False),
    ],
)
def test_type_is_checked_by_content(ext, head, ok):
    assert matches_content(ext, head) is ok


def _new_form(client):
    page = client.get("/publish/new?lang=en")
    assert page.status_code == 200
    return csrf_token(page.get_data(as_text=True))


def _post_draft(client, token, **extra):
    data = {
        "csrf_token": token,
        "title": "附件测试事项",
        "category": "procurement",
        "unit": "GRP",
        "scope": "everyone",
        "body": "我写了很长的正文。",
        "save": "1",
    }
    data.update(extra)
    return client.post("/publish/new", data=data, content_type="multipart/form-data")


def test_bad_uploads_get_form_errors_and_keep_what_was_typed(auth):
    auth.login("publisher")
    client = auth.client
    token = _new_form(client)
    wrong = _post_draft(client, token, attachments=(io.BytesIO(b"<html>"), "x.pdf"))
    assert wrong.status_code == 400
    body = wrong.get_data(as_text=True)
    assert "does not match its type" in body
    assert "附件测试事项" in body and "我写了很长的正文。" in body
    exe = _post_draft(client, token, attachments=(io.BytesIO(b"MZ"), "run.exe"))
    assert "This file type is not accepted" in exe.get_data(as_text=True)
    empty = _post_draft(client, token, title="")
    assert empty.status_code == 400 and "Enter a title." in empty.get_data(as_text=True)
    assert "我写了很长的正文。" in empty.get_data(as_text=True)
    unknown = _post_draft(client, token, category="no-such")
    assert unknown.status_code == 400
    assert "Choose a category from the list." in unknown.get_data(as_text=True)


def test_oversized_upload_is_refused(instance, demo):
    from tests.helpers.console import ConsoleAuth

    app = instance.app("console", ATTACHMENT_MAX_BYTES=1000)
    auth = ConsoleAuth(app.test_client())
    auth.login("publisher")
    token = _new_form(auth.client)
    big = _post_draft(
        auth.client, token, attachments=(io.BytesIO(b"%PDF-1.4" + b"0" * 5000), "big.pdf")
    )
    assert big.status_code == 400
    assert "larger than" in big.get_data(as_text=True)


def test_attachments_are_served_safely(auth, console_app, public_app):
    auth.login("publisher")
    client = auth.client
    token = _new_form(client)
    response = _post_draft(
        client,
        token,
        save_and_submit="1",
        attachments=[
            (io.BytesIO(b"%PDF-1.4 demo"), "../../etc/passwd.pdf"),
            (io.BytesIO(b"a,b\n1,2\n"), "..\\表.csv"),
        ],
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    d_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    approver = signed_in(console_app, "approver")
    page = approver.get(f"/publish/{d_id}").get_data(as_text=True)
    approver.post(f"/publish/{d_id}/review", data={"csrf_token": csrf_token(page), "approve": "1"})
    public = public_app.test_client()
    item = public.get(f"/disclosures/{d_id}").get_data(as_text=True)
    links = re.findall(rf"/disclosures/{d_id}/attachments/(\d+)", item)
    assert len(set(links)) == 2
    assert "passwd.pdf" in item and "../" not in item
    pdf = public.get(f"/disclosures/{d_id}/attachments/{links[0]}")
    assert pdf.headers["Content-Disposition"].startswith("inline")
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    assert pdf.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert pdf.mimetype == "application/pdf"
    pdf.close()
    csv = public.get(f"/disclosures/{d_id}/attachments/{sorted(set(links))[1]}")
    assert csv.headers["Content-Disposition"].startswith("attachment")
    assert csv.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    csv.close()
    assert public.get(f"/disclosures/{d_id}/attachments/999999").status_code == 404
