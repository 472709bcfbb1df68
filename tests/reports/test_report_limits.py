"""Trying to close the report channel or fill its stores from outside: limits, budgets and the
stores of pages, each refusal saying why and keeping what was typed."""

from __future__ import annotations

import io
import re
import time

import pytest

from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import (
    CANARY,
    FILE_CANARY,
    blob_files,
    post_report,
    report_form_data,
)


def test_the_per_client_limit_says_so_and_keeps_what_was_typed(demo, instance):
    app = instance.app("public", RATELIMIT_REPORTS="1 per hour")
    client = app.test_client()
    assert (
        client.post("/report/new", data=report_form_data(client), follow_redirects=True).status_code
        == 200
    )
    data = report_form_data(client, persons="第二份举报的被反映人")
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "第二份.txt")]
    response = post_report(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "短时间内提交的举报过多" in page and "请一小时后再试" in page
    assert "第二份举报的被反映人" in page and CANARY in page
    assert not any(FILE_CANARY in p.read_bytes() for p in blob_files(app))
    # Another reporter is not held back by this one.
    other = app.test_client()
    response = other.post(
        "/report/new",
        data=report_form_data(other),
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
        follow_redirects=True,
    )
    assert response.status_code == 200


def test_guessing_codes_is_limited_even_for_the_right_code(demo, instance):
    app = instance.app("public", RATELIMIT_RECEIPTS="3 per hour")
    client = app.test_client()
    page = client.post(
        "/report/new", data=report_form_data(client), follow_redirects=True
    ).get_data(as_text=True)
    import re

    code = "".join(re.findall(r"<span>(\d{4})</span>", page))
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    tries = [f"{n:020d}" for n in range(3)] + [code]
    statuses = [
        client.post(
            "/report/follow-up", data={"csrf_token": token, "code": c}, follow_redirects=True
        ).status_code
        for c in tries
    ]
    assert statuses == [200, 200, 200, 429]
    assert client.get_cookie("portal_followup", path="/report/") is None


def test_forms_sent_back_do_not_use_up_the_client_s_limit(demo, instance):
    app = instance.app("public", RATELIMIT_REPORTS="1 per hour")
    client = app.test_client()
    sent_back = [
        {"unit": "NO-SUCH"},  # refused by the service
        {"what": ""},  # a field missing
        {"show_inspectors": "1"},  # who reads reports at the office
        {"where": "王" * 201},  # too long
    ]
    for changes in sent_back:
        response = client.post("/report/new", data=report_form_data(client, **changes))
        assert response.status_code == 303
        page = client.get(response.headers["Location"])
        shown = page.get_data(as_text=True)
        assert page.status_code in (200, 400) and "车间主任 李某" in shown
    response = client.post("/report/new", data=report_form_data(client), follow_redirects=True)
    assert response.status_code == 200 and 'class="receipt-code"' in response.get_data(as_text=True)
    response = client.post("/report/new", data=report_form_data(client), follow_redirects=True)
    assert response.status_code == 429  # the one report stored is what counted


def test_a_flood_of_refused_forms_cannot_push_out_a_waiting_receipt(demo, public_app):
    reporter = public_app.test_client()
    sent = reporter.post("/report/new", data=report_form_data(reporter))
    assert sent.status_code == 303  # the receipt waits for the reporter's GET
    pages = public_app.extensions["portal.handover.pages"].store
    pages._max = 50  # a small store, filled by one visitor's refused forms
    flood = public_app.test_client()
    for _ in range(120):
        flood.post("/report/new", data=report_form_data(flood, what="", persons="垃圾" * 500))
    assert len(pages) <= 50
    page = reporter.get(sent.headers["Location"]).get_data(as_text=True)
    assert len("".join(re.findall(r"<span>(\d{4})</span>", page))) == 20


def test_a_body_past_the_limit_is_answered_with_a_redirect_and_a_reason(demo, instance):
    app = instance.app("public", REPORT_MAX_BYTES=1024 * 1024)
    client = app.test_client()
    data = report_form_data(client)
    data["attachments"] = [(io.BytesIO(b"z" * (3 * 1024 * 1024)), "巨大.bin")]
    response = post_report(client, data, follow=False)
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 413 and "1 MiB" in page.get_data(as_text=True)


def test_one_client_refused_again_and_again_cannot_fill_the_store_of_forms(demo, instance):
    from app.public.reports.handover import Handover
    from app.services.ephemeral import MemoryStore

    app = instance.app("public", RATELIMIT_RECEIPTS="5 per hour")
    window = time.time()  # one window of the budget, whenever the test runs
    store = MemoryStore(max_entries=30, max_bytes=1 << 20, now=lambda: window)
    app.extensions["portal.handover.pages"] = Handover(store, evict=False, spare=True)
    flooder = app.test_client()
    flooder.environ_base["REMOTE_ADDR"] = "198.51.100.66"
    token = csrf_token(flooder.get("/report/follow-up").get_data(as_text=True))
    statuses = []
    for _ in range(40):  # malformed codes, then refused by the limit: each sent back
        response = flooder.post("/report/follow-up", data={"csrf_token": token, "code": "12"})
        statuses.append(response.status_code)
    assert len(store) == 20  # this client's share, not the whole store
    # Past it, each page is the POST's own answer: kept nowhere.
    assert statuses[:20] == [303] * 20 and 303 not in statuses[20:]
    # Another reporter's refused form still comes back whole.
    reporter = app.test_client()
    reporter.environ_base["REMOTE_ADDR"] = "198.51.100.67"
    response = reporter.post("/report/new", data=report_form_data(reporter, unit="NO-SUCH"))
    page = reporter.get(response.headers["Location"]).get_data(as_text=True)
    assert "请从选项中选择" in page and "挪用班组活动经费" in page


def test_a_page_refused_by_the_default_limit_says_when_without_a_redirect(demo, instance):
    app = instance.app("public", RATELIMIT_DEFAULT="3 per hour")
    client = app.test_client()
    for path in ("/report/follow-up", "/report/new", "/report/"):
        responses = [client.get(f"{path}?lang=en") for _ in range(4)]
        refused = responses[-1]
        assert [r.status_code for r in responses] == [200, 200, 200, 429], path
        page = refused.get_data(as_text=True)
        assert "Location" not in refused.headers and "Wait an hour and try again." in page
        assert "receipt codes" not in page
        assert refused.headers["Cache-Control"] == "no-store"


def test_a_reply_past_the_limit_is_answered_with_a_redirect_and_a_reason(demo, instance):
    app = instance.app("public", REPORT_MAX_BYTES=1024 * 1024)
    client = app.test_client()
    sent = client.post("/report/new", data=report_form_data(client), follow_redirects=True)
    code = "".join(re.findall(r"<span>(\d{4})</span>", sent.get_data(as_text=True)))
    page = client.get("/report/follow-up").get_data(as_text=True)
    entered = client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": code})
    assert entered.status_code == 303
    thread = client.get("/report/follow-up").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(thread),
        "text": "补充一份很大的材料",
        "attachments": [(io.BytesIO(b"z" * (3 * 1024 * 1024)), "巨大的附件.bin")],
    }
    response = post_report(client, data, follow=False, path="/report/follow-up/reply")
    assert response.status_code == 303
    shown = client.get(response.headers["Location"])
    assert shown.status_code == 413 and "1 MiB" in shown.get_data(as_text=True)


