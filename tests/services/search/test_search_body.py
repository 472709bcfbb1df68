"""The searched text: title and body kept apart, so no line of a title passes for body."""

from sqlalchemy import text

from app.models import Disclosure
from app.services.disclosures import drafting, reviewing
from app.services.disclosures.visibility import ANONYMOUS
from app.services.search import query as search_query
from tests.helpers.disclosures import draft_fields, publish_item, staff


def _indexed_body(session, disclosure_id: int) -> str:
    key = "rowid" if session.get_bind().dialect.name == "sqlite" else "id"
    return session.scalar(
        text(f"SELECT tokens FROM disclosure_search WHERE {key} = :id"),
        {"id": disclosure_id},
    )


def test_title_and_body_are_searched_apart(db, demo):
    d_id = publish_item(db, title="设备采购结果 Equipment", body="**中标单位**：华北环保。")
    with db() as session:
        d = session.get(Disclosure, d_id)
        assert d.public_title == "设备采购结果 Equipment"
        assert d.search_body == "中标单位：华北环保。"
        assert "设备" not in _indexed_body(session, d_id)
        hit = search_query.search(session, ANONYMOUS, "华北环保").hits[0]
        assert hit.disclosure.id == d_id and "华北" in hit.snippet


def test_a_title_with_a_line_break_stays_out_of_the_indexed_body_and_the_snippet(db, demo):
    # The form, the service and the import refuse such a title; one from before they did, or
    # set past them, is still a title only.
    with db() as session:
        author = staff(session, "publisher")
        fields = draft_fields(session, title="设备采购公示", body="中标单位：华北环保。")
        d = drafting.create_draft(session, author, fields)
        drafting.submit_for_review(session, d, author)
        d.title = "设备采购公示\n第二行藏着麒麟 qilin"
        reviewing.approve(session, d, staff(session, "approver"))
        d_id = d.id
    with db() as session:
        d = session.get(Disclosure, d_id)
        assert d.public_title == "设备采购公示\n第二行藏着麒麟 qilin"
        assert d.search_body == "中标单位：华北环保。"
        indexed = _indexed_body(session, d_id)
        assert "麒麟" not in indexed and "qilin" not in indexed
        for query in ("麒麟", "qilin"):
            hits = search_query.search(session, ANONYMOUS, query).hits
            assert [hit.disclosure.id for hit in hits] == [d_id]  # found by its title
            assert hits[0].snippet == "中标单位：华北环保。"
