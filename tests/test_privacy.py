"""The public app leaves no trace of its visitors: no address or user agent on disk or in logs."""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

MARKER_ADDRESS = "198.51.100.237"
MARKER_AGENT = "MarkerAgent/7.3 (trace-check)"
MARKER_FORWARDED = "203.0.113.199"


def _visit(client):
    headers = {"X-Forwarded-For": MARKER_FORWARDED, "User-Agent": MARKER_AGENT}
    environ = {"REMOTE_ADDR": MARKER_ADDRESS}
    for path in ("/", "/?lang=en", "/healthz", "/no-such-page", "/static/css/portal.css"):
        client.get(path, headers=headers, environ_base=environ).close()
    client.post("/", headers=headers, environ_base=environ).close()


def _assert_no_marker(blob: bytes, where: str) -> None:
    for marker in (MARKER_ADDRESS, MARKER_FORWARDED, MARKER_AGENT):
        assert marker.encode() not in blob, f"{marker} found in {where}"


def test_no_trace_in_database_files_or_logs(sqlite_instance, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    for proxies in ("", f"{MARKER_ADDRESS}/32"):  # directly, and through a trusted proxy
        app = sqlite_instance.app("public", TRUSTED_PROXIES=proxies)
        app.testing = False
        _visit(app.test_client())
    files = list(sqlite_instance.path.rglob("*"))
    assert any(f.name.endswith("-wal") for f in files), "the WAL file should exist to be scanned"
    for path in files:
        if path.is_file():
            _assert_no_marker(path.read_bytes(), str(path))
    captured = capsys.readouterr()
    _assert_no_marker((captured.out + captured.err).encode(), "stdout/stderr")
    _assert_no_marker(caplog.text.encode(), "application log")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.mark.slow
def test_portal_serve_access_log_has_no_client_address(tmp_path):
    public_port, console_port = _free_port(), _free_port()
    access_log = tmp_path / "public-access.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        PORTAL_PUBLIC_ACCESS_LOG=str(access_log),
        PORTAL_TRUSTED_PROXIES="127.0.0.1",
        PORTAL_WORKERS="1",
    )
    portal = Path(sys.executable).parent / "portal"
    subprocess.run([portal, "db", "upgrade"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [
            portal,
            "serve",
            "--public",
            f"127.0.0.1:{public_port}",
            "--console",
            f"127.0.0.1:{console_port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(f"http://127.0.0.1:{public_port}/healthz")
        _wait_for(f"http://127.0.0.1:{console_port}/healthz")
        for path in ("/", "/no-such-page", "/healthz"):
            request = urllib.request.Request(
                f"http://127.0.0.1:{public_port}{path}",
                headers={"X-Forwarded-For": MARKER_FORWARDED, "User-Agent": MARKER_AGENT},
            )
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except urllib.error.HTTPError as exc:
                exc.close()
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output.decode(errors="replace")
    log = access_log.read_bytes()
    assert b'"GET /no-such-page" 404' in log, log  # the log is written, without the visitor
    _assert_no_marker(log, "public access log")
    _assert_no_marker(output, "server output")
    for path in (tmp_path / "instance").rglob("*"):
        if path.is_file():
            _assert_no_marker(path.read_bytes(), str(path))


def test_rate_limit_keys_do_not_contain_the_address(public_app):
    from app.security.network import rate_limit_key

    with public_app.test_request_context("/", environ_base={"REMOTE_ADDR": MARKER_ADDRESS}):
        key = rate_limit_key()
    assert MARKER_ADDRESS not in key
    with public_app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.238"}):
        assert rate_limit_key() != key
