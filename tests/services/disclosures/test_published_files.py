"""A revision's attachment list: a typed value over the stored JSON, the log's leaves unchanged."""

import dataclasses
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from app.models import Action, DisclosureRevision, PublishedFile, Scope
from app.models.disclosures import PublishedFiles, parse_published_files
from app.services.disclosures import attachments as attachment_service
from app.services.disclosures import drafting, reviewing
from app.services.disclosures import log as disclosure_log
from crypto import tlog
from tests.helpers.disclosures import draft_fields, publish_item, sign_log, staff

FILES = (
    PublishedFile(7, "招标结果（公示）.pdf", "ab" * 32),
    PublishedFile(12, 'quote"and\\slash.csv', "0" * 64),
)
# The list as revisions have stored it since the first release.
STORED = (
    '[[7,"招标结果（公示）.pdf","' + "ab" * 32 + '"],'
    '[12,"quote\\"and\\\\slash.csv","' + "0" * 64 + '"]]'
)


def _known_revision(files: tuple[PublishedFile, ...]) -> DisclosureRevision:
    return DisclosureRevision(
        disclosure_id=3,
        number=2,
        action=Action.amend,
        title="关于食堂承包商招标结果的公示",
        body="## 结果\n\n中标单位：某某餐饮公司。\n",
        reason="补充附件。",
        category_code="procurement",
        unit_code="GRP",
        scope=Scope.everyone,
        period_key="2026-Q1",
        published_at=datetime(2026, 3, 5, 8, 30, 0, tzinfo=UTC),
        attachments=files,
    )


def test_the_leaf_of_a_known_revision_commits_to_the_same_bytes_as_before():
    # Computed by the code that kept the list as JSON text (json.loads in the record).
    expected = (
        '{"action":"amend","attachments":[[7,"招标结果（公示）.pdf","'
        + "ab" * 32
        + '"],[12,"quote\\"and\\\\slash.csv","'
        + "0" * 64
        + '"]],"body":"## 结果\\n\\n中标单位：某某餐饮公司。\\n","category":"procurement",'
        '"date":"2026-03-05T08:30:00Z","disclosure":3,"period":"2026-Q1","reason":"补充附件。",'
        '"revision":2,"scope":"everyone","title":"关于食堂承包商招标结果的公示","unit":"GRP","v":1}'
    ).encode()
    record = disclosure_log.canonical_record(_known_revision(FILES))
    assert record == expected
    assert (
        tlog.leaf_hash(record).hex()
        == "c462e260b96d028dbad094fb4065f1c3259f0bfde8b24ae2a8b96606b07abbc1"
    )
    # No attachments: an empty list, as before.
    assert b'"attachments":[],' in disclosure_log.canonical_record(_known_revision(()))


def test_the_stored_text_reads_as_files_and_files_are_stored_as_that_text():
    assert parse_published_files(STORED) == FILES
    assert PublishedFiles().process_bind_param(FILES, None) == STORED
    assert PublishedFiles().process_bind_param((), None) == "[]"
    # An empty column read as no files, as the JSON readers did.
    assert PublishedFiles().process_result_value("", None) == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        FILES[0].filename = "改名.pdf"  # type: ignore[misc]


@pytest.mark.parametrize(
    "stored",
    [
        "[{",
        "{}",
        '"[]"',
        "[[1, 2, 3]]",
        '[[1, "a.pdf"]]',
        '[[1, "a.pdf", "ab", "x"]]',
        '[[true, "a.pdf", "ab"]]',
        '[["1", "a.pdf", "ab"]]',
        '[{"id": 1, "filename": "a.pdf", "sha256": "ab"}]',
    ],
)
def test_a_list_that_is_not_of_triples_is_refused(stored):
    with pytest.raises(ValueError):
        parse_published_files(stored)


def test_only_published_files_are_written():
    with pytest.raises(TypeError):
        PublishedFiles().process_bind_param([[1, "a.pdf", "ab"]], None)


def test_a_published_revision_lists_its_files_in_the_stored_format(db, demo):
    names = ["中标通知书（盖章）.pdf", "price list 2026.csv"]
    with db() as session:
        author = staff(session, "publisher")
        d = drafting.create_draft(session, author, draft_fields(session, title="附件清单 files"))
        blobs = db.app.extensions["portal.blobs"]
        for name, data in zip(
            names, [b"%PDF-1.4 notice", "单价,数量\n1,2\n".encode()], strict=True
        ):
            attachment_service.add_attachment(
                session, blobs, d, author, name, io.BytesIO(data), 10_000
            )
        drafting.submit_for_review(session, d, author)
        revision = reviewing.approve(session, d, staff(session, "approver"))
        expected = tuple(PublishedFile(a.id, a.filename, a.sha256) for a in d.attachments)
        revision_id = revision.id
    assert [file.filename for file in expected] == names
    row = text("SELECT attachments_json FROM disclosure_revisions WHERE id = :id")
    with db() as session:
        stored = session.scalar(row, {"id": revision_id})
        assert stored == (
            "[" + ",".join(f'[{f.id},"{f.filename}","{f.sha256}"]' for f in expected) + "]"
        )
        assert session.get(DisclosureRevision, revision_id).attachments == expected
        # A list written by earlier code reads back as the same files.
        session.execute(
            text("UPDATE disclosure_revisions SET attachments_json = :s WHERE id = :id"),
            {"s": STORED, "id": revision_id},
        )
    with db() as session:
        assert session.get(DisclosureRevision, revision_id).attachments == FILES


def test_a_row_changed_behind_the_apps_back_still_shows_its_pages(
    db, demo, public_app, console_app
):
    """A hand-edited attachment list costs the pages their file list, not a 500; the log
    check names the row."""
    disclosure_id = publish_item(db, title="附件被改动的公示")
    sign_log(db)
    with console_app.extensions["portal.db"].engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE disclosure_revisions SET attachments_json = :bad WHERE disclosure_id = :id"
            ),
            {"bad": '[[1, "只有两项.pdf"]]', "id": disclosure_id},
        )
    client = public_app.test_client()
    for path in ("/log/", f"/log/proof/{disclosure_id}"):
        assert client.get(path).status_code == 200, path
    for path in ("", "/history", "/print"):
        page = client.get(f"/disclosures/{disclosure_id}{path}")
        assert page.status_code == 200, path
        assert "附件被改动的公示" in page.get_data(as_text=True)
    checked = console_app.test_cli_runner().invoke(args=["log", "verify"])
    assert checked.exit_code == 1
    assert "the stored row cannot be read" in checked.output
