"""The receipt page tells the reporter, file by file and part by part, what cleaning did: what
was removed from the pictures and files inside a document, what could not be cleaned."""

from __future__ import annotations

import io

from tests.helpers.report_pages import post_report, report_form_data
from tests.services.reports.test_cleaning_embedded import marked_pdf


def test_the_receipt_names_each_embedded_file_cleaned_or_removed(demo, public_app):
    client = public_app.test_client()
    data = report_form_data(client)
    data["attachments"] = [(io.BytesIO(marked_pdf()), "举报材料.pdf")]
    response = post_report(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    assert "举报材料.pdf" in page and "已清除隐藏信息" in page and "位置（GPS）" in page
    assert "已清除内嵌文件 合同.docx 中的隐藏信息" in page
    assert "已清除内嵌文件 现场照片.jpg 中的隐藏信息" in page
    assert "内嵌文件 说明.txt 无法清理，已被移除" in page