class _Unreachable:
    """A store whose server is down (Redis not answering)."""

    def put(self, *_args, **_kwargs):
        raise ConnectionError("store unreachable")

    def take(self, *_args):
        raise ConnectionError("store unreachable")


@pytest.mark.parametrize("store", ["full", "unreachable"])
def test_a_form_the_store_cannot_keep_comes_back_in_the_post_s_answer(demo, instance, store):
    from app.public.reports.handover import Handover
    from app.services.ephemeral import MemoryStore

    app = instance.app("public")
    backend = MemoryStore(max_entries=1, max_bytes=1 << 20) if store == "full" else _Unreachable()
    app.extensions["portal.handover.pages"] = Handover(backend, evict=False, spare=True)
    if store == "full":
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = "198.51.100.70"
        other.post("/report/new", data=report_form_data(other, unit="NO-SUCH"))
        assert len(backend) == 1
    for path, data, typed in (
        ("/report/new", lambda c: report_form_data(c, unit="NO-SUCH"), "挪用班组活动经费"),
        (
            "/report/follow-up",
            lambda c: {"csrf_token": report_form_data(c)["csrf_token"], "code": "12"},
            "20 位",
        ),
    ):
        client = app.test_client()
        response = client.post(path, data=data(client))
        # Not lost: the page that says why is this answer, with what was typed.
        shown = response.get_data(as_text=True)
        assert response.status_code == 400 and typed in shown, path
        assert "无法再次显示" not in shown
        assert response.headers["Cache-Control"] == "no-store"


