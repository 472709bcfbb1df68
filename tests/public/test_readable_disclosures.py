"""Disclosure pages as a new worker reads them: the inclusion proof in words, one encoding of
the log's root hash, the order of the log, the history of an item, Chinese punctuation, and a
demo whose examples find something."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from babel.messages.mofile import read_mo
from sqlalchemy import select

from app.models import Disclosure
from app.services.disclosures import log as disclosure_log
from app.services.disclosures import publishing
from crypto import tlog
from tests.helpers.disclosures import publish_item, sign_log, staff

ZH_MO = Path(__file__).parents[2] / "app/translations/zh/LC_MESSAGES/messages.mo"


def _text(page: str) -> str:
    """What a reader sees of a page: tags gone, entities read, spaces folded."""
    page = re.sub(r"(?s)<(script|style|head)\b.*?</\1>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _amend(db, disclosure_id: int, body: str, reason: str) -> None:
    with db() as session:
        disclosure = session.get(Disclosure, disclosure_id)
        disclosure.body = body
        disclosure.reason = reason
        disclosure.work_author_id = staff(session, "publisher").id
        publishing.amend(session, disclosure, approver=staff(session, "approver"))
    sign_log(db)


def _revisions(db, disclosure_id: int) -> list[tuple[int, int, str]]:
    with db() as session:
        disclosure = session.get(Disclosure, disclosure_id)
        return [(r.number, r.log_index, r.leaf_hash) for r in disclosure.revisions]


def test_the_proof_page_says_in_words_which_entries_and_how_to_check(db, demo, public_app):
    d_id = publish_item(db, title="食堂招标结果公示", body="中标单位：**某餐饮公司**。")
    _amend(db, d_id, "中标单位：**某餐饮管理公司**。", "更正单位名称。")
    revisions = _revisions(db, d_id)
    client = public_app.test_client()
    item = client.get(f"/disclosures/{d_id}").get_data(as_text=True)
    assert f'href="/disclosures/{d_id}/proof"' in item  # where "包含证明" is linked

    zh_page = client.get(f"/disclosures/{d_id}/proof")
    assert zh_page.status_code == 200 and zh_page.mimetype == "text/html"
    zh = _text(zh_page.get_data(as_text=True))
    for number, index, _leaf in revisions:
        assert f"第 {number} 版" in zh and f"条目 {index}" in zh
    assert "签名检查点包含这些条目" in zh
    assert "portal log verify --proof proof.json --key key.txt" in zh
    assert "\\u" not in zh

    en = _text(client.get(f"/disclosures/{d_id}/proof?lang=en").get_data(as_text=True))
    for number, index, _leaf in revisions:
        assert f"Revision {number}" in en and f"Entry {index}" in en
    assert "The checkpoint includes the entries above" in en
    assert "offline" in en and "portal log verify --proof" in en

    # One link away: the JSON for tools, at the address tools always used.
    raw = client.get(f"/disclosures/{d_id}/proof").get_data(as_text=True)
    assert f'href="/log/proof/{d_id}"' in raw
    proof = client.get(f"/log/proof/{d_id}")
    assert proof.mimetype == "application/json"
    assert "食堂招标结果公示" in proof.get_data(as_text=True)  # Chinese as written
    document = json.loads(proof.get_data(as_text=True))
    verifier = tlog.Verifier.from_vkey(client.get("/log/key").get_data(as_text=True))
    checked = disclosure_log.check_proof_document(document, verifier)
    assert checked.entries == tuple(index for _n, index, _l in revisions)
    assert checked.root in zh  # the page names the root the proof leads to


def test_a_saved_proof_is_checked_offline_and_a_changed_one_refused(
    db, demo, public_app, console_app, tmp_path
):
    d_id = publish_item(db, title="离线核验测试")
    client = public_app.test_client()
    proof_file = tmp_path / "proof.json"
    key_file = tmp_path / "key.txt"
    proof_file.write_bytes(client.get(f"/log/proof/{d_id}").data)
    key_file.write_bytes(client.get("/log/key").data)
    runner = console_app.test_cli_runner()
    args = ["log", "verify", "--proof", str(proof_file), "--key", str(key_file)]
    ok = runner.invoke(args=args)
    assert ok.exit_code == 0, ok.output
    root = json.loads(proof_file.read_text())["root_hash"]
    assert "Inclusion proof OK" in ok.output and root in ok.output
    # The whole-log check prints the same root, in the same encoding.
    assert root in runner.invoke(args=["log", "verify"]).output

    proof_file.write_text(proof_file.read_text().replace("离线核验测试", "离线核验测验"))
    bad = runner.invoke(args=args)
    assert bad.exit_code == 1 and "FAILED" in bad.output


def test_the_root_hash_reads_the_same_on_the_notice_the_log_and_the_proof(db, demo, public_app):
    d_id = publish_item(db, title="根哈希核对测试")
    client = public_app.test_client()
    note = client.get("/log/checkpoint").get_data(as_text=True)
    root = note.split("\n")[2]  # the root line of the signed checkpoint (base64)
    with db() as session:
        hex_root = disclosure_log.latest_checkpoint(session).root_hash
    notice = _text(client.get(f"/disclosures/{d_id}/print").get_data(as_text=True))
    log_page = _text(client.get("/log/").get_data(as_text=True))
    proof_page = _text(client.get(f"/disclosures/{d_id}/proof").get_data(as_text=True))
    for page in (notice, log_page, proof_page):
        assert f"根哈希 {root}" in page or f"根哈希为： {root}" in page
        assert hex_root not in page and hex_root[:16] not in page


def test_the_log_page_explains_its_order_and_shows_both_dates(db, demo, public_app):
    sign_log(db)  # as `portal demo` does
    client = public_app.test_client()
    page = _text(client.get("/log/?lang=en").get_data(as_text=True))
    assert "numbered in the order they were written to the log" in page
    # The demo's history was imported: logged today, dated earlier; both dates are there.
    with db() as session:
        leaders = session.scalars(
            select(Disclosure).where(Disclosure.public_title.like("集团领导人员履职待遇%"))
        ).all()
        dates = [d.published_at.date().isoformat() for d in leaders]
    assert leaders
    for day in dates:
        assert f"dated {day}" in page
    zh = _text(client.get("/log/?lang=zh").get_data(as_text=True))
    assert "写入日志" in zh and "公开事项日期" in zh and "(第" not in zh


def test_history_numbers_each_revision_once_and_shows_changes_rendered(db, demo, public_app):
    d_id = publish_item(db, title="年金调整通知", body="单位缴费比例为 **6%**。\n\n其他不变。")
    _amend(
        db,
        d_id,
        "单位缴费比例为 **7%**。\n\n其他不变。\n\n<script>alert('历史')</script>",
        "比例调整。",
    )
    client = public_app.test_client()
    page = client.get(f"/disclosures/{d_id}/history").get_data(as_text=True)
    # One numbering: the headings' "第 N 版", no list numbers beside them.
    assert "<ol" not in page
    assert page.count("第 2 版：") == 1 and page.count("第 1 版：") == 1
    change = page.split('class="diff diff-rendered')[1].split('<section class="revision"')[0]
    assert "**" not in change
    assert "<strong>" in change and "<del>6</del>" in change and "<ins>7</ins>" in change
    # A script in a revision's Markdown is never run: neither a tag nor its text survive as code.
    assert "<script>alert" not in page and "alert(&#39;历史&#39;)</script>" not in page


def test_no_half_width_punctuation_after_chinese_in_the_zh_catalogue():
    with ZH_MO.open("rb") as compiled:
        catalogue = read_mo(compiled)
    cjk = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
    after_chinese = re.compile(rf"[{cjk}][:,()]")
    found = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        for text in strings:
            found += [text for _hit in after_chinese.finditer(text or "")]
    assert found == []


def test_demo_search_examples_find_something(demo, public_app):
    client = public_app.test_client()
    for lang in ("zh", "en"):
        page = client.get(f"/disclosures/?lang={lang}").get_data(as_text=True)
        placeholder = html.unescape(re.search(r'name="q"[^>]*placeholder="([^"]+)"', page)[1])
        examples = re.split(r"[,、，]\s*", re.split(r"[:：]\s*", placeholder, maxsplit=1)[1])
        assert len(examples) == 3, placeholder
        for word in examples:
            results = client.get("/search", query_string={"q": word.strip()})
            text = _text(results.get_data(as_text=True))
            assert not re.search(r"共 0 条结果|No results", text), word
            assert "没有找到结果" not in text, word


def test_demo_catalogue_shows_one_or_two_overdue_items(demo, public_app):
    client = public_app.test_client()
    units = re.findall(
        r'href="/disclosures/catalogue/([A-Z0-9-]+)"',
        client.get("/disclosures/catalogue/").get_data(as_text=True),
    )
    assert units
    overdue = sum(
        client.get(f"/disclosures/catalogue/{code}").get_data(as_text=True).count("tag-overdue")
        for code in set(units)
    )
    assert 1 <= overdue <= 2
