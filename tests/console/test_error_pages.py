"""The console's error pages keep its navigation and "sign out" for whoever is signed in; the
public site's stay as they are."""

from __future__ import annotations

from sqlalchemy import select

from app.db import get_session
from app.models import StaffUser
from tests.helpers.console import signed_in


def test_the_console_s_error_pages_keep_its_navigation(console_app, demo, public_app):
    publisher = signed_in(console_app, "publisher")
    for path, code in (("/no-such-page", 404), ("/publish/999999", 404), ("/admin/", 403)):
        response = publisher.get(path + "?lang=en")
        assert response.status_code == code, path
        page = response.get_data(as_text=True)
        assert 'action="/logout"' in page and "Sign out" in page, path
        assert 'href="/publish/"' in page, path  # the publisher's own area
        assert 'name="csrf_token"' in page
    # Signed out: no navigation to offer, and no form.
    anonymous = console_app.test_client().get("/no-such-page?lang=en")
    assert anonymous.status_code == 404
    assert "Sign out" not in anonymous.get_data(as_text=True)
    # The public site's error page is as it was: its own navigation, nothing of the console.
    public = public_app.test_client().get("/no-such-page?lang=en")
    assert public.status_code == 404
    text = public.get_data(as_text=True)
    assert 'href="/report/"' in text and "Sign out" not in text and "/logout" not in text


def test_a_write_that_fails_gives_the_translated_error_page_with_the_navigation(console_app, demo):
    console_app.testing = False  # errors are handled as in production

    def fails() -> str:
        session = get_session()
        first, second = session.scalars(select(StaffUser).order_by(StaffUser.id).limit(2))
        first.username = second.username  # the unique index refuses it at the flush
        session.flush()
        return "never"

    console_app.add_url_rule("/fails-on-write", "fails_on_write", fails)
    publisher = signed_in(console_app, "publisher")
    for language, words in (("zh", "退出"), ("en", "Sign out")):
        response = publisher.get(f"/fails-on-write?lang={language}")
        assert response.status_code == 500
        page = response.get_data(as_text=True)
        assert words in page and 'action="/logout"' in page, page[:400]
        assert "Internal Server Error" not in page and "Traceback" not in page
