"""The Merkle log: leaves, signed checkpoint, proofs, and `portal log verify`."""

import base64
import json

import pytest
from sqlalchemy import text

from app.models import Disclosure, Scope
from app.services.disclosures import drafting, reviewing
from app.services.disclosures import log as disclosure_log
from crypto import tlog
from crypto.errors import ProofError
from tests.helpers.disclosures import draft_fields, publish_item, sign_log, staff


def _b(value):
    return base64.b64decode(value)


def test_checkpoint_is_signed_and_proofs_verify(db, demo, public_app):
    d_id = publish_item(db, title="日志测试事项")
    client = public_app.test_client()
    note = client.get("/log/checkpoint")
    assert note.status_code == 200 and note.mimetype == "text/plain"
    vkey = client.get("/log/key").get_data(as_text=True)
    verifier = tlog.Verifier.from_vkey(vkey)
    checkpoint = tlog.verify_checkpoint(
        note.get_data(as_text=True), verifier, public_app.config["LOG_ORIGIN"]
    )
    proof = client.get(f"/log/proof/{d_id}").get_json()
    assert proof["tree_size"] == checkpoint.size
    for entry in proof["entries"]:
        leaf = tlog.leaf_hash(entry["record"].encode())
        assert leaf == _b(entry["leaf_hash"])
        tlog.verify_inclusion(
            leaf,
            entry["index"],
            checkpoint.size,
            [_b(p) for p in entry["proof"]],
            checkpoint.root_hash,
        )
        assert json.loads(entry["record"])["title"] == "日志测试事项"
    old = client.get(f"/log/consistency?from=3&to={checkpoint.size}").get_json()
    tlog.verify_consistency(
        3,
        checkpoint.size,
        _b(old["from_root"]),
        checkpoint.root_hash,
        [_b(p) for p in old["proof"]],
    )
    assert client.get("/log/consistency?from=5&to=2").status_code == 400
    # Sizes are ASCII digits: nothing else is read as "the latest size" or as a number.
    for query in (
        "from=1&to=1e3",
        "from=1&to=",
        "from=%D9%A1&to=3",
        "from=+1&to=3",
        "from=1&to=-0",
    ):
        refused = client.get(f"/log/consistency?{query}")
        assert refused.status_code == 400 and "error" in refused.get_json(), query
    assert client.get("/log/consistency?from=1&to=99999999999999999999999").status_code == 400


def test_amend_and_retract_append_leaves(db, demo, public_app):
    d_id = publish_item(db)
    with db() as session:
        size = disclosure_log.log_size(session)
        d = session.get(Disclosure, d_id)
        drafting.start_amendment(session, d, staff(session, "publisher"))
        d.body = "新的正文"
        d.reason = "更正"
        drafting.submit_for_review(session, d, staff(session, "publisher"))
        reviewing.approve(session, d, staff(session, "approver"))
        drafting.request_retraction(session, d, staff(session, "publisher"), "撤回原因")
        reviewing.approve(session, d, staff(session, "approver"))
        assert disclosure_log.log_size(session) == size + 2
    sign_log(db)
    proof = public_app.test_client().get(f"/log/proof/{d_id}").get_json()
    assert [e["action"] for e in proof["entries"]] == ["publish", "amend", "retract"]


