"""Forms over HTTPS are taken without a Referer (our pages tell browsers to send none) and
refused when the browser says they come from another site."""

import pytest

from tests.helpers.forms import csrf_token

SITE = "https://localhost"
FORMS = {
    "public": ("/report/follow-up", {"code": "1234 5678 9012 3456 7890"}),
    "console": ("/login", {"username": "张伟", "password": "错误的口令", "code": "123456"}),
}
EXPIRED = "表单已过期"


def _send(instance, surface: str, headers: dict[str, str]):
    client = instance.app(surface, HTTPS=True).test_client()
    path, fields = FORMS[surface]
    page = client.get(path, base_url=SITE)
    assert page.status_code == 200
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), **fields}
    return client.post(path, base_url=SITE, data=data, headers=headers, follow_redirects=True)


@pytest.mark.parametrize("surface", sorted(FORMS))
@pytest.mark.parametrize(
    "headers",
    [
        {},  # what a browser sends under Referrer-Policy: no-referrer
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        {"Referer": f"{SITE}/somewhere"},
    ],
)
def test_a_form_of_our_own_is_taken_over_https_without_a_referer(instance, surface, headers):
    sent = _send(instance, surface, headers)
    assert EXPIRED not in sent.get_data(as_text=True)


@pytest.mark.parametrize("surface", sorted(FORMS))
@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Referer": "https://evil.example/form"},
        {"Referer": "http://localhost/report/follow-up"},
    ],
)
def test_a_form_sent_from_another_site_is_refused(instance, surface, headers):
    sent = _send(instance, surface, headers)
    assert EXPIRED in sent.get_data(as_text=True)
