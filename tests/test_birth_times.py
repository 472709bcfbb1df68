"""Birth times (statx) that no call can change: what a report would leave in them is made
before any report comes, when the server starts."""

from __future__ import annotations

import io
from pathlib import Path

from app.services.blobs import FilesystemBlobStore


def _folders(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir()}


def test_every_folder_a_blob_can_go_to_is_made_before_any_report(tmp_path):
    store = FilesystemBlobStore(tmp_path / "blobs")
    store.prepare()
    made = _folders(store.root)
    assert made == {f"{n:02x}" for n in range(256)}
    # An upload, kept or refused, makes no folder: its birth time would be the report's.
    kept = store.put(io.BytesIO("举报附件：报销单据。".encode()), 10**6)
    writer = store.create(10)
    writer.abort()
    store.delete(kept.key)
    assert _folders(store.root) == made
    store.prepare()  # again at the next start: nothing changes
    assert _folders(store.root) == made


def test_the_public_app_prepares_its_blob_folders_and_opens_sqlite_at_start(
    demo_sqlite, sqlite_instance
):
    app = sqlite_instance.app("public")
    root = Path(app.config["BLOB_PATH"])
    assert _folders(root) == {f"{n:02x}" for n in range(256)}
    # The write-ahead log's files exist before the first request.
    database = Path(app.extensions["portal.db"].engine.url.database)
    assert database.with_name(database.name + "-wal").exists()
    assert database.with_name(database.name + "-shm").exists()
