"""A reporter's download links name a file by its id alone: the address of a page opened on a
shared workshop PC stays in its browser's history, and a file's name can say what the report
is about. The name still reaches the saved file, in Content-Disposition."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from app.models import Report, StaffUser
from app.services.reports.messages import post_office_message
from app.services.reports.submission import submit
from crypto.receipts import derive_receipt
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, upload_files

NAME = "食堂采购（第二批）发票.txt"
DATA = "食堂采购发票：大米五百斤，单价偏高。\n".encode()


def test_a_thread_s_download_link_carries_no_file_name(db, org, blobs, public_app):
    with db() as session:
        done = submit(session, blobs, PEPPER, form(what="食堂采购问题"), [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        files = upload_files(blobs, [(NAME, "text/plain", DATA)])
        post_office_message(session, blobs, report, inspector, "请核对这张发票。", files, TODAY)
    identity = derive_receipt(done.code, PEPPER, PARAMS.current_params).identity
    token = public_app.extensions["portal.followup_sessions"].start(done.report_id, identity)
    client = public_app.test_client()
    client.set_cookie("portal_followup", token, path="/report/")

    thread = client.get("/report/follow-up").get_data(as_text=True)
    assert NAME in thread  # listed by name on the page
    links = re.findall(r'href="(/report/follow-up/files/[^"]*)"', thread)
    assert len(links) == 1
    link = links[0]
    assert "?" not in link and "name" not in link
    assert "发票" not in unquote(link) and quote("发票") not in link

    download = client.get(link)
    assert download.status_code == 200 and download.data == DATA
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(NAME)}" in disposition  # RFC 5987: the Chinese name

    # An address made before links lost their names still works; the name in it is not used.
    old = client.get(link + "?name=" + quote("别的名字.exe"))
    assert old.status_code == 200 and old.data == DATA
    assert f"filename*=UTF-8''{quote(NAME)}" in old.headers["Content-Disposition"]
    assert "exe" not in old.headers["Content-Disposition"]