def test_a_handed_over_form_that_is_gone_says_so_instead_of_coming_back_empty(demo, public_app):
    client = public_app.test_client()
    response = client.post("/report/new", data=report_form_data(client, unit="NO-SUCH"))
    assert response.status_code == 303
    public_app.extensions["portal.handover.pages"].store._entries.clear()  # expired meanwhile
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "无法再次显示" in page.get_data(as_text=True)
    # Once: the next visit is the plain page.
    assert "无法再次显示" not in client.get("/report/new").get_data(as_text=True)


# --- the proof of work follows the load -----------------------------------------------------

# A tiny difficulty that rises fast: 4 bits, one more each time the hour's reports double past 2;
# the form's pass is not ready before two minutes, so only the work counts.
QUICK_POW = {"REPORT_POW_BITS": 4, "REPORT_POW_STEP": 2, "REPORT_NOSCRIPT_WAIT_MINUTES": 2}


def _solved_challenge(client) -> tuple[str, str]:
    """The challenge of a fresh form page, and a nonce that solves it (as the page's script)."""
    page = client.get("/report/new").get_data(as_text=True)
    return _solve(re.search(r'data-pow-challenge="([^"]+)"', page).group(1))


def _solve(challenge: str) -> tuple[str, str]:
    import itertools

    from app.public.reports.pow import solves

    bits = int(challenge.rpartition(".")[2])
    return challenge, next(str(n) for n in itertools.count() if solves(challenge, str(n), bits))


def _load(app, total: int) -> None:
    """This hour's stored reports, as the proof of work counts them."""
    from app.public.reports.pow import COUNT_SECONDS, COUNTER

    store = app.extensions["portal.report_pow"].store
    store.count(COUNTER, total - store.count(COUNTER, 0, COUNT_SECONDS), COUNT_SECONDS)


