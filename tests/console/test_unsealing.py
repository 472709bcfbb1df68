"""Unsealing at sign-in: the identity lives only wrapped under a key that the browser's cookie
holds, so the server (database, files, Redis) opens nothing without a live cookie."""

from __future__ import annotations

import base64
import os

import pytest
from flask import jsonify
from sqlalchemy import select, text
from werkzeug.security import generate_password_hash

from app.db import Base
from app.models import ConsoleSession, StaffUser
from app.security.auth import current_identities
from app.services import keys, sessions, staff
from app.services.demo import DEMO_LOGINS
from crypto import X25519Identity, passwords, seal_identity
from crypto.sealing import SealedIdentity
from tests.helpers.console import sign_in, signed_in
from tests.helpers.forms import csrf_token
from tests.helpers.weak_kdf import TEST_PASSWORD_METHOD, TEST_SEAL_PARAMS

LOGINS = {login.username: login for login in DEMO_LOGINS}


def with_identities_page(app):
    """The app with a page that says which identities this session opens (as a view that
    decrypts would get them)."""

    def identities():
        return jsonify([str(identity.recipient) for identity in current_identities()])

    app.add_url_rule("/test-identities", view_func=identities)
    return app


def opened(client) -> list[str]:
    return client.get("/test-identities").get_json()


def unsealed(app, username: str) -> X25519Identity:
    with app.extensions["portal.db"].session() as db:
        account = staff.by_username(db, username)
        return keys.unseal(account, LOGINS[username].password, TEST_SEAL_PARAMS)


def test_sign_in_unseals_the_readers_key_for_this_session_only(instance, demo):
    app = with_identities_page(instance.app("console"))
    expected = str(unsealed(app, "mch.inspector").recipient)
    client = signed_in(app, "mch.inspector")
    assert opened(client) == [expected]
    assert opened(signed_in(app, "publisher")) == []
    assert opened(app.test_client()) == []
    # Any process serving the console opens it with the cookie...
    other_process = with_identities_page(instance.app("console"))
    there = other_process.test_client()
    cookie = client.get_cookie("portal_console_key").value
    there.set_cookie("portal_console_key", cookie)
    assert opened(there) == [expected]
    # ...and none once the session has ended, with the very same cookie.
    page = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert opened(there) == []
    ended = app.test_client()
    ended.set_cookie("portal_console_key", cookie)
    assert opened(ended) == []


def test_a_stolen_session_row_opens_nothing_without_the_cookie(console_app, demo):
    client = signed_in(console_app, "head")
    ticket = sessions.Ticket.from_cookie(client.get_cookie("portal_console_key").value)
    with console_app.extensions["portal.db"].session() as db:
        row = db.scalars(select(ConsoleSession)).one()
        assert len(sessions.identities(row, ticket)) == 1  # the browser's key opens it
        # The row with any other key, or the right key on a row moved to another id: nothing.
        assert sessions.identities(row, sessions.Ticket.new()) == []
        assert sessions.identities(row, sessions.Ticket(ticket.session_id, os.urandom(32))) == []
        moved = ConsoleSession(id_hash="0" * 64, wrapped_identity=row.wrapped_identity)
        assert sessions.identities(moved, ticket) == []
    # Nor does its id hash make a cookie that works.
    forged = console_app.test_client()
    forged.set_cookie(
        "portal_console_key",
        base64.urlsafe_b64encode(bytes.fromhex(row.id_hash) + ticket.key).decode().rstrip("="),
    )
    assert forged.get("/").status_code == 302


