"""Two requests at the same moment: every workflow step is taken once, the log stays whole."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    Disclosure,
    DisclosureRevision,
    DisclosureStep,
    PublicState,
    StepAction,
    WorkState,
)
from app.services.blobs import BlobStore
from app.services.disclosures import drafting, errors, reviewing
from app.services.disclosures import log as disclosure_log
from tests.helpers.console import copy_cookies, signed_in
from tests.helpers.disclosures import draft_fields, publish_item, sign_log, staff
from tests.helpers.forms import csrf_token

Step = Callable[[Session, Disclosure, BlobStore], object]


def _at_once(db, disclosure_ids: list[int], step: Step) -> list[str]:
    """Run ``step`` once per id, each in its own thread and session, all at the same moment.

    Each thread reads its item before the others write, as two requests that arrive together
    do; the result of each is "done", "refused" (a workflow error) or the exception's name.
    """
    database = db.app.extensions["portal.db"]
    blobs = db.app.extensions["portal.blobs"]
    barrier = threading.Barrier(len(disclosure_ids))
    results: list[str] = []

    def run(disclosure_id: int) -> None:
        with database.sessions() as session:
            disclosure = session.get(Disclosure, disclosure_id)
            # Everything a request reads before deciding: state, history, files, revisions.
            _ = (disclosure.work_state, disclosure.steps, disclosure.attachments)
            _ = disclosure.revisions
            barrier.wait(timeout=10)
            try:
                step(session, disclosure, blobs)
                session.commit()
            except errors.DisclosureError:
                session.rollback()
                results.append("refused")
            except Exception as exc:  # reported, so that the assertion shows what broke
                session.rollback()
                results.append(type(exc).__name__)
            else:
                results.append("done")

    threads = [threading.Thread(target=run, args=(i,)) for i in disclosure_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


def _log_verifies(console_app) -> None:
    result = console_app.test_cli_runner().invoke(args=["log", "verify"])
    assert result.exit_code == 0, result.output


def _submitted(db, title: str = "并发审核事项") -> int:
    with db() as session:
        author = staff(session, "publisher")
        d = drafting.create_draft(session, author, draft_fields(session, title=title))
        drafting.submit_for_review(session, d, author)
        return d.id


def _drafted(db) -> int:
    with db() as session:
        author = staff(session, "publisher")
        return drafting.create_draft(session, author, draft_fields(session, title="并发提交")).id


def _amendment_in_review(db) -> int:
    d_id = publish_item(db, title="并发修订事项")
    with db() as session:
        d = session.get(Disclosure, d_id)
        author = staff(session, "publisher")
        drafting.start_amendment(session, d, author, "更正金额")
        d.body = "更正后的正文：金额126.8万元。"
        drafting.submit_for_review(session, d, author)
    return d_id


def _approve(session, d, _blobs):
    return reviewing.approve(session, d, staff(session, "approver"), "同意")


def _return(session, d, _blobs):
    return reviewing.return_for_changes(session, d, staff(session, "approver"), "请补充说明")


def _submit(session, d, _blobs):
    return drafting.submit_for_review(session, d, staff(session, "publisher"))


def _start_amendment(session, d, _blobs):
    return drafting.start_amendment(session, d, staff(session, "publisher"), "更正笔误")


def _request_retraction(session, d, _blobs):
    return drafting.request_retraction(session, d, staff(session, "publisher"), "重复发布")


def _discard(session, d, blobs):
    return drafting.discard_change(session, d, staff(session, "publisher"), blobs)


RACES = {
    "approve twice": (_submitted, _approve, _approve),
    "approve and return": (_submitted, _approve, _return),
    "return twice": (_submitted, _return, _return),
    "submit twice": (_drafted, _submit, _submit),
    "start an amendment twice": (lambda db: publish_item(db), _start_amendment, _start_amendment),
    "request a retraction twice": (
        lambda db: publish_item(db),
        _request_retraction,
        _request_retraction,
    ),
    "amend and retract": (lambda db: publish_item(db), _start_amendment, _request_retraction),
    "discard twice": (_amendment_in_review, _discard, _discard),
    "approve and discard an amendment": (_amendment_in_review, _approve, _discard),
    "approve an amendment twice": (_amendment_in_review, _approve, _approve),
}


@pytest.mark.parametrize("race", list(RACES))
def test_a_step_sent_twice_at_the_same_moment_is_taken_once(db, demo, console_app, race):
    prepare, first, second = RACES[race]
    d_id = prepare(db)
    with db() as session:
        before = session.get(Disclosure, d_id)
        state_before, revisions_before = before.work_state, before.revision_count
        steps_before = session.scalar(
            select(func.count(DisclosureStep.id)).where(DisclosureStep.disclosure_id == d_id)
        )
    steps = iter([first, second])
    lock = threading.Lock()

    def one_of_them(session, disclosure, blobs):
        with lock:
            step = next(steps)
        return step(session, disclosure, blobs)

    results = _at_once(db, [d_id, d_id], one_of_them)
    assert results == ["done", "refused"], race
    with db() as session:
        d = session.get(Disclosure, d_id)
        assert d.work_state != state_before
        # One step's record only: an approval adds "approved" and "published" (or "amended").
        added = [s.action for s in d.steps][steps_before:]
        assert added.count(added[0]) == 1, added
        assert d.revision_count in (revisions_before, revisions_before + 1)
        assert len(d.revisions) == d.revision_count
        if d.revision_count > revisions_before:
            assert d.work_state == WorkState.none
    sign_log(db)
    _log_verifies(console_app)


def test_two_items_approved_at_the_same_moment_get_the_next_two_log_entries(db, demo, console_app):
    first, second = _submitted(db, "第一项：采购结果"), _submitted(db, "第二项：招标公告")
    with db() as session:
        size = disclosure_log.log_size(session)
    assert _at_once(db, [first, second], _approve) == ["done", "done"]
    with db() as session:
        indexes = sorted(session.scalars(select(DisclosureRevision.log_index)))
        assert indexes == list(range(size + 2))
    sign_log(db)
    _log_verifies(console_app)


def test_scheduled_items_are_published_once_when_six_consoles_open_at_the_due_minute(
    db, demo, console_app
):
    ids = []
    with db() as session:
        author, approver = staff(session, "publisher"), staff(session, "approver")
        for title in ("定时公开：一季度财务", "定时公开：安全检查", "定时公开：职代会决议"):
            d = drafting.create_draft(
                session,
                author,
                draft_fields(session, title=title, scheduled_at=utcnow() + timedelta(hours=1)),
            )
            drafting.submit_for_review(session, d, author)
            assert reviewing.approve(session, d, approver) is None
            d.scheduled_at = utcnow() - timedelta(seconds=1)  # the minute has come
            ids.append(d.id)
        size = disclosure_log.log_size(session)
    database = db.app.extensions["portal.db"]
    barrier = threading.Barrier(6)
    results: list[str] = []

    def open_dashboard() -> None:
        with database.sessions() as session:
            barrier.wait(timeout=10)
            try:
                published = reviewing.publish_due(session)
                session.commit()
            except Exception as exc:  # reported, so that the assertion shows what broke
                session.rollback()
                results.append(type(exc).__name__)
            else:
                results.append(str(len(published)))

    threads = [threading.Thread(target=open_dashboard) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result.isdigit() for result in results), results
    assert sum(int(result) for result in results) == 3
    with db() as session:
        for d_id in ids:
            d = session.get(Disclosure, d_id)
            assert d.public_state == PublicState.published and d.revision_count == 1
            assert [s.action for s in d.steps].count(StepAction.published) == 1
        indexes = sorted(session.scalars(select(DisclosureRevision.log_index)))
        assert indexes == list(range(size + 3))
    sign_log(db)
    _log_verifies(console_app)


def test_approve_clicked_twice_publishes_once_and_answers_the_second_click(db, demo, console_app):
    d_id = _submitted(db, "双击审核：采购合同公示")
    first = signed_in(console_app, "approver")
    # The same browser sends both: the same session cookie and the same form.
    token = csrf_token(first.get(f"/publish/{d_id}").get_data(as_text=True))
    second = console_app.test_client()
    copy_cookies(first, second)

    # Hold each request just before its first write to the disclosure, so that both have
    # read the item waiting for review before either changes it.
    engine = console_app.extensions["portal.db"].engine
    barrier = threading.Barrier(2)
    held = threading.local()

    def hold_before_first_write(_conn, _cursor, statement, *_args):
        words = statement.lstrip().split(None, 3)[:3]
        if (
            getattr(held, "waiting", False)
            and words
            and words[0].upper() in ("INSERT", "UPDATE")
            and any(word.startswith("disclosure") for word in words)
        ):
            held.waiting = False
            barrier.wait(timeout=10)

    statuses: list[int] = []
    pages: list[str] = []

    def click(client) -> None:
        held.waiting = True
        try:
            response = client.post(
                f"/publish/{d_id}/review?lang=en", data={"csrf_token": token, "approve": "1"}
            )
        except Exception as exc:  # the test app re-raises what would be a 500 page
            statuses.append(500)
            pages.append(type(exc).__name__)
        else:
            statuses.append(response.status_code)
            pages.append(response.get_data(as_text=True))

    event.listen(engine, "before_cursor_execute", hold_before_first_write)
    try:
        threads = [threading.Thread(target=click, args=(c,)) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(engine, "before_cursor_execute", hold_before_first_write)
    assert sorted(statuses) == [302, 400], statuses
    refusal = pages[statuses.index(400)]
    assert "This item is not waiting for review." in refusal
    with db() as session:
        d = session.get(Disclosure, d_id)
        assert d.public_state == PublicState.published and d.revision_count == 1
        assert [s.action for s in d.steps].count(StepAction.approved) == 1
    _log_verifies(console_app)


def test_checkpoints_signed_at_the_same_moment_keep_one_per_size(db, demo, console_app):
    """Six consoles sign the log at once (each page after a publication does): no error."""
    from app.models import LogCheckpoint
    from app.services.disclosures import log as disclosure_log

    publish_item(db, title="检查点并发测试")  # signs a checkpoint; the next item leaves one to sign
    with db() as session:
        author = staff(session, "publisher")
        draft = drafting.create_draft(session, author, draft_fields(session, title="待签检查点"))
        drafting.submit_for_review(session, draft, author)
        reviewing.approve(session, draft, staff(session, "approver"))
        size = disclosure_log.log_size(session)
    database = db.app.extensions["portal.db"]
    keys = console_app.extensions["portal.disclosure_log"]
    signer, origin = keys.signer, keys.origin
    barrier = threading.Barrier(6)
    results: list[object] = []

    def sign() -> None:
        with database.sessions() as session:
            disclosure_log.latest_checkpoint(session)  # read before deciding, as a page does
            barrier.wait(timeout=10)
            try:
                checkpoint = disclosure_log.sign_checkpoint(session, signer, origin)
                session.commit()
            except Exception as exc:  # reported, so that the assertion shows what broke
                session.rollback()
                results.append(type(exc).__name__)
            else:
                results.append(checkpoint.size if checkpoint else None)

    threads = [threading.Thread(target=sign) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [size] * 6
    with db() as session:
        sizes = list(session.scalars(select(LogCheckpoint.size).order_by(LogCheckpoint.size)))
    assert sizes.count(size) == 1
