"""The review workflow: draft, submit, return, approve, schedule; every step recorded."""

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from app.db import utcnow
from app.models import Disclosure, DisclosureStep, PublicState, StepAction, WorkState
from app.services import units
from app.services.disclosures import catalogue, categories, drafting, errors, publishing, reviewing
from tests.helpers.console import signed_in
from tests.helpers.disclosures import draft_fields, publish_item, staff


def test_draft_submit_return_approve_records_every_step(db, demo):
    with db() as session:
        author = staff(session, "publisher")
        approver = staff(session, "approver")
        d = drafting.create_draft(session, author, draft_fields(session))
        drafting.submit_for_review(session, d, author)
        reviewing.return_for_changes(session, d, approver, "请补充中标金额")
        assert d.work_state == WorkState.returned
        fields = draft_fields(session, body="中标金额100万元。")
        drafting.update_draft(session, d, author, fields)
        drafting.submit_for_review(session, d, author)
        revision = reviewing.approve(session, d, approver, "同意")
        assert revision is not None and revision.number == 1 and revision.log_index >= 0
        assert d.public_state == PublicState.published and d.work_state == WorkState.none
        actions = [(s.action, s.actor.username if s.actor else None) for s in d.steps]
        assert actions == [
            (StepAction.created, "publisher"),
            (StepAction.submitted, "publisher"),
            (StepAction.returned, "approver"),
            (StepAction.edited, "publisher"),
            (StepAction.submitted, "publisher"),
            (StepAction.approved, "approver"),
            (StepAction.published, "approver"),
        ]
        assert all(s.at is not None for s in d.steps)
        assert d.search_body == "中标金额100万元。"


def test_step_actions_are_a_closed_set_stored_as_before(db, demo):
    d_id = publish_item(db, title="步骤只取固定的几种 steps")
    with db() as session:
        d = session.get(Disclosure, d_id)
        session.add(DisclosureStep(disclosure=d, action="deleted", actor=None))
        with pytest.raises(StatementError, match="deleted"):
            session.flush()
        session.rollback()
    steps_of = text("SELECT id, action FROM disclosure_steps WHERE disclosure_id = :d ORDER BY id")
    with db() as session:
        stored = session.execute(steps_of, {"d": d_id}).all()
        # The values the free-text column held: rows written before the type read back.
        assert [row.action for row in stored] == ["created", "submitted", "approved", "published"]
        session.execute(
            text("UPDATE disclosure_steps SET action = 'retraction requested' WHERE id = :id"),
            {"id": stored[-1].id},
        )
    with db() as session:
        actions = [s.action for s in session.get(Disclosure, d_id).steps]
        assert actions[-1] is StepAction.retraction_requested
    with db() as session:
        session.execute(
            text("UPDATE disclosure_steps SET action = '删除' WHERE id = :id"), {"id": stored[0].id}
        )
    with db() as session, pytest.raises(LookupError):
        session.get(Disclosure, d_id).steps  # noqa: B018  loading the rows is the check


def test_every_step_action_has_a_name_in_the_console():
    from app.web.disclosures import STEP_NAMES

    assert set(STEP_NAMES) == set(StepAction)


def test_author_cannot_approve_own_draft(db, demo):
    with db() as session:
        # An approver who also drafts: give the approver the publisher role for this test.
        author = staff(session, "publisher")
        d = drafting.create_draft(session, author, draft_fields(session))
        drafting.submit_for_review(session, d, author)
        with pytest.raises(errors.NotAllowed):
            reviewing.approve(session, d, author)
        with pytest.raises(errors.NotAllowed):
            reviewing.return_for_changes(session, d, author, "x")


def test_publisher_of_a_subsidiary_cannot_draft_for_the_group(db, demo):
    with db() as session, pytest.raises(errors.NotAllowed):
        drafting.create_draft(
            session,
            staff(session, "mch.publisher"),
            draft_fields(session, unit=units.by_code(session, "GRP")),
        )


def test_scheduled_item_is_published_when_due(db, demo, public_app):
    with db() as session:
        author = staff(session, "publisher")
        d = drafting.create_draft(
            session,
            author,
            draft_fields(session, title="定时发布事项", scheduled_at=utcnow() + timedelta(hours=1)),
        )
        drafting.submit_for_review(session, d, author)
        assert reviewing.approve(session, d, staff(session, "approver")) is None
        assert d.work_state == WorkState.scheduled
        d_id = d.id
    client = public_app.test_client()
    assert client.get(f"/disclosures/{d_id}").status_code == 404
    with db() as session:
        assert reviewing.publish_due(session, utcnow() + timedelta(hours=2))
        d = session.get(Disclosure, d_id)
        assert d.public_state == PublicState.published
        assert [s.action for s in d.steps][-2:] == [StepAction.scheduled, StepAction.published]