def _send(app, number: int, challenge: tuple[str, str] | None = None, **fields):
    """A report from client ``number`` (its own address), with ``challenge`` solved or none."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"198.51.100.{100 + number}"
    data = report_form_data(client, **fields)
    if challenge is not None:
        data["pow_challenge"], data["pow_nonce"] = challenge
    return client, post_report(client, data)


def _stored(response) -> bool:
    return response.status_code == 200 and 'class="receipt-code"' in response.get_data(as_text=True)


def test_a_challenge_solved_before_the_load_rose_is_refused_with_the_form_kept(demo, instance):
    app = instance.app("public", **QUICK_POW)
    reporter = app.test_client()
    reporter.environ_base["REMOTE_ADDR"] = "198.51.100.99"
    stale = _solved_challenge(reporter)
    assert stale[0].endswith(".4")
    _load(app, 8)  # a flood: 7 bits now
    data = report_form_data(reporter, persons="采购科科长 王某（第二份）")
    data["pow_challenge"], data["pow_nonce"] = stale
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "过磅单照片.txt")]
    response = post_report(reporter, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "目前提交的举报很多" in page and "请再次提交举报" in page
    assert "采购科科长 王某（第二份）" in page and CANARY in page  # nothing typed is lost
    assert "请重新选择文件" in page  # files are not kept (see the form's notice)
    assert not any(FILE_CANARY in p.read_bytes() for p in blob_files(app))
    # The page came back with a fresh challenge at the difficulty of now: sent again, it is taken.
    fresh = re.search(r'data-pow-challenge="([^"]+)"', page).group(1)
    assert fresh.endswith(".7") and fresh != stale[0]
    data = report_form_data(reporter, pow_challenge=fresh, pow_nonce=_solve(fresh)[1])
    assert _stored(post_report(reporter, data))


def test_the_refusal_is_said_in_english_too(demo, instance):
    app = instance.app("public", **QUICK_POW)
    client = app.test_client()
    client.get("/report/new?lang=en")
    stale = _solved_challenge(client)
    _load(app, 8)
    data = report_form_data(client, pow_challenge=stale[0], pow_nonce=stale[1])
    page = post_report(client, data).get_data(as_text=True)
    assert "Many reports are arriving just now" in page
    assert "send the report again" in page and CANARY in page


def test_a_challenge_one_bit_easier_than_now_counts_and_two_bits_do_not(demo, instance):
    app = instance.app("public", **QUICK_POW)
    probe = app.test_client()
    _load(app, 2)
    five = _solved_challenge(probe)
    _load(app, 4)
    six = _solved_challenge(probe)
    assert (five[0][-2:], six[0][-2:]) == (".5", ".6")
    _load(app, 8)  # 7 bits
    assert _stored(_send(app, 2, six)[1])
    _client, refused = _send(app, 3, five)
    assert refused.status_code == 429 and "目前提交的举报很多" in refused.get_data(as_text=True)


def test_an_expired_challenge_asks_for_the_report_again_rather_than_later(demo, instance):
    app = instance.app("public", **QUICK_POW)
    stale = _solved_challenge(app.test_client())
    from app.public.reports.pow import CHALLENGE_SECONDS

    later = time.time() + CHALLENGE_SECONDS + 60
    app.extensions["portal.report_pow"].now = lambda: later  # its lifetime is over
    _client, refused = _send(app, 2, stale)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "已经过期" in page and "请再次提交举报" in page
    assert CANARY in page


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_fetching_the_forms_stores_no_challenge(demo, instance, storage, request):
    uri = request.getfixturevalue("redis_url") if storage == "redis" else "memory://"
    app = instance.app("public", RATELIMIT_STORAGE_URI=uri)
    stores = [app.extensions[name].store for name in ("portal.report_pow", "portal.entry_pow")]
    challenges = set()
    for number in range(100):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{number + 100}"
        for path in ("/report/new", "/report/follow-up"):
            page = client.get(path).get_data(as_text=True)
            challenges.add(re.search(r'data-pow-challenge="([^"]+)"', page).group(1))
    assert len(challenges) == 200
    if storage == "memory":
        assert [len(store) for store in stores] == [0, 0]
    else:
        names = [name.decode() for name in stores[0]._client.keys("*")]
        assert not [name for name in names if ":pow:" in name or ":entries:" in name], names
    # A challenge of one form does not count on the other.
    stale = _solved_challenge(app.test_client())
    entry_pow = app.extensions["portal.entry_pow"]
    assert entry_pow.check(*stale).value == "refused"
    assert app.extensions["portal.report_pow"].check(*stale).value == "done"


def test_without_script_the_form_still_works_under_load(demo, instance):
    app = instance.app("public", **{**QUICK_POW, "REPORT_NOSCRIPT_WAIT_MINUTES": 0})
    stale = _solved_challenge(app.test_client())
    _load(app, 8)
    assert _stored(_send(app, 1)[1])  # no script, no challenge: the page's pass counts
    # A challenge too easy for the load now is no work: the pass of its page counts instead.
    assert _stored(_send(app, 2, stale)[1])
