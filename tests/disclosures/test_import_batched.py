"""The batched bulk import writes exactly what publishing the items one by one writes, and an
import killed part-way keeps whole items only."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask_babel import force_locale
from sqlalchemy import func, select, text

from app.i18n import today
from app.models import Disclosure, DisclosureRevision, Unit
from app.resources import blob_store
from app.services import sanitize
from app.services.demo import DEMO_UNITS
from app.services.disclosures import bulk_import, categories, publishing
from app.services.disclosures.bulk_format import Lookups, parse_line
from app.web import runtime
from tests.helpers.environment import PG_URL, create_schema, drop_schema
from tests.helpers.instances import Content, Instance

PDF = b"%PDF-1.4\n%\xe6\xb5\x8b\xe8\xaf\x95\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
REPO = Path(__file__).resolve().parents[2]


def _item(number: int, **extra) -> dict:
    item = {
        "title": f"第{number}号 铸造车间采购公示",
        "category": ["procurement", "party-dues", "work-safety"][number % 3],
        "unit": ["MCH", "MCH-W1", "GRP"][number % 3],
        "scope": ["all", "unit", "party"][number % 3],
        "body_md": f"## 结果\n\n中标单位：**华东机械**，金额 {number} 万元。\n\nTender {number}.",
        "published_on": f"2024-0{1 + number % 9}-1{number % 10}",
    }
    item.update(extra)
    return item


# Texts whose plain text is made the fast ways (no parser for plain text, tags stripped without
# bleach) or, for characters bleach changes, by bleach: the same as the reference's.
TRICKY_BODIES = [
    "第一段。\n第二行。\n\n\n第二段 plain text.",
    "　　首行缩进。\n\n1. 第一项\n2. 第二项\n\n> 引用 **粗体** ~~删除~~ `代码`",
    "# 结果\n\n| 单位 | 金额 |\n|---|---:|\n| 华东 | 12 |\n\n"
    "```\n<script>alert('招标')</script>\n```",
    "<img src=x onerror=alert(1)> [点此](javascript:alert(1)) <https://a.example/?q=1&r=2>",
    "&amp; &lt;b&gt; &#13; 控制\x01字符\r\n下一行\x0c",
    "- 列表里的代码\n  ```\n\n  x\n  ```\n\n[外层 <https://inner.example>](https://outer.example)",
]


def _lines(folder: Path) -> list[str]:
    """Items of every shape: files (Chinese names) added at publication and by amendments,
    changed titles, a retraction, periods, and a bad line in the middle."""
    (folder / "附件").mkdir()
    (folder / "附件" / "结果.pdf").write_bytes(PDF)
    (folder / "附件" / "更正.pdf").write_bytes(PDF + b"v2")
    (folder / "附件" / "现场照片.png").write_bytes(PNG)
    items = [_item(n) for n in range(1, 14)]
    items[1] |= {"attachments": ["附件/结果.pdf", "附件/现场照片.png"], "period": "2024-Q1"}
    items[2] |= {
        "revisions": [
            {
                "title": "更正后的标题",
                "body_md": "更正后的正文，金额有误。",
                "reason": "金额更正",
                "revised_on": "2024-05-01",
                "attachments": ["附件/更正.pdf"],
            },
            {"body_md": "第二次更正。", "reason": "再次更正", "revised_on": "2024-06-01"},
        ],
        "attachments": ["附件/结果.pdf"],
    }
    items[4] |= {
        "revisions": [{"body_md": "修订", "reason": "补充", "revised_on": "2024-07-01"}],
        "retraction": {"retracted_on": "2024-08-01", "reason": "程序有误，撤回。"},
        "attachments": ["附件/现场照片.png"],
    }
    items[6] |= {"retraction": {"retracted_on": "2024-09-01", "reason": "重复发布"}}
    items[7] |= {"period": "2024-05", "body_md": ""}
    items += [_item(20 + n, body_md=body) for n, body in enumerate(TRICKY_BODIES)]
    lines = [json.dumps(item, ensure_ascii=False) for item in items]
    lines.insert(5, json.dumps(_item(99, unit="无此单位"), ensure_ascii=False))
    return lines


def _fresh(base: Instance, folder: Path) -> tuple[Instance, str | None]:
    """A new installation on ``base``'s backend with the demo's units and the categories."""
    folder.mkdir()
    schema = None
    if base.backend == "sqlite":
        url = f"sqlite:///{folder / 'portal.sqlite3'}"
    else:
        url, schema = create_schema(PG_URL)
    other = Instance(folder, url, base.backend)
    other.fill(Content.SCHEMA)
    with other.app("console").extensions["portal.db"].session() as session:
        units: dict[str, Unit] = {}
        for code, parent, kind, name_zh, name_en, _office in DEMO_UNITS:
            units[code] = Unit(
                code=code, parent=units.get(parent), kind=kind, name_zh=name_zh, name_en=name_en
            )
            session.add(units[code])
        categories.ensure_categories(session)
    return other, schema


def _one_by_one(app, path: Path) -> None:
    """Each line through the console workflow's services, as the import did before batching."""
    with app.app_context(), force_locale("en"):
        session = app.extensions["portal.db"].sessions()
        lookups = Lookups.load(session)
        zone, day, blobs = runtime.local_zone(), today(), blob_store()
        for raw in path.read_bytes().splitlines():
            try:
                item = parse_line(raw.decode(), path.parent, lookups, day, 1 << 20)
            except bulk_import.LineError:
                continue
            with session.begin_nested():
                bulk_import.store_item(session, blobs, item, zone, 1 << 20, [])
        session.commit()
        session.close()
    result = app.test_cli_runner().invoke(args=["log", "checkpoint"])
    assert result.exit_code == 0, result.output