def test_scheduled_item_is_published_by_the_console_not_the_public_site(db, demo, public_app):
    with db() as session:
        author = staff(session, "publisher")
        d = drafting.create_draft(session, author, draft_fields(session, title="即将发布"))
        drafting.submit_for_review(session, d, author)
        d.scheduled_at = utcnow() + timedelta(hours=1)
        reviewing.approve(session, d, staff(session, "approver"))
        d.scheduled_at = utcnow() - timedelta(seconds=1)  # the time has come
        d_id = d.id
    # The public site holds no signing key, so it never publishes (or signs) anything.
    assert public_app.test_client().get(f"/disclosures/{d_id}").status_code == 404
    console = signed_in(db.app, "publisher")
    assert console.get("/publish/").status_code == 200
    response = public_app.test_client().get(f"/disclosures/{d_id}")
    assert response.status_code == 200
    assert "即将发布" in response.get_data(as_text=True)


def test_publish_due_command(db, demo, console_app):
    with db() as session:
        author = staff(session, "publisher")
        d = drafting.create_draft(session, author, draft_fields(session))
        drafting.submit_for_review(session, d, author)
        d.scheduled_at = utcnow() + timedelta(hours=1)
        reviewing.approve(session, d, staff(session, "approver"))
        d.scheduled_at = utcnow() - timedelta(minutes=1)
    result = console_app.test_cli_runner().invoke(args=["disclosures", "publish-due"])
    assert result.exit_code == 0, result.output
    assert "Published 1" in result.output


def test_amend_and_retract_need_review_and_reason(db, demo):
    d_id = publish_item(db)
    with db() as session:
        d = session.get(Disclosure, d_id)
        author = staff(session, "publisher")
        approver = staff(session, "approver")
        drafting.start_amendment(session, d, author)
        fields = draft_fields(session, body="正文第一段（修订）。\n\n正文第二段。")
        drafting.update_draft(session, d, author, fields, reason="")
        with pytest.raises(errors.DisclosureError):
            drafting.submit_for_review(session, d, author)
        drafting.update_draft(session, d, author, fields, reason="更正笔误")
        drafting.submit_for_review(session, d, author)
        revision = reviewing.approve(session, d, approver)
        assert revision.number == 2 and revision.reason == "更正笔误"
        with pytest.raises(errors.DisclosureError):
            drafting.request_retraction(session, d, author, "  ")
        drafting.request_retraction(session, d, author, "信息有误")
        reviewing.approve(session, d, approver)
        assert d.public_state == PublicState.retracted
        assert [r.action.value for r in d.revisions] == ["publish", "amend", "retract"]
        assert d.search_body == ""


def test_import_published_keeps_the_given_date(db, demo):
    from datetime import UTC, datetime

    when = datetime(2019, 6, 30, 8, 0, tzinfo=UTC)
    with db() as session:
        d = publishing.import_published(session, draft_fields(session, title="历史事项"), when)
        assert d.published_at == when
        assert d.revisions[0].published_at == when


def _give_role(session, username, role):
    from app.models import StaffRole

    user = staff(session, username)
    user.role_rows.append(StaffRole(role=role))
    session.flush()
    return user


def _second_approver(session):
    from app.models import Role
    from app.services import staff as staff_service
    from tests.helpers.weak_kdf import TEST_SEAL_PARAMS

    return staff_service.create_user(
        session,
        "approver2",
        "第二审核人 孙丽",
        "second-approver-pass",
        [Role.approver],
        unit=units.by_code(session, "GRP"),
        seal_params=TEST_SEAL_PARAMS,
    )


def test_who_rewrote_a_returned_draft_cannot_approve_it(db, demo):
    from app.models import Role

    with db() as session:
        author = staff(session, "publisher")
        both = _give_role(session, "approver", Role.publisher)
        d = drafting.create_draft(
            session, author, draft_fields(session, body="原文：金额100万元。")
        )
        drafting.submit_for_review(session, d, author)
        reviewing.return_for_changes(session, d, both, "请修改")
        drafting.update_draft(session, d, both, draft_fields(session, body="改写：金额900万元。"))
        drafting.submit_for_review(session, d, both)
        assert not reviewing.may_review(session, d, both)
        with pytest.raises(errors.NotAllowed):
            reviewing.approve(session, d, both)
        with pytest.raises(errors.NotAllowed):
            reviewing.return_for_changes(session, d, both, "x")
        # Another approver, who wrote nothing of it, may.
        other = _second_approver(session)
        assert reviewing.approve(session, d, other) is not None


