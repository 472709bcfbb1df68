"""A gunicorn worker killed outright leaves none of its processes behind.

Each worker of ``portal serve`` derives receipt codes in processes of its own. Killed (SIGKILL,
as gunicorn does to a worker past its timeout, or the kernel out of memory), it used to leave
them and their resource tracker running, some 44 MB each, piling up with every attack.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.helpers.processes import process_group, survivors
from tests.helpers.report_client import Browser
from tests.helpers.servers import (
    CLIENT_ADDRESS,
    SERVER_HOST,
    Server,
    make_demo_instance,
    portal_env,
)
from tests.test_cleaning_served import NO_LIMITS, _ports

# One at a time: they may be given the same ports (PORTAL_TEST_SERVER_PORTS).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("given_server_ports")]


def test_a_worker_killed_outright_leaves_no_derivation_process(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    make_demo_instance(instance, monkeypatch)
    server = Server.start(
        "serve",
        portal_env(instance, **NO_LIMITS),
        tmp_path / "serve.log",
        preexec_fn=os.setsid,
        ports=_ports(),
    )
    try:
        browser = Browser(SERVER_HOST, server.public_port, CLIENT_ADDRESS, timeout=60)
        assert len(browser.send_report("工作进程被杀之前的举报")) == 20
        group = process_group(server.process.pid)
        pool = {
            pid: process["parent"]
            for pid, process in group.items()
            if "multiprocessing" in process["command"]  # pool processes and resource tracker
        }
        workers = set(pool.values())
        assert pool and len(workers) == 1, group
        (worker,) = workers
        os.kill(worker, signal.SIGKILL)
        assert survivors(list(pool)) == []
        # The master starts a new worker, which takes reports again.
        assert len(browser.send_report("新工作进程收到的举报")) == 20
    finally:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=30)
