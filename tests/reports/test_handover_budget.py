"""Pages handed from a POST to the GET that shows them, when the store will not keep them: a
flood of refused forms stays within its budget of bytes in Redis, and whatever the store
refuses is shown in the POST's own answer, never lost: what a reporter typed, or the receipt
of a report already stored."""

from __future__ import annotations

import re
import time

import redis

from app.public.reports.handover import HANDOVER_SECONDS
from tests.helpers.forms import csrf_token
from tests.helpers.redis_faults import OutOfMemory, Unreachable
from tests.helpers.report_pages import report_form_data

WORDS = "食堂承包商以次充好，虚开发票，金额约二十万元。"
LONG = WORDS * 300  # some 20 KB of UTF-8


def _handover_bytes(client: redis.Redis) -> int:
    """The bytes of the pages waiting in Redis (not the budgets' counters)."""
    keys = [k for k in client.scan_iter(match=b"portal-public:handover:*") if b"#" not in k]
    return sum(client.strlen(k) for k in keys)


def _shown(client, response):
    """The page a POST led to: by its redirect, or in its own answer."""
    if response.status_code == 303:
        return client.get(response.headers["Location"])
    return response


def _receipt_code(page: str) -> str:
    return "".join(re.findall(r"<span>(\d{4})</span>", page))


def _in_one_window(needed: float = 40.0) -> None:
    """Wait, if need be, for a budget window (clock-aligned, ``HANDOVER_SECONDS`` long) with
    ``needed`` seconds left: the budget is per window, and the pages of the window before
    still wait while the next one's are let in, so a flood that straddles two windows may
    hold up to two budgets at once."""
    left = HANDOVER_SECONDS - time.time() % HANDOVER_SECONDS
    if left < needed:
        time.sleep(left + 0.5)


def test_a_flood_of_refused_forms_stays_within_its_budget_in_redis(demo, instance, redis_url):
    budget = 64 * 1024
    app = instance.app("public", RATELIMIT_STORAGE_URI=redis_url, REPORT_HANDOVER_MAX_BYTES=budget)
    _in_one_window()
    store = redis.Redis.from_url(redis_url)
    sent = []
    for number in range(12):  # twelve visitors, each within its own budget of pages
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{number + 100}"
        data = report_form_data(client, unit="NO-SUCH", what=f"{number}号：{LONG}")
        sent.append((client, client.post("/report/new", data=data)))
    # Before anyone's browser has fetched its page: what waits is within the budget.
    assert _handover_bytes(store) <= budget
    statuses = [response.status_code for _client, response in sent]
    assert statuses.count(303) >= 2 and statuses.count(400) >= 1  # past it: in the answer
    for number, (client, response) in enumerate(sent):
        page = _shown(client, response)
        text = page.get_data(as_text=True)
        # Each form comes back whole, with why it was refused.
        assert page.status_code == 400 and f"{number}号：{WORDS}" in text, number
        assert "请从选项中选择" in text
    # A report sent now gets its receipt by the redirect as ever: receipts are not counted.
    reporter = app.test_client()
    sent = reporter.post("/report/new", data=report_form_data(reporter))
    assert sent.status_code == 303
    assert len(_receipt_code(reporter.get(sent.headers["Location"]).get_data(as_text=True))) == 20
    store.close()


def test_a_receipt_redis_refuses_to_keep_is_shown_in_the_post_s_answer(demo, instance, redis_url):
    app = instance.app("public", RATELIMIT_STORAGE_URI=redis_url)
    for name in ("portal.handover.receipts", "portal.handover.pages"):
        store = app.extensions[name].store
        store._client = OutOfMemory(store._client)
    reporter = app.test_client()
    sent = reporter.post("/report/new", data=report_form_data(reporter, what=WORDS))
    # The report is stored: its receipt is shown at once, not lost with a server error.
    assert sent.status_code == 200 and sent.headers["Cache-Control"] == "no-store"
    code = _receipt_code(sent.get_data(as_text=True))
    assert len(code) == 20
    assert reporter.get_cookie("portal_receipt", path="/report/receipt") is None
    # And the code opens the report (follow-up sessions are another store).
    page = reporter.get("/report/follow-up").get_data(as_text=True)
    entered = reporter.post(
        "/report/follow-up", data={"csrf_token": csrf_token(page), "code": code}
    )
    assert entered.status_code == 303
    assert 'id="h-status"' in reporter.get("/report/follow-up").get_data(as_text=True)
    # A refused form is shown again at once too, with what was typed.
    other = app.test_client()
    refused = other.post("/report/new", data=report_form_data(other, unit="NO-SUCH", what=WORDS))
    assert refused.status_code == 400 and WORDS in refused.get_data(as_text=True)


def test_a_follow_up_redis_refuses_to_keep_says_so_instead_of_a_server_error(
    demo, instance, redis_url
):
    app = instance.app("public", RATELIMIT_STORAGE_URI=redis_url)
    reporter = app.test_client()
    sent = reporter.post("/report/new", data=report_form_data(reporter), follow_redirects=True)
    code = _receipt_code(sent.get_data(as_text=True))
    for name in ("portal.followup_sessions", "portal.handover.pages"):
        store = app.extensions[name].store
        store._client = OutOfMemory(store._client)
    page = reporter.get("/report/follow-up").get_data(as_text=True)
    entered = reporter.post(
        "/report/follow-up", data={"csrf_token": csrf_token(page), "code": code}
    )
    assert entered.status_code == 503 and "网站繁忙" in entered.get_data(as_text=True)
    assert reporter.get_cookie("portal_followup", path="/report/") is None


def test_a_receipt_waiting_while_redis_is_down_is_shown_once_redis_is_back(
    demo, instance, redis_url
):
    app = instance.app("public", RATELIMIT_STORAGE_URI=redis_url)
    reporter = app.test_client()
    sent = reporter.post("/report/new", data=report_form_data(reporter, what=WORDS))
    assert sent.status_code == 303
    store = app.extensions["portal.handover.receipts"].store
    client, store._client = store._client, Unreachable()
    later = reporter.get(sent.headers["Location"])
    shown = later.get_data(as_text=True)
    # Not a server error, not "no longer shown": the report is stored, reload in a minute.
    assert later.status_code == 503 and "您的举报已保存" in shown and later.headers["Retry-After"]
    assert reporter.get_cookie("portal_receipt", path="/report/receipt") is not None
    store._client = client
    page = reporter.get(sent.headers["Location"]).get_data(as_text=True)
    assert len(_receipt_code(page)) == 20