def test_who_attached_a_file_to_the_working_copy_cannot_approve_it(db, demo):
    import io

    from app.models import Role
    from app.services.disclosures.attachments import add_attachment

    with db() as session:
        author = staff(session, "publisher")
        both = _give_role(session, "approver", Role.publisher)
        d = drafting.create_draft(session, author, draft_fields(session))
        blobs = db.app.extensions["portal.blobs"]
        add_attachment(session, blobs, d, both, "附件.pdf", io.BytesIO(b"%PDF-1.4 x"), 10_000)
        drafting.submit_for_review(session, d, author)
        with pytest.raises(errors.NotAllowed):
            reviewing.approve(session, d, both)


def test_who_edited_an_amendment_cannot_approve_it_but_may_review_the_next(db, demo):
    from app.models import Role

    d_id = publish_item(db, body="第一版。")
    with db() as session:
        d = session.get(Disclosure, d_id)
        author = staff(session, "publisher")
        both = _give_role(session, "approver", Role.publisher)
        drafting.start_amendment(session, d, author, "更正")
        fields = draft_fields(session, body="第二版（审核人改写）。")
        drafting.update_draft(session, d, both, fields, reason="更正")
        drafting.submit_for_review(session, d, author)
        with pytest.raises(errors.NotAllowed):
            reviewing.approve(session, d, both)
        reviewing.approve(session, d, _second_approver(session))
        # Words written before the last approval are not the next change's.
        drafting.start_amendment(session, d, author, "再次更正")
        drafting.update_draft(
            session, d, author, draft_fields(session, body="第三版。"), "再次更正"
        )
        drafting.submit_for_review(session, d, author)
        assert reviewing.may_review(session, d, both)
        assert reviewing.approve(session, d, both) is not None


def test_console_shows_no_approve_button_to_an_editor_and_refuses_the_post(db, demo, console_app):
    from app.models import Role
    from tests.helpers.forms import csrf_token

    with db() as session:
        author = staff(session, "publisher")
        both = _give_role(session, "approver", Role.publisher)
        d = drafting.create_draft(session, author, draft_fields(session, title="自审测试"))
        drafting.submit_for_review(session, d, author)
        reviewing.return_for_changes(session, d, both, "请修改")
        drafting.update_draft(session, d, both, draft_fields(session, title="自审测试（改）"))
        drafting.submit_for_review(session, d, both)
        d_id = d.id
    client = signed_in(console_app, "approver")
    page = client.get(f"/publish/{d_id}?lang=en").get_data(as_text=True)
    assert "You wrote or changed this version" in page
    assert 'name="approve"' not in page
    response = client.post(
        f"/publish/{d_id}/review", data={"csrf_token": csrf_token(page), "approve": "1"}
    )
    assert response.status_code in (400, 403)
    with db() as session:
        assert session.get(Disclosure, d_id).public_state == PublicState.unpublished


def _attach(db, session, disclosure, uploader, name, data=b"%PDF-1.4 correction"):
    import io

    from app.services.disclosures.attachments import add_attachment

    blobs = db.app.extensions["portal.blobs"]
    return add_attachment(session, blobs, disclosure, uploader, name, io.BytesIO(data), 10_000)


