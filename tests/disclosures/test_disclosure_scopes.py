"""Audience scopes and the reader sign-in through a trusted proxy's headers."""

import pytest

from app.models import Scope
from app.services import units
from app.services.disclosures import drafting, listings, reviewing, visibility
from app.services.disclosures.visibility import ANONYMOUS
from tests.helpers.disclosures import draft_fields, sign_log, staff

PROXY = {"REMOTE_ADDR": "127.0.0.1"}


def _publish(db, title, scope, unit="MCH"):
    with db() as session:
        fields = draft_fields(session, title=title, scope=scope, unit=units.by_code(session, unit))
        d = drafting.create_draft(session, staff(session, "publisher"), fields)
        drafting.submit_for_review(session, d, staff(session, "publisher"))
        reviewing.approve(session, d, staff(session, "approver"))
        return d.id


@pytest.fixture
def reader_app(instance):
    return instance.app("public", READER_HEADER="X-Remote-User", TRUSTED_PROXIES="127.0.0.1/32")


def _all_pages(client, d_id, headers=None, environ=None):
    kwargs = {"headers": headers or {}, "environ_base": environ or {}}
    return {
        "index": client.get("/disclosures/", **kwargs),
        "home": client.get("/", **kwargs),
        "feed": client.get("/disclosures/feed.atom", **kwargs),
        "log": client.get("/log/", **kwargs),
        "detail": client.get(f"/disclosures/{d_id}", **kwargs),
        "history": client.get(f"/disclosures/{d_id}/history", **kwargs),
        "print": client.get(f"/disclosures/{d_id}/print", **kwargs),
        "proof": client.get(f"/log/proof/{d_id}", **kwargs),
    }


def test_restricted_items_leak_nowhere_to_anonymous_readers(db, demo, public_app):
    unit_id = _publish(db, "机械公司内部事项", Scope.unit)
    party_id = _publish(db, "党员内部事项", Scope.party)
    client = public_app.test_client()
    for d_id, title in ((unit_id, "机械公司内部事项"), (party_id, "党员内部事项")):
        pages = _all_pages(client, d_id)
        for name in ("index", "home", "feed", "log"):
            assert title not in pages[name].get_data(as_text=True), name
        for name in ("detail", "history", "print", "proof"):
            assert pages[name].status_code == 404, name
    # Counts do not include them either.
    with db() as session:
        _items, total = listings.list_public(session, ANONYMOUS)
        _items, with_party = listings.list_public(session, visibility.Reader("x", None, True))
        assert with_party > total


def test_reader_headers_from_trusted_proxy_open_unit_and_party_items(db, demo, reader_app):
    unit_id = _publish(db, "机械公司内部事项", Scope.unit)
    party_id = _publish(db, "党员内部事项", Scope.party)
    client = reader_app.test_client()
    worker = {"X-Remote-User": "wang.wei", "X-Remote-Unit": "MCH-W1"}
    assert (
        client.get(f"/disclosures/{unit_id}", headers=worker, environ_base=PROXY).status_code == 200
    )
    assert (
        client.get(f"/disclosures/{party_id}", headers=worker, environ_base=PROXY).status_code
        == 404
    )
    other = {"X-Remote-User": "li.na", "X-Remote-Unit": "CHM", "X-Remote-Party": "1"}
    assert (
        client.get(f"/disclosures/{unit_id}", headers=other, environ_base=PROXY).status_code == 404
    )
    page = client.get("/disclosures/", headers=other, environ_base=PROXY)
    assert "党员内部事项" in page.get_data(as_text=True)
    assert "X-Remote-User" in page.headers.get("Vary", "")


def test_every_page_that_shows_a_readers_items_keeps_shared_caches_out(db, demo, reader_app):
    """Home, log list and proof show what the reader may see: private, and vary by reader."""
    party_id = _publish(db, "党员内部事项", Scope.party)
    sign_log(db)
    client = reader_app.test_client()
    member = {"X-Remote-User": "li.na", "X-Remote-Party": "1"}
    for path in ("/", "/log/", f"/log/proof/{party_id}", "/disclosures/", "/search?q=党员"):
        page = client.get(path, headers=member, environ_base=PROXY)
        assert page.status_code == 200, path
        assert "X-Remote-Party" in page.headers.get("Vary", ""), path
        assert page.headers["Cache-Control"] == "private, no-cache", path
    assert "党员内部事项" in client.get("/", headers=member, environ_base=PROXY).get_data(
        as_text=True
    )


def test_reader_headers_from_untrusted_peer_are_ignored(db, demo, reader_app):
    unit_id = _publish(db, "机械公司内部事项", Scope.unit)
    client = reader_app.test_client()
    spoof = {"X-Remote-User": "mallory", "X-Remote-Unit": "MCH", "X-Remote-Party": "1"}
    direct = client.get(
        f"/disclosures/{unit_id}", headers=spoof, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert direct.status_code == 404
    # The same headers through the trusted proxy open the item: the 404 is the peer's doing.
    proxied = client.get(f"/disclosures/{unit_id}", headers=spoof, environ_base=PROXY)
    assert proxied.status_code == 200


def test_reader_headers_are_off_by_default(db, demo, public_app, reader_app):
    unit_id = _publish(db, "机械公司内部事项", Scope.unit)
    headers = {"X-Remote-User": "wang", "X-Remote-Unit": "MCH"}
    response = public_app.test_client().get(
        f"/disclosures/{unit_id}", headers=headers, environ_base=PROXY
    )
    assert response.status_code == 404
    # The same request opens the item once the reader header is configured.
    configured = reader_app.test_client().get(
        f"/disclosures/{unit_id}", headers=headers, environ_base=PROXY
    )
    assert configured.status_code == 200


def test_reader_header_without_trusted_proxies_is_a_config_error(instance):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        instance.app("public", READER_HEADER="X-Remote-User")