def test_log_verify_passes_then_catches_a_raw_sql_edit(db, demo, console_app, public_app):
    d_id = publish_item(db, title="不可篡改")
    public_app.test_client().get("/log/checkpoint")  # sign a checkpoint
    runner = console_app.test_cli_runner()
    ok = runner.invoke(args=["log", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "Disclosure log OK" in ok.output
    engine = console_app.extensions["portal.db"].engine
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE disclosure_revisions SET body = 'tampered' WHERE disclosure_id = :id"),
            {"id": d_id},
        )
    bad = runner.invoke(args=["log", "verify"])
    assert bad.exit_code != 0
    assert f"disclosure {d_id}, revision 1" in bad.output
    assert "no longer matches its leaf" in bad.output


def test_log_verify_catches_a_rewritten_leaf_hash(db, demo, console_app, public_app):
    d_id = publish_item(db)
    public_app.test_client().get("/log/checkpoint")
    with db() as session:
        d = session.get(Disclosure, d_id)
        revision = d.revisions[0]
        revision.title = "换掉的标题"
        revision.leaf_hash = tlog.leaf_hash(disclosure_log.canonical_record(revision)).hex()
        d.public_title = "换掉的标题"
    bad = console_app.test_cli_runner().invoke(args=["log", "verify"])
    assert bad.exit_code != 0
    assert "no longer hash to the signed root" in bad.output


def test_restricted_items_show_no_title_in_the_log(db, demo, public_app):
    with db() as session:
        fields = draft_fields(session, title="党员专属标题", scope=Scope.party)
        d = drafting.create_draft(session, staff(session, "publisher"), fields)
        drafting.submit_for_review(session, d, staff(session, "publisher"))
        reviewing.approve(session, d, staff(session, "approver"))
        # Pages show hashes as the checkpoint and the proofs do: base64.
        d_id, leaf = d.id, disclosure_log.hash_text(d.revisions[0].leaf_hash)
    open_id = publish_item(db, title="全员可见标题")
    with db() as session:
        open_leaf = disclosure_log.hash_text(
            session.get(Disclosure, open_id).revisions[0].leaf_hash
        )
    client = public_app.test_client()
    page = client.get("/log/").get_data(as_text=True)
    assert "党员专属标题" not in page
    # The entry is listed all the same (anyone can check that the log is complete); only what
    # it is about is not shown, as it is for an item everyone may read.
    assert leaf in page and open_leaf in page
    rows = page.split("<tr>")
    hidden = next(row for row in rows if leaf in row)
    assert "您无权查看" in hidden and f"/disclosures/{d_id}/" not in hidden
    shown = next(row for row in rows if open_leaf in row)
    assert "全员可见标题" in shown and f"/disclosures/{open_id}/history" in shown
    assert client.get(f"/log/proof/{d_id}").status_code == 404


def test_public_app_holds_no_signing_key(instance, demo, db, tmp_path):
    d_id = publish_item(db, title="公钥测试")
    vkey = db.app.test_cli_runner().invoke(args=["log", "key"]).output.strip()
    # A public app on another machine: it knows the public key and nothing else.
    missing_key = tmp_path / "elsewhere" / "disclosure-log.key"
    public = instance.app("public", LOG_KEY_FILE=str(missing_key), LOG_VKEY=vkey)
    client = public.test_client()
    for path in (
        "/",
        "/disclosures/",
        f"/disclosures/{d_id}",
        f"/disclosures/{d_id}/print",
        "/log/",
        "/log/checkpoint",
        "/log/key",
        f"/log/proof/{d_id}",
        "/search?q=公钥",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()
    assert client.get("/log/key").get_data(as_text=True).strip() == vkey
    assert not missing_key.exists() and not missing_key.parent.exists()
    with pytest.raises(RuntimeError):
        public.extensions["portal.disclosure_log"].signer  # noqa: B018 (the access raises)


def _verified_proofs(client, d_ids):
    checkpoint = tlog.verify_checkpoint(
        client.get("/log/checkpoint").get_data(as_text=True),
        tlog.Verifier.from_vkey(client.get("/log/key").get_data(as_text=True)),
    )
    for d_id in d_ids:
        proof = client.get(f"/log/proof/{d_id}").get_json()
        assert proof["tree_size"] == checkpoint.size
        for entry in proof["entries"]:
            tlog.verify_inclusion(
                _b(entry["leaf_hash"]),
                entry["index"],
                checkpoint.size,
                [_b(p) for p in entry["proof"]],
                checkpoint.root_hash,
            )
    return checkpoint


def test_proofs_stay_valid_as_the_log_grows_and_read_only_new_leaves(db, demo, public_app):
    from sqlalchemy import event

    client = public_app.test_client()
    first = publish_item(db, title="第一项")
    old = _verified_proofs(client, [first])
    engine = public_app.extensions["portal.db"].engine
    leaf_reads = []

    def note_leaf_reads(_conn, _cursor, statement, parameters, _context, _many):
        if "leaf_hash" in statement and "log_index >=" in statement:
            leaf_reads.append(tuple(getattr(parameters, "values", lambda: parameters)()))

    event.listen(engine, "before_cursor_execute", note_leaf_reads)
    try:
        second = publish_item(db, title="第二项")
        with db() as session:
            disclosure = session.get(Disclosure, second)
            disclosure.reason = "更正"
            drafting.start_amendment(session, disclosure, staff(session, "publisher"), "更正")
            disclosure.body = "更正后的正文。"
            drafting.submit_for_review(session, disclosure, staff(session, "publisher"))
            reviewing.approve(session, disclosure, staff(session, "approver"))
        sign_log(db)
        new = _verified_proofs(client, [first, second, first])
    finally:
        event.remove(engine, "before_cursor_execute", note_leaf_reads)
    # One read of the leaves added since the last checkpoint, not of the whole log.
    assert leaf_reads == [(old.size, new.size)]
    proof = client.get(f"/log/consistency?from={old.size}&to={new.size}").get_json()
    assert _b(proof["from_root"]) == old.root_hash and _b(proof["to_root"]) == new.root_hash
    tlog.verify_consistency(
        old.size, new.size, old.root_hash, new.root_hash, [_b(p) for p in proof["proof"]]
    )


def test_proofs_follow_the_stored_leaves_when_they_differ_from_the_checkpoint(db, demo, public_app):
    client = public_app.test_client()
    d_id = publish_item(db)
    _verified_proofs(client, [d_id])
    with db() as session:
        session.execute(text("UPDATE disclosure_revisions SET leaf_hash = :h"), {"h": "00" * 32})
    proof = client.get(f"/log/proof/{d_id}").get_json()
    entry = proof["entries"][0]
    assert entry["leaf_hash"] == base64.b64encode(bytes(32)).decode()
    with pytest.raises(ProofError):
        tlog.verify_inclusion(
            _b(entry["leaf_hash"]),
            entry["index"],
            proof["tree_size"],
            [_b(p) for p in entry["proof"]],
            _b(proof["root_hash"]),
        )


def test_log_verify_lists_every_bad_entry_and_goes_on(db, demo, console_app, public_app):
    first = publish_item(db, title="第一项 first")
    second = publish_item(db, title="第二项 second")
    engine = console_app.extensions["portal.db"].engine
    sizes_query = text("SELECT size FROM disclosure_log_checkpoints ORDER BY size")
    with engine.begin() as conn:
        sizes = list(conn.scalars(sizes_query))
        forged_size, last_size = sizes[0], sizes[-1]
        note = conn.scalar(
            text("SELECT note FROM disclosure_log_checkpoints WHERE size = :s"), {"s": forged_size}
        )
        # A size of 5,001 digits: past what int() converts, so parsing it must not crash.
        forged = note.replace(f"\n{forged_size}\n", "\n1" + "0" * 5000 + "\n", 1)
        conn.execute(
            text("UPDATE disclosure_log_checkpoints SET note = :n WHERE size = :s"),
            {"n": forged, "s": forged_size},
        )
        conn.execute(
            text("UPDATE disclosure_revisions SET body = 'tampered' WHERE disclosure_id = :id"),
            {"id": first},
        )
        conn.execute(
            text(
                "UPDATE disclosure_revisions SET attachments_json = '[{' WHERE disclosure_id = :id"
            ),
            {"id": second},
        )
    bad = console_app.test_cli_runner().invoke(args=["log", "verify"])
    assert isinstance(bad.exception, SystemExit) and bad.exit_code == 1, bad.output
    assert "Traceback" not in bad.output
    assert f"checkpoint of size {forged_size}: malformed checkpoint" in bad.output
    assert f"disclosure {first}, revision 1): the stored row no longer matches" in bad.output
    assert f"disclosure {second}, revision 1): the stored row cannot be read" in bad.output
    assert f"checkpoint of size {last_size}: the entries no longer hash" in bad.output


def test_log_verify_reports_non_ascii_in_a_checkpoint_note_as_a_problem(
    db, demo, console_app, public_app
):
    publish_item(db, title="签名被改 signature")
    publish_item(db, title="根被改 root")
    engine = console_app.extensions["portal.db"].engine
    checkpoints = text("SELECT size, note FROM disclosure_log_checkpoints ORDER BY size")
    update = text("UPDATE disclosure_log_checkpoints SET note = :n WHERE size = :s")
    with engine.begin() as conn:
        rows = conn.execute(checkpoints).all()
        assert len(rows) >= 2
        (signed_size, signed_note), (root_size, root_note) = rows[0], rows[-1]
        body, _, signature = signed_note.partition("\n\n")
        name = signature.removeprefix("\u2014 ").split(" ")[0]
        conn.execute(update, {"n": f"{body}\n\n\u2014 {name} 签名\n", "s": signed_size})
        origin, size, root_hash, rest = root_note.split("\n", 3)
        forged_root = "根" + root_hash[1:]
        conn.execute(update, {"n": f"{origin}\n{size}\n{forged_root}\n{rest}", "s": root_size})
    bad = console_app.test_cli_runner().invoke(args=["log", "verify"])
    assert isinstance(bad.exception, SystemExit) and bad.exit_code == 1, bad.output
    assert "Traceback" not in bad.output
    assert f"  - checkpoint of size {signed_size}: malformed signature line\n" in bad.output
    assert f"  - checkpoint of size {root_size}: malformed checkpoint root hash\n" in bad.output