def test_who_removed_a_file_from_an_amendment_cannot_approve_it(db, demo, console_app):
    from app.models import DisclosureAttachment, Role
    from tests.helpers.forms import csrf_token

    d_id = publish_item(db, title="设备采购结果公示", body="中标金额128.6万元。")
    with db() as session:
        d = session.get(Disclosure, d_id)
        author = staff(session, "publisher")
        drafting.start_amendment(session, d, author, "更正中标金额")
        d.body = "中标金额126.8万元。"
        correction = _attach(db, session, d, author, "更正说明（金额）.pdf")
        drafting.submit_for_review(session, d, author)
        _give_role(session, "approver", Role.publisher)
        session.flush()
        attachment_id = correction.id
    client = signed_in(console_app, "approver")
    token = csrf_token(client.get(f"/publish/{d_id}").get_data(as_text=True))
    returned = client.post(
        f"/publish/{d_id}/review", data={"csrf_token": token, "send_back": "1", "comment": "退回"}
    )
    assert returned.status_code == 302
    removed = client.post(
        f"/publish/{d_id}/attachments/{attachment_id}/delete", data={"csrf_token": token}
    )
    assert removed.status_code == 302
    assert client.post(f"/publish/{d_id}/submit", data={"csrf_token": token}).status_code == 302
    page = client.get(f"/publish/{d_id}").get_data(as_text=True)
    assert "删除附件" in page and "更正说明（金额）.pdf" in page
    assert 'name="approve"' not in page
    approve = client.post(f"/publish/{d_id}/review", data={"csrf_token": token, "approve": "1"})
    assert approve.status_code in (400, 403)
    with db() as session:
        d = session.get(Disclosure, d_id)
        assert d.revision_count == 1 and d.work_state == WorkState.in_review
        assert session.get(DisclosureAttachment, attachment_id) is None
        steps = [(s.action, s.actor.username, s.comment) for s in d.steps if s.comment]
        assert (StepAction.attachment_added, "publisher", "更正说明（金额）.pdf") in steps
        assert (StepAction.attachment_removed, "approver", "更正说明（金额）.pdf") in steps
        # Another approver, who changed nothing of it, may approve it.
        assert reviewing.approve(session, d, _second_approver(session)) is not None


def test_a_discarded_change_takes_its_files_with_it(db, demo, console_app):
    from app.models import DisclosureAttachment
    from app.services.blobs import BlobError
    from tests.helpers.forms import csrf_token

    d_id = publish_item(db, title="年度预算公开", body="预算总额3000万元。")
    with db() as session:
        d = session.get(Disclosure, d_id)
        author = staff(session, "publisher")
        drafting.start_amendment(session, d, author, "补充附件")
        kept = _attach(db, session, d, author, "作废的附件.pdf", b"%PDF-1.4 discarded")
        session.flush()
        attachment_id, blob_key = kept.id, kept.blob_key
    client = signed_in(console_app, "publisher")
    token = csrf_token(client.get(f"/publish/{d_id}").get_data(as_text=True))
    assert client.post(f"/publish/{d_id}/discard", data={"csrf_token": token}).status_code == 302
    with db() as session:
        assert session.get(DisclosureAttachment, attachment_id) is None
        d = session.get(Disclosure, d_id)
        assert [(s.action, s.comment) for s in d.steps][-2:] == [
            (StepAction.attachment_removed, "作废的附件.pdf"),
            (StepAction.discarded, ""),
        ]
        # The next change, approved, publishes no file from the discarded one.
        author = staff(session, "publisher")
        drafting.start_amendment(session, d, author, "更正预算总额")
        d.body = "预算总额3200万元。"
        drafting.submit_for_review(session, d, author)
        revision = reviewing.approve(session, d, staff(session, "approver"))
        assert publishing.revision_attachment_ids(revision) == []
    with pytest.raises(BlobError):
        db.app.extensions["portal.blobs"].open(blob_key)


@pytest.mark.parametrize("year", [1, 1999, 2100, 9999])
def test_dates_outside_the_years_kept_are_refused_by_the_service(db, demo, year):
    from datetime import UTC, date, datetime

    from app.models import Period

    with db() as session:
        author = staff(session, "publisher")
        at = datetime(year, 1, 1, tzinfo=UTC)
        with pytest.raises(errors.DisclosureError, match="2000"):
            drafting.create_draft(session, author, draft_fields(session, scheduled_at=at))
        with pytest.raises(errors.DisclosureError, match="2000"):
            catalogue.add_catalogue_entry(
                session,
                categories.category_by_code(session, "canteen")
                or categories.list_categories(session)[0],
                units.by_code(session, "MCH"),
                Period.half_yearly,
                30,
                date(year, 1, 1),
            )


@pytest.mark.parametrize("title", ["第一行\n第二行", "标题\r\n第二行", "标题\u2028第二行", "a\vb"])
def test_titles_are_one_line(db, demo, console_app, title):
    from tests.helpers.forms import csrf_token

    with db() as session, pytest.raises(errors.DisclosureError, match="one line"):
        drafting.create_draft(
            session, staff(session, "publisher"), draft_fields(session, title=title)
        )
    client = signed_in(console_app, "publisher")
    token = csrf_token(client.get("/publish/new?lang=en").get_data(as_text=True))
    response = client.post(
        "/publish/new?lang=en",
        data={
            "csrf_token": token,
            "title": title,
            "category": "procurement",
            "unit": "GRP",
            "scope": "everyone",
            "body": "保留已填写的正文。",
            "save": "1",
        },
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The title must be one line." in page and "保留已填写的正文。" in page
