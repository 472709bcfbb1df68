"""The blob store's files and folders say the day they were written, never the time."""

from __future__ import annotations

import io
import os
import time

from app.services.blobs import FilesystemBlobStore


def _midnight() -> int:
    return int(time.time()) // 86400 * 86400


def test_blobs_and_every_folder_they_touch_are_dated_by_the_day(tmp_path):
    root = tmp_path / "blobs"
    root.mkdir()
    store = FilesystemBlobStore(root)
    kept = store.put(io.BytesIO("举报附件".encode() * 1000), 10**6)
    path = root / kept.key[:2] / kept.key
    for item in (path, path.parent, root):  # the file, its new folder, the folder above
        assert os.stat(item).st_mtime == _midnight(), item
    dropped = store.create(10**6)
    dropped.write(b"x" * 10)
    dropped.abort()
    store.delete(kept.key)
    for folder in (root, *root.iterdir()):
        assert os.stat(folder).st_mtime == _midnight(), folder
