"""Public statistics of tip handling at /stats and /stats.csv: the counts, the suppression of
small cells (no hidden cell recoverable from a total), the roll-up to subsidiaries, both
languages, no JavaScript, the page cache and the home page's link."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from html import unescape

import pytest

from app.models import Disposal, Report, ReportStatus, StaffUser
from app.services.cases import decisions, workflow
from app.services.cases.deadlines import DeadlineRules
from app.services.reports import stats as report_stats
from tests.helpers.case_console import send_report

RULES = DeadlineRules()
RECEIVED = date(2026, 7, 6)  # a Monday of the third quarter
EARLIER = date(2026, 5, 11)  # the second quarter
TODAY = date(2026, 12, 1)
WORKSHOPS = ("熔炼车间", "熔炼一班", "合成车间", "采购部", "集团财务部", "第一铸造分厂")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}


def _staff(session, org, username: str) -> StaffUser:
    staff = session.get(StaffUser, org.staff[username])
    assert staff is not None
    return staff


def _handle(session, blobs, org, report_id: str, disposal: Disposal) -> None:
    """Acknowledge in two days, assess, decide together and conclude within a month."""
    report = session.get(Report, report_id)
    insp, head = _staff(session, org, "mch.insp1"), _staff(session, org, "mch.head")
    words = "您的举报已收到，我们将依规处理。"
    workflow.reply(session, blobs, insp, report, words, [], date(2026, 7, 8))
    workflow.change_status(
        session, insp, report, ReportStatus.under_assessment, date(2026, 7, 10), RULES
    )
    decision = decisions.propose(session, insp, report, disposal, date(2026, 7, 20))
    decisions.confirm(session, head, report, decision.id, date(2026, 7, 20))
    decisions.record(session, head, report, decision.id, date(2026, 7, 20))
    workflow.change_status(session, head, report, ReportStatus.concluded, date(2026, 8, 3), RULES)


@pytest.fixture
def reports(db, org, blobs) -> None:
    """Q3 2026: six reports about the machinery company (five handled, one about a workshop
    of its branch factory), two about a chemicals workshop and a suggestion about the group's
    finance department; Q2 2026: one report."""
    handled = [
        send_report(db, blobs, today=RECEIVED, files=False, persons=f"采购员{i}号")
        for i in range(5)
    ]
    send_report(db, blobs, today=RECEIVED, files=False, unit_code="MCH-F1-W1")
    for _ in range(2):
        send_report(
            db, blobs, today=RECEIVED, files=False, unit_code="CHM-W1", category="work_style"
        )
    send_report(
        db,
        blobs,
        today=RECEIVED,
        files=False,
        unit_code="GRP-FIN",
        kind="criticism",
        category="other",
    )
    send_report(db, blobs, today=EARLIER, files=False)
    ways = [Disposal.talk_or_inquiry] * 3 + [Disposal.preliminary_verification] * 2
    with db() as session:
        for report_id, disposal in zip(handled, ways, strict=True):
            _handle(session, blobs, org, report_id, disposal)


def _compute(db, today=TODAY) -> report_stats.Stats:
    with db() as session:
        return report_stats.compute(session, today)


def _row(table: report_stats.Table, columns, quarter) -> dict:
    row = next(r for r in table.rows if r.quarter == quarter)
    return {"total": row.total, **dict(zip(columns, row.cells, strict=True))}


Q3 = report_stats.Quarter(2026, 3)
Q2 = report_stats.Quarter(2026, 2)


def test_counts_per_quarter_kind_category_and_subsidiary(db, reports):
    found = _compute(db)
    assert [q.quarter for q in found.quarters] == [Q3, Q2]
    q3, q2 = found.quarters
    assert q3.received == 9
    # 4 in handling would be hidden alone and 5 concluded would give it away: both hidden.
    assert (q3.in_handling, q3.concluded) == ("<5", "<5")
    assert (q2.received, q2.in_handling, q2.concluded) == ("<5", "<5", 0)
    # Five of nine acknowledged in time, five of nine answered in time: 56 %.
    assert q3.acknowledged.percent == 56
    assert q3.answered.percent == 56
    assert q2.acknowledged.percent is None  # one report: no share
    kinds = _row(found.kinds, found.kinds.columns, Q3)
    assert kinds == {"total": 9, "misconduct": "<5", "criticism": "<5"}
    categories = _row(found.categories, found.categories.columns, Q3)
    assert categories["procurement_bidding"] == 6
    assert categories["work_style"] == "<5" and categories["other"] == "<5"
    assert categories["bribery_embezzlement"] == 0
    names = {i: s.name_zh for i, s in found.subsidiary_names.items()}
    subsidiaries = _row(found.subsidiaries, found.subsidiaries.columns, Q3)
    by_name = {names[k]: v for k, v in subsidiaries.items() if k != "total"}
    # The branch factory's workshop counts under the machinery company, the finance
    # department under the group.
    assert by_name == {
        "华夏能源集团有限公司": "<5",
        "华夏重型机械有限公司": 6,
        "华夏精细化工有限公司": "<5",
    }
    disposals = _row(found.disposals, found.disposals.columns, Q3)
    assert disposals["total"] == 5
    assert disposals["talk_or_inquiry"] == "<5"
    assert disposals["preliminary_verification"] == "<5"
    assert disposals["sent_for_investigation"] == 0


def test_a_quarter_shows_once_it_has_ended_and_counts_what_is_dated_before_today(db, reports):
    # While the third quarter runs nothing of it shows: the page never changes on the day a
    # report comes, so watching it tells no one which day that was.
    for day in (RECEIVED, date(2026, 7, 20), date(2026, 9, 30)):
        assert [q.quarter for q in _compute(db, day).quarters] == [Q2]
    q3 = _compute(db, date(2026, 10, 1)).quarters[0]
    assert q3.quarter == Q3
    assert (q3.received, q3.in_handling, q3.concluded) == (
        9,
        "<5",
        "<5",
    )  # 4 and 5: one hidden, so both
    assert q3.acknowledged.percent == 56  # every acknowledgement date has passed


def test_a_hidden_cell_is_never_alone_in_a_row_with_a_shown_total():
    assert report_stats.suppress_row([3, 10]) == ["<5", "<5"]
    assert report_stats.suppress_row([3, 10, 6]) == ["<5", 10, "<5"]
    assert report_stats.suppress_row([2, 3, 9]) == ["<5", "<5", 9]
    assert report_stats.suppress_row([0, 7, 6]) == [0, 7, 6]
    assert report_stats.suppress_row([4, 0]) == ["<5", 0]  # the total (4) is hidden itself
    for counts in ([1, 5], [4, 5, 5, 0], [1, 0, 0, 12], [6, 7, 2, 0, 9]):
        shown = report_stats.suppress_row(counts)
        assert shown.count("<5") != 1 or sum(counts) < 5, counts


def _suppression_holds(found: report_stats.Stats) -> None:
    tables = (found.kinds, found.categories, found.subsidiaries, found.disposals)
    for table in tables:
        for row in table.rows:
            if row.total != "<5":
                assert row.cells.count("<5") != 1, row
    for q in found.quarters:
        if q.received != "<5":
            assert [q.in_handling, q.concluded].count("<5") != 1


def test_no_hidden_cell_can_be_recovered(db, reports):
    _suppression_holds(_compute(db))
    _suppression_holds(_compute(db, date(2026, 7, 20)))


def _cells(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="table-{table_id}"', 1)[1].split("</table>", 1)[0]
    return [
        # the text of each cell as shown (a name is wrapped in <bdi>)
        [unescape(re.sub(r"</?bdi>", "", c)) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_page_shows_hidden_cells_rolls_up_and_matches_the_csv(db, reports, public_app):
    client = public_app.test_client()
    page = client.get("/stats", headers=ZH)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script" not in html
    assert "2026年第3季度" in html and "2026年第2季度" in html
    assert "华夏重型机械有限公司" in html and "华夏精细化工有限公司" in html
    for name in WORKSHOPS:
        assert name not in html, name
    assert "&lt;5" in html
    assert "—" in html  # the second quarter's shares
    assert "56%" in html
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "<title" in svg and "<desc" in svg
    assert "&lt;5" in svg and ">9<" in svg
    # Each breakdown's header and cells as shown, against the CSV's lines.
    answer = client.get("/stats.csv", headers=ZH)
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    raw = answer.get_data()
    assert raw.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0] == ["季度", "表", "列", "数值"]
    text = raw.decode("utf-8-sig")
    for name in WORKSHOPS:
        assert name not in text, name
    for table_id in ("kind", "category", "subsidiary", "disposal"):
        header, *rows = _cells(html, table_id)
        for row in rows:
            quarter = row[0]
            heading = _heading(html, table_id)
            from_csv = {
                line[2]: line[3] for line in lines if line[0] == quarter and line[1] == heading
            }
            assert from_csv == dict(zip(header[1:], row[1:], strict=True)), table_id
    overview = {(line[0], line[2]): line[3] for line in lines if line[1] == "概况"}
    assert overview[("2026年第3季度", "已收到")] == "9"
    assert overview[("2026年第3季度", "办理中")] == "<5"
    assert overview[("2026年第3季度", "7日内确认收到")] == "56%"
    assert overview[("2026年第2季度", "7日内确认收到")] == "—"


def _heading(html: str, table_id: str) -> str:
    return unescape(re.search(rf'<h2 id="h-{table_id}">(.*?)</h2>', html).group(1))


def test_the_page_in_english(db, reports, public_app):
    client = public_app.test_client()
    html = client.get("/stats", headers=EN).get_data(as_text=True)
    assert "2026 Q3" in html
    assert "Acknowledged within 7 days" in html
    assert "MCH" in html  # the test units' English names are their codes
    assert "MCH-F1" not in html and "CHM-W1" not in html
    text = client.get("/stats.csv", headers=EN).get_data().decode("utf-8-sig")
    assert text.startswith("Quarter,Table,Column,Value")
    assert "2026 Q3,Overview,Reports received,9" in text


def test_empty_page_and_csv(public_app):
    client = public_app.test_client()
    html = client.get("/stats", headers=ZH).get_data(as_text=True)
    assert "尚未收到举报" in html
    assert "<svg" not in html
    text = client.get("/stats.csv", headers=ZH).get_data().decode("utf-8-sig")
    assert text.strip() == "季度,表,列,数值"


def test_the_page_and_csv_are_cached(db, reports, public_app):
    cache = public_app.extensions["portal.page_cache"]
    client = public_app.test_client()
    first = client.get("/stats", headers=ZH)
    assert len(cache) == 1
    again = client.get("/stats", headers=ZH)
    assert again.get_data() == first.get_data()
    assert "Set-Cookie" not in again.headers
    csv_first = client.get("/stats.csv", headers=ZH)
    assert len(cache) == 2
    assert client.get("/stats.csv", headers=ZH).get_data() == csv_first.get_data()
    client.get("/stats", headers=EN)
    assert len(cache) == 3


def test_the_home_page_links_to_stats(public_app):
    html = public_app.test_client().get("/", headers=ZH).get_data(as_text=True)
    assert 'href="/stats"' in html
