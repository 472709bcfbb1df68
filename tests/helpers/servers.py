"""Real servers for tests: ``portal run`` and ``portal serve`` as subprocesses on free ports."""

from __future__ import annotations

import http.client
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PORTAL = Path(sys.executable).parent / "portal"
# Loopback addresses of their own: the servers bind to SERVER_HOST and every test request
# comes from CLIENT_ADDRESS, so the client's address is told apart from the server's own.
SERVER_HOST = "127.0.0.2"
CONSOLE_HOST = "127.0.0.3"
CLIENT_ADDRESS = "127.0.0.1"


def free_port(host: str = SERVER_HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def given_ports(variable: str, count: int) -> list[int] | None:
    """Ports handed out to the tests in ``variable`` ("8000,8001"), else None (free ones).

    Tests that take them share an xdist group ("given_server_ports"): one at a time."""
    given = os.environ.get(variable)
    if not given:
        return None
    ports = [int(port) for port in given.split(",")]
    assert len(ports) == count, f"{variable}: {count} ports, comma-separated"
    return ports


def portal_env(instance: Path, **settings: str) -> dict[str, str]:
    """The environment of a portal command: no developer's PORTAL_* settings, our instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_INSTANCE_PATH"] = str(instance)
    env.update(settings)
    return env


def portal(env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run([PORTAL, *args], env=env, **kwargs)


def open_file_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


@dataclass
class Server:
    """A running ``portal run`` or ``portal serve``, its output collected in a file."""

    process: subprocess.Popen
    public_port: int
    console_port: int | None
    output_file: Path
    output: str = field(default="")
    instance: Path | None = None

    @classmethod
    def start(
        cls,
        command: str,
        env: dict[str, str],
        output_file: Path,
        *args: str,
        preexec_fn: Callable[[], None] | None = None,
        ports: tuple[int, int] | None = None,
    ) -> Server:
        """``portal COMMAND`` serving both apps, the public one on SERVER_HOST; on ``ports``
        (public, console) if given, else on free ones."""
        public_port, console_port = ports or (free_port(SERVER_HOST), free_port(CONSOLE_HOST))
        argv = [
            PORTAL,
            command,
            "--public",
            f"{SERVER_HOST}:{public_port}",
            "--console",
            f"{CONSOLE_HOST}:{console_port}",
            *args,
        ]
        return cls.launch(argv, env, output_file, public_port, console_port, preexec_fn)

    @classmethod
    def launch(
        cls,
        argv: list,
        env: dict[str, str],
        output_file: Path,
        public_port: int,
        console_port: int | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> Server:
        """Any server command; it serves the public app on SERVER_HOST:public_port."""
        with output_file.open("wb") as out:
            process = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec_fn
            )
        server = cls(process, public_port, console_port, output_file)
        try:
            server.wait_until_up()
        except BaseException:
            server.stop()
            raise
        return server

    def wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = [(SERVER_HOST, self.public_port)]
        if self.console_port is not None:
            pending.append((CONSOLE_HOST, self.console_port))
        while pending:
            if self.process.poll() is not None:
                raise AssertionError(f"the server stopped: {self.output_file.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not come up: {self.output_file.read_text()}")
            # A bare connection, not a request: the console would log a request.
            try:
                socket.create_connection(pending[0], timeout=1).close()
            except OSError:
                time.sleep(0.1)
                continue
            pending.pop(0)
        # The public app answers (gunicorn listens before its workers are ready).
        while True:
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no health check: {self.output_file.read_text()}")
            time.sleep(0.1)

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(
            SERVER_HOST, self.public_port, timeout=timeout, source_address=(CLIENT_ADDRESS, 0)
        )

    def get(self, path: str, headers: dict | None = None, timeout: float = 10.0):
        """(status, body, response headers) of a GET on a new connection."""
        return self.request("GET", path, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 10.0):
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read(), response.headers
        finally:
            conn.close()

    def send_raw(self, data: bytes, timeout: float = 5.0) -> bytes:
        """Send bytes as they are (a malformed request) and read the answer."""
        with socket.create_connection(
            (SERVER_HOST, self.public_port), timeout=timeout, source_address=(CLIENT_ADDRESS, 0)
        ) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer

    def output_so_far(self, until: str = "", timeout: float = 10.0) -> str:
        """What the server has written while running, once it holds ``until``."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.output_file.read_text(errors="replace")
            if until in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output = self.output_file.read_text(errors="replace")
        return self.process.returncode


def first_disclosure_path(server: Server) -> str:
    status, body, _headers = server.get("/disclosures/")
    assert status == 200, body[:500]
    found = re.search(rb'href="(/disclosures/\d+)"', body)
    assert found, "the demo instance should list a disclosure"
    return found.group(1).decode()


def make_demo_instance(instance: Path, monkeypatch) -> None:
    """``portal demo`` on a new instance, its staff keys sealed at the tests' cost: a server
    under test derives receipts at production cost, and sealing is not what it tests."""
    from app import create_app
    from tests.helpers.weak_kdf import TEST_SEAL_PARAMS

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance))
    app = create_app("console", {"SEAL_PARAMS": TEST_SEAL_PARAMS})
    made = app.test_cli_runner().invoke(args=["demo"])
    app.extensions["portal.db"].engine.dispose()
    assert made.exit_code == 0, made.output
