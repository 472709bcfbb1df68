"""Bulk import and export of disclosures as JSON Lines; export -> import round-trips."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import (
    Disclosure,
    DisclosureAttachment,
    DisclosureRevision,
    LogCheckpoint,
    StepAction,
    Unit,
)
from app.services.demo import DEMO_UNITS
from app.services.disclosures import attachments as attachment_service
from app.services.disclosures import categories, drafting, reviewing
from app.services.disclosures import log as disclosure_log
from app.services.disclosures.visibility import ANONYMOUS
from app.services.search import query as search_query
from tests.helpers.disclosures import draft_fields, staff
from tests.helpers.environment import PG_URL, create_schema, drop_schema
from tests.helpers.instances import Content, Instance
from tests.helpers.reports import blob_store

PDF = b"%PDF-1.4\n%test\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _line(**overrides) -> str:
    item = {
        "title": "导入的公开事项",
        "category": "procurement",
        "unit": "MCH",
        "scope": "all",
        "body_md": "导入正文。",
        "published_on": "2024-05-06",
    }
    item.update(overrides)
    item = {k: v for k, v in item.items() if v is not None}
    return json.dumps(item, ensure_ascii=False)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _invoke(app, *args):
    return app.test_cli_runner().invoke(args=["disclosures", *args])


def _count(db, model) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_good_lines_are_imported_and_bad_lines_reported_with_their_number(
    console_app, db, demo, tmp_path
):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "结果.pdf").write_bytes(PDF)
    (tmp_path / "files" / "fake.pdf").write_bytes(b"MZ not a pdf")
    (tmp_path / "files" / "run.exe").write_bytes(b"MZ")
    lines = [
        _line(
            title="Imported kingfisher item",
            attachments=["files/结果.pdf"],
            revisions=[
                {"body_md": "Corrected kingfisher.", "reason": "typo", "revised_on": "2024-05-07"}
            ],
        ),
        "{not json",
        _line(category="no-such-category"),
        _line(published_on="2024-13-01"),
        _line(title=None),
        _line(attachments=["files/missing.pdf"]),
        _line(attachments=["files/fake.pdf"]),
        _line(attachments=["files/run.exe"]),
        _line(scope="everyone"),
        _line(unit="NOPE"),
        _line(colour="red"),
        _line(published_on="2999-01-01"),
        _line(revisions=[{"body_md": "x", "reason": "r", "revised_on": "2024-01-01"}]),
        _line(retraction={"retracted_on": "2024-06-01"}),
        "",
        _line(
            title="Retracted heron item",
            scope="party",
            period="2024-Q1",
            retraction={"retracted_on": "2024-06-01", "reason": "withdrawn heron"},
        ),
    ]
    before = _count(db, Disclosure)
    store = blob_store(console_app)  # files on SQLite, PostgreSQL's tables on PostgreSQL
    blobs_before = set(store.keys())
    result = _invoke(console_app, "import", str(_write(tmp_path / "in.jsonl", lines)))
    assert result.exit_code == 1
    errors = result.stderr
    for number, reason in [
        (2, "not valid JSON"),
        (3, "unknown category 'no-such-category'"),
        (4, "published_on '2024-13-01' is not a date"),
        (5, "title is missing"),
        (6, "attachment 'files/missing.pdf' not found"),
        (7, "content does not match its type .pdf"),
        (8, "file type .exe is not accepted"),
        (9, "scope must be one of all, unit, party"),
        (10, "unknown unit 'NOPE'"),
        (11, "line 11: unknown field 'colour'"),
        (12, "is in the future"),
        (13, "revision 2: revised_on is before the previous date"),
        (14, "retraction: reason is missing"),
    ]:
        reported = [e for e in errors.splitlines() if e.startswith(f"line {number}: ")]
        assert len(reported) == 1 and reason in reported[0], errors
    assert "line 1:" not in errors and "line 15:" not in errors and "line 16:" not in errors
    assert "Imported 2 disclosures; 13 lines failed." in result.stdout
    assert _count(db, Disclosure) == before + 2
    with db() as session:
        item = session.scalar(
            select(Disclosure).where(Disclosure.public_title == "Imported kingfisher item")
        )
        assert [r.action for r in item.revisions] == ["publish", "amend"]
        assert [a.filename for a in item.attachments] == ["结果.pdf"]
        assert item.revisions[0].published_at.date().isoformat() == "2024-05-05"  # UTC+8
        assert [s.action for s in item.steps][:2] == [StepAction.imported, StepAction.published]
        heron = session.scalar(
            select(Disclosure).where(Disclosure.public_title == "Retracted heron item")
        )
        assert heron.public_state == "retracted" and heron.period_key == "2024-Q1"
        found = search_query.search(session, ANONYMOUS, "kingfisher")
        assert [h.disclosure.id for h in found.hits] == [item.id]
        assert search_query.search(session, ANONYMOUS, "heron").total == 0  # party only
        size = disclosure_log.log_size(session)
        assert disclosure_log.latest_checkpoint(session).size == size
    # No blob of a failed line was left behind (only the one good attachment was added).
    assert len(set(store.keys()) - blobs_before) == 1
    verify = console_app.test_cli_runner().invoke(args=["log", "verify"])
    assert verify.exit_code == 0, verify.output


def test_a_clean_import_exits_zero(console_app, db, demo, tmp_path):
    path = _write(tmp_path / "ok.jsonl", [_line(title=f"第{i}条") for i in range(7)])
    result = _invoke(console_app, "import", str(path), "--batch-size", "3")
    assert result.exit_code == 0, result.output
    assert "Imported 7 disclosures; 0 lines failed." in result.stdout
    with db() as session:
        checkpoints = session.scalar(select(func.count()).select_from(LogCheckpoint))
        assert checkpoints == 1  # one signature at the end, not one per batch


@pytest.fixture
def fresh_console(instance, tmp_path):
    """A second, empty installation on the same backend: units and categories only."""
    path = tmp_path / "fresh"
    path.mkdir()
    schema = None
    if instance.backend == "sqlite":
        url = f"sqlite:///{path / 'portal.sqlite3'}"
    else:
        url, schema = create_schema(PG_URL)
    other = Instance(path, url, instance.backend)
    other.fill(Content.SCHEMA)
    app = other.app("console")
    with app.extensions["portal.db"].session() as session:
        units: dict[str, Unit] = {}
        for code, parent, kind, name_zh, name_en, _office in DEMO_UNITS:
            units[code] = Unit(
                code=code, parent=units.get(parent), kind=kind, name_zh=name_zh, name_en=name_en
            )
            session.add(units[code])
        categories.ensure_categories(session)
    yield app
    other.close()
    if schema:
        drop_schema(PG_URL, schema)


def _add_history_with_attachments(db, blobs):
    with db() as session:
        author = staff(session, "publisher")
        approver = staff(session, "approver")
        d = drafting.create_draft(session, author, draft_fields(session, title="附件往返"))
        attachment_service.add_attachment(
            session, blobs, d, author, "报价.pdf", io.BytesIO(PDF), 1 << 20
        )
        drafting.submit_for_review(session, d, author)
        reviewing.approve(session, d, approver)
        drafting.start_amendment(session, d, author)
        attachment_service.add_attachment(
            session, blobs, d, author, "报价.pdf", io.BytesIO(PDF + b"v2"), 1 << 20
        )
        attachment_service.add_attachment(
            session, blobs, d, author, "照片.png", io.BytesIO(PNG), 1 << 20
        )
        drafting.update_draft(
            session, d, author, draft_fields(session, title="附件往返（更正）", body="新"), "更正"
        )
        drafting.submit_for_review(session, d, author)
        reviewing.approve(session, d, approver)


def test_export_import_export_round_trips(console_app, fresh_console, db, demo, tmp_path):
    _add_history_with_attachments(db, blob_store(console_app))
    first = tmp_path / "one" / "export.jsonl"
    first.parent.mkdir()
    result = _invoke(console_app, "export", str(first))
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()]
    with db() as session:
        published = session.scalar(
            select(func.count()).where(Disclosure.public_state != "unpublished")
        )
    assert len(items) == published
    assert any("retraction" in item for item in items)
    assert {item["scope"] for item in items} == {"all", "unit", "party"}
    with_files = next(item for item in items if item["title"] == "附件往返")
    n = items.index(with_files) + 1
    assert with_files["attachments"] == [f"export.jsonl.attachments/{n}/报价.pdf"]
    assert with_files["revisions"][0]["attachments"] == [
        f"export.jsonl.attachments/{n}-2/报价.pdf",
        f"export.jsonl.attachments/{n}/照片.png",
    ]

    result = _invoke(fresh_console, "import", str(first))
    assert result.exit_code == 0, result.output
    second = tmp_path / "two" / "export.jsonl"
    second.parent.mkdir()
    result = _invoke(fresh_console, "export", str(second))
    assert result.exit_code == 0, result.output
    assert second.read_bytes() == first.read_bytes()
    files_one = sorted(p.relative_to(first.parent) for p in first.parent.rglob("*") if p.is_file())
    files_two = sorted(
        p.relative_to(second.parent) for p in second.parent.rglob("*") if p.is_file()
    )
    assert files_one == files_two and len(files_one) == 4  # the JSONL file and 3 attachments
    for relative in files_one:
        assert (first.parent / relative).read_bytes() == (second.parent / relative).read_bytes()
    with fresh_console.extensions["portal.db"].session() as session:
        assert session.scalar(select(func.count()).select_from(DisclosureAttachment)) == 3
        assert session.scalar(select(func.count()).select_from(DisclosureRevision)) == sum(
            1 + len(i.get("revisions", [])) + ("retraction" in i) for i in items
        )
    verify = fresh_console.test_cli_runner().invoke(args=["log", "verify"])
    assert verify.exit_code == 0, verify.output


def test_export_to_stdout(console_app, demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke(console_app, "export")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines and all(json.loads(line)["title"] for line in lines)
    assert f"Exported {len(lines)} disclosures." in result.stderr


def test_titles_are_one_line_on_import(console_app, db, demo, tmp_path):
    lines = [
        _line(title="第一行\n第二行不应进入正文索引"),
        _line(
            title="正常标题",
            revisions=[
                {
                    "title": "更正后\r\n第二行",
                    "body_md": "x",
                    "reason": "r",
                    "revised_on": "2024-05-07",
                }
            ],
        ),
        _line(title="末尾换行可以\n"),
    ]
    result = _invoke(console_app, "import", str(_write(tmp_path / "in.jsonl", lines)))
    assert result.exit_code == 1
    assert "line 1: title must be one line" in result.stderr
    assert "line 2: revision 2: title must be one line" in result.stderr
    with db() as session:
        titles = list(session.scalars(select(Disclosure.public_title)))
    assert "末尾换行可以" in titles
    assert not any("\n" in title or "第二行" in title for title in titles)
