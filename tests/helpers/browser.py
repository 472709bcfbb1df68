"""For the end-to-end tests: Debian's Chromium and its flags, the apps served on local ports."""

from __future__ import annotations

import threading
from pathlib import Path

from app.devserver import development_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveServer:
    """An app served by the development server on a thread of the test's process."""

    def __init__(self, app, port: int) -> None:
        self.server = development_server("127.0.0.1", port, app)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