TABLES = {
    "disclosures": "id",
    "disclosure_revisions": "id",
    "disclosure_steps": "id",
    "disclosure_attachments": "id",
}
NOT_COMPARED = {"created_at", "blob_key"}  # the time of the import; random blob names


def _rows(app) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    with app.extensions["portal.db"].session() as session:
        for table, key in TABLES.items():
            rows = session.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
            found[table] = [
                {k: v for k, v in row._mapping.items() if k not in NOT_COMPARED} for row in rows
            ]
        if session.get_bind().dialect.name == "sqlite":
            search = "SELECT rowid, title, tokens, names FROM disclosure_search ORDER BY rowid"
        else:
            search = (
                "SELECT id, title, tokens, names, scope, unit_id, published_at, tsv::text"
                " FROM disclosure_search ORDER BY id"
            )
        found["disclosure_search"] = [tuple(row) for row in session.execute(text(search))]
        found["log"] = [
            (r.log_index, r.leaf_hash)
            for r in session.scalars(select(DisclosureRevision).order_by("log_index"))
        ]
        found["root"] = session.execute(
            text("SELECT size, root_hash FROM disclosure_log_checkpoints ORDER BY size")
        ).all()
        blobs = app.extensions["portal.blobs"]  # files, or PostgreSQL's tables
        found["files"] = []
        keys = session.scalars(text("SELECT blob_key FROM disclosure_attachments ORDER BY id"))
        for key in keys:
            with blobs.open(key) as stored:
                found["files"].append(hashlib.sha256(stored.read()).hexdigest())
    return found


def test_a_batched_import_writes_what_publishing_one_by_one_writes(instance, tmp_path, monkeypatch):
    path = tmp_path / "import" / "历史公示.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(_lines(path.parent)) + "\n", encoding="utf-8")
    batched, batched_schema = _fresh(instance, tmp_path / "batched")
    one, one_schema = _fresh(instance, tmp_path / "one")
    try:
        # Batches of 4 (the bad line falls inside one), their search texts made by 2 worker
        # processes.
        monkeypatch.setattr(bulk_import, "PARALLEL_MIN", 1)
        batched_app = batched.app("console")
        result = batched_app.test_cli_runner().invoke(
            args=["disclosures", "import", str(path), "--batch-size", "4", "--jobs", "2"]
        )
        assert result.exit_code == 1
        assert "line 6: unknown unit '无此单位'" in result.stderr
        assert f"Imported {13 + len(TRICKY_BODIES)} disclosures; 1 lines failed." in result.stdout
        one_app = one.app("console")

        # One by one, the plain text is made by markdown-it and bleach every time.
        def reference(body: str) -> str:
            return sanitize._markdown_to_text(body, fast=False)

        monkeypatch.setattr(publishing, "markdown_to_text", reference)
        _one_by_one(one_app, path)

        got, expected = _rows(batched_app), _rows(one_app)
        for table in expected:
            assert got[table] == expected[table], table
        items = 13 + len(TRICKY_BODIES)
        assert len(expected["disclosures"]) == items
        assert len(expected["log"]) == items + 2 + 2 + 1
        assert len(expected["disclosure_attachments"]) == 5
        assert len(expected["disclosure_search"]) == items
        for app in (batched_app, one_app):
            verify = app.test_cli_runner().invoke(args=["log", "verify"])
            assert verify.exit_code == 0, verify.output
    finally:
        for inst, schema in ((batched, batched_schema), (one, one_schema)):
            inst.close()
            if schema:
                drop_schema(PG_URL, schema)


def test_an_import_killed_part_way_keeps_whole_items_only(instance, tmp_path):
    """SIGKILL between batches or inside one: what was committed is complete and logged.

    The import is not re-runnable (a second run imports every line again, see
    docs/disclosures.md): the lines after the last whole batch are imported on their own.
    """
    inst, schema = _fresh(instance, tmp_path / "killed")
    path = tmp_path / "many.jsonl"
    count = 3000
    path.write_text(
        "\n".join(json.dumps(_item(n), ensure_ascii=False) for n in range(count)) + "\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | {
        "PORTAL_INSTANCE_PATH": str(inst.path),
        "PORTAL_DATABASE_URL": inst.database_url,
    }
    app = inst.app("console")
    database = app.extensions["portal.db"]

    def imported() -> int:
        with database.session() as session:
            return session.scalar(select(func.count()).select_from(Disclosure))

    try:
        command = [sys.executable, "-c", "from app.main import main; main()"]
        process = subprocess.Popen(
            [*command, "disclosures", "import", str(path), "--batch-size", "100", "--jobs", "1"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while imported() < 300 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        kept = imported()
        assert 300 <= kept < count and kept % 100 == 0  # whole batches
        with database.session() as session:
            revisions = session.scalar(select(func.count()).select_from(DisclosureRevision))
            searchable = session.scalar(text("SELECT count(*) FROM disclosure_search"))
            incomplete = session.scalar(
                select(func.count()).where(Disclosure.revision_count == 0).select_from(Disclosure)
            )
        assert revisions == kept and searchable == kept and incomplete == 0
        verify = app.test_cli_runner().invoke(args=["log", "verify"])
        assert verify.exit_code == 0, verify.output

        rest = tmp_path / "rest.jsonl"
        rest.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[kept:]))
        result = app.test_cli_runner().invoke(args=["disclosures", "import", str(rest)])
        assert result.exit_code == 0, result.output
        assert imported() == count
        with database.session() as session:
            titles = session.scalars(select(Disclosure.public_title)).all()
        assert len(set(titles)) == count  # each line once
        verify = app.test_cli_runner().invoke(args=["log", "verify"])
        assert verify.exit_code == 0, verify.output
    finally:
        inst.close()
        if schema:
            drop_schema(PG_URL, schema)
