"""Workers' questions: anonymous, date only, shown after an answer, rate-limited."""

import pytest
from sqlalchemy import select

from app.models import DisclosureQuestion, QuestionState
from tests.helpers.console import signed_in
from tests.helpers.disclosures import publish_item
from tests.helpers.forms import csrf_token


def _ask(client, d_id, text, url=None):
    page = client.get(f"/disclosures/{d_id}/ask?lang=en").get_data(as_text=True)
    url = url or f"/disclosures/{d_id}/ask"
    return client.post(url, data={"csrf_token": csrf_token(page), "body": text})


def test_item_page_links_to_the_question_form(db, demo, public_app):
    d_id = publish_item(db)
    client = public_app.test_client()
    page = client.get(f"/disclosures/{d_id}?lang=en").get_data(as_text=True)
    # The item page carries no per-visitor token and sets no cookie, so it can be cached.
    assert "csrf_token" not in page
    assert f'href="/disclosures/{d_id}/ask"' in page
    fresh = public_app.test_client().get(f"/disclosures/{d_id}")
    assert "Set-Cookie" not in fresh.headers
    asked = _ask(client, d_id, "这项采购的预算是多少？")
    assert asked.status_code == 302
    assert asked.headers["Location"].endswith(f"/disclosures/{d_id}?asked=1#questions")
    thanked = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert "Thank you. Your question will appear here" in thanked


def test_questions_posted_to_the_item_address_still_count(db, demo, public_app):
    d_id = publish_item(db)
    client = public_app.test_client()
    assert _ask(client, d_id, "旧页面上提的问题", url=f"/disclosures/{d_id}").status_code == 302
    short = _ask(client, d_id, "短", url=f"/disclosures/{d_id}")
    assert short.status_code == 400 and "Write between" in short.get_data(as_text=True)


def test_question_appears_only_after_an_answer(db, demo, public_app, console_app):
    d_id = publish_item(db)
    client = public_app.test_client()
    asked = _ask(client, d_id, "请问中标单位是谁？")
    assert asked.status_code == 302
    assert "请问中标单位是谁" not in client.get(f"/disclosures/{d_id}").get_data(as_text=True)
    with db() as session:
        question = session.scalar(
            select(DisclosureQuestion).where(DisclosureQuestion.disclosure_id == d_id)
        )
        assert question.state == QuestionState.pending
        # Only a date is kept: no time, no address, no user agent.
        assert type(question.asked_on).__name__ == "date"
        columns = set(DisclosureQuestion.__table__.columns.keys())
        assert not columns & {"ip", "address", "user_agent", "asked_at", "created_at"}
        q_id = question.id
    publisher = signed_in(console_app, "publisher")
    page = publisher.get("/publish/questions").get_data(as_text=True)
    assert "请问中标单位是谁" in page
    publisher.post(
        f"/publish/questions/{q_id}",
        data={
            "csrf_token": csrf_token(page),
            f"q{q_id}-answer": "华北环保设备有限公司。",
            f"q{q_id}-publish": "1",
        },
    )
    shown = client.get(f"/disclosures/{d_id}").get_data(as_text=True)
    assert "请问中标单位是谁" in shown and "华北环保设备有限公司。" in shown


def test_question_needs_csrf_and_length(db, demo, public_app):
    d_id = publish_item(db)
    client = public_app.test_client()
    assert client.post(f"/disclosures/{d_id}", data={"body": "没有令牌的问题"}).status_code == 400
    assert (
        client.post(f"/disclosures/{d_id}/ask", data={"body": "没有令牌的问题"}).status_code == 400
    )
    short = _ask(client, d_id, "短")
    assert short.status_code == 400 and "Write between" in short.get_data(as_text=True)
    assert "短" in short.get_data(as_text=True)  # the text is kept for another try
    long = _ask(client, d_id, "长" * 2001)
    assert long.status_code == 400


