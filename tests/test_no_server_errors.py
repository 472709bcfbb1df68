"""No input gives a 5xx: every route of both apps, with hostile ids, paths and queries.

The routes come from the URL maps, so a new route is covered without touching this test.
CSRF is off for the walk so that hostile form values reach the views themselves.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import Rule

from tests.helpers.console import ConsoleAuth, copy_cookies

INT_VALUES = ["1", "0", "-1", str(2**31), str(2**63), str(2**63 - 1), str(10**30), "9" * 5000]
TEXT_VALUES = ["GRP", "招标", "../../etc/passwd", "%00", "%ff", "a" * 3000]
QUERIES = [
    "page=9223372036854775808&year=-1&from=99999999999999999999&to=-5&q=%00招标",
    "page=-1&year=99999999999999999999999&from=-1&to=9223372036854775808&asked=1",
    "category=../../x&unit=%E2%80%AEGRP&period=2026-H9&lang=xx&q=" + "招" * 2000,
    "%ff%fe=%ff&q=%ff&page=%ff&lang=%ff",
    "from=0&to=0&q=AND+OR+NOT+%22+*+(+)+NEAR&page=1e400",
    "year=²²²²&period=٢٠٢٦&page=²",
    "year=" + "9" * 5000 + "&page=" + "9" * 5000,
    "q=" + "a" * 100_000,
]
FORM = {
    "title": "标题\r\n第二行" * 50,
    "body": "<script>alert(1)</script>" * 10,
    "username": "管理员",
    "password": "密码" * 500,
    "code": "١٢٣٤٥٦",
    "category": "../../x",
    "unit": "9" * 40,
    "scope": "everyone",
    "page": str(2**63),
    "number": str(10**30),
    "due_days": "-1",
    "period_key": "2026-H9",
    "scheduled_at": "0001-01-01T00:00",
    "starts_on": "0001-01-01",
    "entry-starts_on": "0001-01-01",
    "entry-due_days": "30",
    "entry-period": "monthly",
    "entry-category": "procurement",
    "entry-unit": "GRP",
    "entry-scope": "everyone",
    "comment": "意见",
    "reason": "理由",
    "answer": "答复",
    "approve": "1",
    "publish": "1",
    "save": "1",
}
# The same, but with codes that exist: the form gets past its choices to the dates.
PLAUSIBLE_FORM = FORM | {"category": "procurement", "unit": "GRP", "title": "日期边界测试"}
PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _paths(rule: Rule) -> list[str]:
    """The rule's path with every argument replaced by each hostile value in turn."""
    converters = [conv or "default" for conv, _name in PARAM.findall(rule.rule)]
    if not converters:
        return [rule.rule]
    paths = []
    for index in range(max(len(INT_VALUES), len(TEXT_VALUES))):
        values = iter(
            (INT_VALUES if conv == "int" else TEXT_VALUES)[
                index % len(INT_VALUES if conv == "int" else TEXT_VALUES)
            ]
            for conv in converters
        )
        paths.append(PARAM.sub(lambda _m, values=values: next(values), rule.rule))
    return paths


def _requests(app):
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "session.logout", r.rule))
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for path in _paths(rule):
                yield method, path
            base = _paths(rule)[0]
            for query in QUERIES:
                yield method, f"{base}?{query}"


def _walk(app, client, who: str) -> list[str]:
    failures = []
    for method, path in _requests(app):
        forms = [None] if method == "GET" else [FORM, PLAUSIBLE_FORM]
        for form in forms:
            response = client.get(path) if form is None else client.post(path, data=form)
            if response.status_code >= 500:
                failures.append(f"{who} {method} {path[:120]} -> {response.status_code}")
            response.close()
    return failures


@pytest.mark.slow
@pytest.mark.parametrize(
    ("surface", "who"),
    [
        ("public", "anonymous"),
        ("console", "anonymous"),
        ("console", "admin"),
        ("console", "publisher"),
        ("console", "approver"),
    ],
)
def test_no_route_answers_5xx_to_anyone(instance, demo, surface, who):
    app = instance.app(surface, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    client = app.test_client()
    if who != "anonymous":
        signing_in = instance.app("console")  # the sign-in form needs its CSRF token
        auth = ConsoleAuth(signing_in.test_client())
        assert auth.login(who).status_code == 302
        copy_cookies(auth.client, client)
        assert client.get("/").status_code == 200
    failures = _walk(app, client, who)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("number", [str(2**31), str(2**63), "99999999999999999999999"])
@pytest.mark.parametrize(
    "template",
    [
        "/disclosures/{}",
        "/disclosures/{}/history",
        "/disclosures/{}/print",
        "/disclosures/{}/ask",
        "/disclosures/{}/qr.svg",
        "/disclosures/1/attachments/{}",
        "/log/proof/{}",
    ],
)
def test_ids_past_what_a_column_holds_are_not_found(public_app, template, number):
    response = public_app.test_client().get(template.format(number))
    assert response.status_code == 404
    assert "此地址没有页面" in response.get_data(as_text=True)


@pytest.mark.parametrize("surface", ["public", "console"])
def test_a_nul_character_is_a_bad_request(instance, surface):
    app = instance.app(surface, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    path = "/disclosures/1/ask" if surface == "public" else "/login"
    assert client.get(f"{path}?q=%00招标").status_code == 400
    assert client.post(path, data={"username": "ad\x00min", "body": "问\x00"}).status_code == 400


def test_large_url_encoded_bodies_are_refused_before_parsing(instance):
    app = instance.app("public", WTF_CSRF_ENABLED=False)
    client = app.test_client()
    body = "a&" * 300_000  # 600 KB of fields
    response = client.post(
        "/disclosures/1/ask", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert "上传内容过大" in response.get_data(as_text=True)
    # Sent to no route at all, the body is not even read.
    response = client.post(
        "/没有/这个页面", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 404


def test_refused_posts_count_against_the_default_limit(one_clock_minute, instance):
    app = instance.app("console", RATELIMIT_DEFAULT="5 per minute")
    client = app.test_client()
    statuses = [client.post("/logout", data={"问": "答"}).status_code for _ in "1234567"]
    assert statuses[:5] == [400] * 5  # no CSRF token
    assert statuses[5:] == [429, 429]