@pytest.mark.redis
# It empties the tests' Redis database: never beside the tests that read a copy of it.
@pytest.mark.xdist_group("redis_policy")
def test_database_files_and_redis_hold_no_key_and_no_cookie(instance, demo, redis_url):
    import redis

    app = with_identities_page(instance.app("console", RATELIMIT_STORAGE_URI=redis_url, WORKERS=2))
    client = signed_in(app, "inspector")
    identity = unsealed(app, "inspector")
    assert opened(client) == [str(identity.recipient)]
    ticket = sessions.Ticket.from_cookie(client.get_cookie("portal_console_key").value)
    secrets = [identity.secret_bytes, ticket.key, ticket.session_id]
    needles = [s for secret in secrets for s in variants(secret)]
    needles.append(identity.secret_key_text().encode())

    haystacks: dict[str, bytes] = {}
    with app.extensions["portal.db"].session() as db:
        for table in Base.metadata.sorted_tables:
            for number, row in enumerate(db.execute(text(f'SELECT * FROM "{table.name}"'))):
                haystacks[f"{table.name} #{number}"] = b"|".join(
                    value if isinstance(value, bytes) else str(value).encode() for value in row
                )
    for file in instance.path.rglob("*"):
        if file.is_file():
            haystacks[str(file)] = file.read_bytes()
    store = redis.Redis.from_url(redis_url)
    for key in store.scan_iter("*"):
        value = store.dump(key) or b""
        haystacks[f"redis {key!r}"] = key + b"|" + value
    store.close()
    assert any(name.startswith("redis") for name in haystacks)  # the rate limits were counted
    for name, data in haystacks.items():
        for needle in needles:
            assert needle not in data, name


def variants(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]


# --- one derivation, and accounts in the older form -------------------------------------------


def test_the_login_verifier_and_the_seal_come_from_one_derivation(console_app, demo):
    with console_app.extensions["portal.db"].session() as db:
        account = staff.by_username(db, "mch.inspector")
        record = passwords.PasswordRecord.loads(account.password_hash)
        sealed = SealedIdentity.loads(account.sealed_identity)
    # The verifier costs exactly what the seal costs: no cheaper way in through the hash.
    assert record.log_n == TEST_SEAL_PARAMS.log_n
    assert sealed.under_key
    derived = passwords.derive(LOGINS["mch.inspector"].password, record.salt, record.log_n)
    assert derived.verifier == record.verifier and derived.seal_key != derived.verifier
    assert derived.seal_key not in account.password_hash.encode()


def test_an_older_account_moves_to_the_one_derivation_at_its_next_sign_in(console_app, demo):
    password = "老账户的口令 older form"
    identity = X25519Identity.generate()
    with console_app.extensions["portal.db"].session() as db:
        account = staff.by_username(db, "chm.inspector")
        account.password_hash = generate_password_hash(password, method=TEST_PASSWORD_METHOD)
        account.sealed_identity = seal_identity(identity, password, TEST_SEAL_PARAMS).dumps()
        account.age_recipient = str(identity.recipient)
    app = with_identities_page(console_app)
    client = app.test_client()
    totp = LOGINS["chm.inspector"].totp_secret
    assert sign_in(client, "chm.inspector", password, staff.totp_now(totp)).status_code == 302
    assert opened(client) == [str(identity.recipient)]
    with console_app.extensions["portal.db"].session() as db:
        account = db.scalar(select(StaffUser).where(StaffUser.username == "chm.inspector"))
        assert passwords.is_record(account.password_hash)
        assert SealedIdentity.loads(account.sealed_identity).under_key
        assert account.age_recipient == str(identity.recipient)  # the same key, resealed
        assert keys.unseal(account, password, TEST_SEAL_PARAMS).secret_bytes == (
            identity.secret_bytes
        )


def test_a_wrong_password_does_not_move_an_older_account(console_app, demo):
    with console_app.extensions["portal.db"].session() as db:
        account = staff.by_username(db, "publisher")
        old = generate_password_hash("旧式口令 older form", method=TEST_PASSWORD_METHOD)
        account.password_hash = old
    totp = LOGINS["publisher"].totp_secret
    client = console_app.test_client()
    assert sign_in(client, "publisher", "猜的口令 guessed", staff.totp_now(totp)).status_code == 400
    with console_app.extensions["portal.db"].session() as db:
        assert staff.by_username(db, "publisher").password_hash == old