def test_questions_are_rate_limited(one_clock_minute, db, demo, instance):
    app = instance.app("public", RATELIMIT_QUESTIONS="2 per hour")
    d_id = publish_item(db)
    client = app.test_client()
    assert _ask(client, d_id, "第一个问题是什么").status_code == 302
    assert _ask(client, d_id, "第二个问题是什么").status_code == 302
    refused = _ask(client, d_id, "第三个问题是什么")
    assert refused.status_code == 429
    # The question comes back in its form, with when to try again.
    page = refused.get_data(as_text=True)
    assert "Your question was not sent" in page and "Try again in an hour." in page
    assert "\n第三个问题是什么</textarea>" in page and 'name="csrf_token"' in page
    # One limit for both addresses of the form.
    assert _ask(client, d_id, "第四个问题是什么", url=f"/disclosures/{d_id}").status_code == 429


@pytest.mark.parametrize(
    ("limit", "wait"),
    [("1 per minute", "Try again in a minute."), ("1 per day", "Try again in a day.")],
)
def test_a_refused_question_says_how_long_to_wait(
    one_clock_minute, db, demo, instance, limit, wait
):
    app = instance.app("public", RATELIMIT_QUESTIONS=limit)
    d_id = publish_item(db)
    client = app.test_client()
    assert _ask(client, d_id, "第一个问题是什么").status_code == 302
    refused = _ask(client, d_id, "第二个问题是什么")
    assert refused.status_code == 429 and wait in refused.get_data(as_text=True)


def test_a_refused_question_about_a_missing_item_is_a_plain_refusal(db, demo, instance):
    app = instance.app("public", RATELIMIT_QUESTIONS="1 per hour")
    d_id = publish_item(db)
    client = app.test_client()
    assert _ask(client, d_id, "第一个问题是什么").status_code == 302
    page = client.get(f"/disclosures/{d_id}/ask").get_data(as_text=True)
    refused = client.post(
        "/disclosures/987654/ask", data={"csrf_token": csrf_token(page), "body": "第二个问题"}
    )
    assert refused.status_code == 404


def test_pages_refused_by_the_default_limit_say_how_long_to_wait(db, demo, instance):
    app = instance.app("public", RATELIMIT_DEFAULT="3 per hour")
    d_id = publish_item(db)
    client = app.test_client()
    for path in (f"/disclosures/{d_id}?lang=en", f"/disclosures/{d_id}/ask?lang=en"):
        responses = [client.get(path) for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429], path
        page = responses[-1].get_data(as_text=True)
        # A cached page's own count, and a form nobody sent: no "your question was not sent".
        assert "Wait an hour and try again." in page and "not sent" not in page, path


def test_a_refused_question_to_a_retracted_item_is_refused_plainly(
    one_clock_minute, db, demo, instance
):
    from app.models import Disclosure, PublicState

    app = instance.app("public", RATELIMIT_QUESTIONS="1 per hour")
    d_id = publish_item(db)
    client = app.test_client()
    page = client.get(f"/disclosures/{d_id}/ask?lang=en").get_data(as_text=True)
    assert _ask(client, d_id, "第一个问题是什么").status_code == 302
    with db() as session:
        session.get(Disclosure, d_id).public_state = PublicState.retracted
        session.commit()
    refused = client.post(
        f"/disclosures/{d_id}/ask", data={"csrf_token": csrf_token(page), "body": "撤回后的问题"}
    )
    shown = refused.get_data(as_text=True)
    # No form is shown for a retracted item: the page does not claim the text is kept.
    assert refused.status_code == 429 and "Wait an hour and try again." in shown
    assert "still below" not in shown


@pytest.mark.parametrize(
    ("limits", "wait"),
    [("3 per minute;1000 per day", "Wait a minute"), ("1000 per minute;3 per day", "Wait a day")],
)
def test_a_cached_page_names_the_limit_that_was_hit(
    one_clock_minute, db, demo, instance, limits, wait
):
    app = instance.app("public", RATELIMIT_DEFAULT=limits)
    d_id = publish_item(db)
    client = app.test_client()
    for path in (f"/disclosures/{d_id}?lang=en", f"/disclosures/{d_id}/history?lang=en"):
        responses = [client.get(path) for _ in range(4)]  # the later ones from the cache
        assert [r.status_code for r in responses] == [200, 200, 200, 429], path
        assert wait in responses[-1].get_data(as_text=True), path
