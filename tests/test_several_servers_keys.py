"""A second machine started without the first one's log keys refuses to serve, saying which.

Each machine signs the disclosure log and the audit trail with the key files in its own
instance folder, made on first use. Without this check a second machine would make keys of
its own and sign checkpoints that no reader holding the log's published key can check.
"""

from __future__ import annotations

import shutil
import signal
import subprocess

import pytest

from tests.helpers.servers import (
    PORTAL,
    SERVER_HOST,
    Server,
    free_port,
    make_demo_instance,
    portal_env,
)

pytestmark = pytest.mark.slow


def test_a_machine_without_the_installation_s_log_keys_refuses_to_serve(tmp_path, monkeypatch):
    first = tmp_path / "machine-a"
    make_demo_instance(first, monkeypatch)  # the demo's disclosures: a signed checkpoint
    monkeypatch.delenv("PORTAL_INSTANCE_PATH")
    second = tmp_path / "machine-b"
    shared = {
        "PORTAL_DATABASE_URL": f"sqlite:///{first / 'portal.sqlite3'}",
        "PORTAL_PUBLIC_SECRET_KEY": (first / "secrets" / "public.key").read_text(),
        "PORTAL_CONSOLE_SECRET_KEY": (first / "secrets" / "console.key").read_text(),
        "PORTAL_RECEIPT_PEPPER": (first / "secrets" / "receipt.pepper").read_text(),
    }
    env = portal_env(second, **shared)
    argv = [PORTAL, "serve", "--public", f"{SERVER_HOST}:{free_port()}"]
    argv += ["--console", f"{SERVER_HOST}:{free_port()}"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # it started serving: stop it and its servers
        process.communicate(timeout=30)
        raise AssertionError("a machine with keys of its own started serving") from None
    err = err.decode()
    assert process.returncode == 2, out.decode() + err
    key_file = second / "keys" / "disclosure-log.key"
    assert f"PORTAL_LOG_KEY_FILE: {key_file} did not sign the checkpoints" in err
    assert "copy the key file of the machine that signed them" in err
    assert "Traceback" not in err

    # With the first machine's keys copied over the ones it made, it serves the same log
    # and its public key (not the one it made).
    for name in ("disclosure-log.key", "audit-log.key"):
        shutil.copy2(first / "keys" / name, second / "keys" / name)
    server = Server.start("serve", env, tmp_path / "serve-b.log")
    try:
        status, key, _headers = server.get("/log/key")
        assert status == 200
        vkey = (first / "keys" / "disclosure-log.vkey").read_text().strip()
        assert vkey.encode() in key
    finally:
        assert server.stop() == 0, server.output
