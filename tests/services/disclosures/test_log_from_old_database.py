"""A disclosure log written by earlier code still verifies, serves valid proofs and grows.

``data/disclosure_log_0006.sql`` holds the rows that the services of an earlier commit wrote
(publications, an amendment with an added file, a retraction, an item for party members
only, an import with a past date, three signed checkpoints), with the log's test key. The
rows are loaded at the schema they were written with, the database is migrated to head, and
today's code must accept every old leaf and checkpoint byte for byte.
"""

from __future__ import annotations

import base64
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text

from app import migrate
from app.models import StaffUser
from app.services.disclosures import categories, drafting, reviewing
from app.services.units import by_code
from crypto import tlog
from tests.helpers.environment import engine_url

DUMP = Path(__file__).parent / "data" / "disclosure_log_0006.sql"
HEADER_RE = re.compile(r"^-- (origin|vkey|key|schema): (\S+)$", re.MULTILINE)
WITH_ID_RE = re.compile(r"^INSERT INTO (\w+) \(id, ")


@dataclass
class OldLog:
    console: Flask
    public: Flask
    verifier: tlog.Verifier
    origin: str


def _statements(sql: str) -> list[str]:
    """The dump's statements; sqlite3 knows where one ends (quotes may hold ';' and lines)."""
    statements, pending = [], ""
    for line in sql.splitlines(keepends=True):
        if not pending and line.startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    assert not pending.strip(), "the dump ends inside a statement"
    return statements


def _load(database_url: str, sql: str, schema: str) -> None:
    engine = create_engine(engine_url(database_url))
    migrate.upgrade(engine, schema)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        # The driver's own cursor: the text holds '%' and ':00', which are not parameters.
        cursor = conn.connection.driver_connection.cursor()
        if postgres:
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        with_ids = set()
        for statement in _statements(sql):
            cursor.execute(statement)
            with_ids.update(WITH_ID_RE.findall(statement))
        if postgres:  # rows came with their ids: the next ones follow them
            for table in sorted(with_ids):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
                )
    migrate.upgrade(engine)
    engine.dispose()


@pytest.fixture
def old_log(empty_instance, tmp_path) -> OldLog:
    sql = DUMP.read_text(encoding="utf-8")
    header = dict(HEADER_RE.findall(sql))
    _load(empty_instance.database_url, sql, header["schema"])
    key_file = tmp_path / "keys" / "old-log.key"
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(header["key"] + "\n")
    key_file.chmod(0o600)
    settings = {"LOG_ORIGIN": header["origin"], "LOG_KEY_FILE": str(key_file)}
    return OldLog(
        console=empty_instance.app("console", **settings),
        public=empty_instance.app("public", LOG_VKEY=header["vkey"], **settings),
        verifier=tlog.Verifier.from_vkey(header["vkey"]),
        origin=header["origin"],
    )


def _b(value: str) -> bytes:
    return base64.b64decode(value)


def _stored_checkpoints(app: Flask, log: OldLog) -> list[tlog.Checkpoint]:
    engine = app.extensions["portal.db"].engine
    with engine.connect() as conn:
        notes = conn.scalars(text("SELECT note FROM disclosure_log_checkpoints ORDER BY size"))
        return [tlog.verify_checkpoint(note, log.verifier, log.origin) for note in notes]


def _verify_command(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["log", "verify"])
    assert result.exit_code == 0, result.output
    return result.output


def test_old_log_verifies_with_todays_code(old_log):
    output = _verify_command(old_log.console)
    assert "Disclosure log OK: 7 entries, 3 signed checkpoints verified." in output
    assert [c.size for c in _stored_checkpoints(old_log.console, old_log)] == [1, 3, 7]


def test_proofs_served_from_the_old_log_verify_against_its_checkpoints(old_log):
    client = old_log.public.test_client()
    assert client.get("/log/key").get_data(as_text=True).strip() == old_log.verifier.vkey
    latest = tlog.verify_checkpoint(
        client.get("/log/checkpoint").get_data(as_text=True), old_log.verifier, old_log.origin
    )
    assert latest.size == 7
    actions = {}
    for disclosure_id in (1, 2, 3, 5):
        proof = client.get(f"/log/proof/{disclosure_id}").get_json()
        assert proof["tree_size"] == 7 and _b(proof["root_hash"]) == latest.root_hash
        for entry in proof["entries"]:
            leaf = tlog.leaf_hash(entry["record"].encode())
            assert leaf == _b(entry["leaf_hash"])  # the record is the bytes the old code hashed
            proof_path = [_b(p) for p in entry["proof"]]
            tlog.verify_inclusion(leaf, entry["index"], 7, proof_path, latest.root_hash)
        actions[disclosure_id] = [entry["action"] for entry in proof["entries"]]
    assert actions == {
        1: ["publish"],
        2: ["publish", "amend"],
        3: ["publish", "retract"],
        5: ["publish"],
    }
    assert client.get("/log/proof/4").status_code == 404  # party members only
    for old in _stored_checkpoints(old_log.public, old_log):
        found = client.get(f"/log/consistency?from={old.size}&to=7").get_json()
        assert _b(found["from_root"]) == old.root_hash
        assert _b(found["to_root"]) == latest.root_hash
        tlog.verify_consistency(
            old.size, 7, old.root_hash, latest.root_hash, [_b(p) for p in found["proof"]]
        )


def test_todays_code_extends_the_old_log_consistently(old_log):
    with old_log.console.extensions["portal.db"].session() as session:
        publisher, approver = (
            session.scalar(select(StaffUser).where(StaffUser.username == name))
            for name in ("publisher", "approver")
        )
        fields = drafting.DraftFields(
            "新的公开事项 new item",
            "旧日志之后的第一项。",
            categories.category_by_code(session, "procurement"),
            by_code(session, "MCH"),
        )
        disclosure = drafting.create_draft(session, publisher, fields)
        drafting.submit_for_review(session, disclosure, publisher)
        reviewing.approve(session, disclosure, approver)
    signed = old_log.console.test_cli_runner().invoke(args=["log", "checkpoint"])
    assert signed.exit_code == 0, signed.output
    new = tlog.verify_checkpoint(signed.output, old_log.verifier, old_log.origin)
    assert new.size == 8
    output = _verify_command(old_log.console)
    assert "Disclosure log OK: 8 entries, 4 signed checkpoints verified." in output
    client = old_log.public.test_client()
    for old in _stored_checkpoints(old_log.public, old_log)[:-1]:
        found = client.get(f"/log/consistency?from={old.size}&to=8").get_json()
        tlog.verify_consistency(
            old.size, 8, old.root_hash, new.root_hash, [_b(p) for p in found["proof"]]
        )
