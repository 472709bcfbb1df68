"""The real nginx with the project's example (deploy/nginx.conf), run in a test's folder.

The example is used as it is written, but for what a test must change to run it without
privileges beside other tests: its addresses and ports, the upstreams, where logs, the pid
and the temporary folders go, and a throwaway certificate in place of the site's. Each change
must find its line, so that an example that changes shape fails here rather than being
tested half.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.environment import skip_or_fail
from tests.helpers.processes import ROOT

EXAMPLE = ROOT / "deploy" / "nginx.conf"
TWO_MACHINES = ROOT / "deploy" / "nginx-two-machines.conf"
# The machines' addresses in TWO_MACHINES, in order.
EXAMPLE_MACHINES = ("10.0.1.11", "10.0.1.12")
NGINX = "/usr/sbin/nginx"
TEMP_FOLDERS = ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp")


def nginx_or_skip() -> str:
    """nginx's path; skips (fails under CI=true) without it."""
    found = NGINX if os.access(NGINX, os.X_OK) else shutil.which("nginx")
    if not found:
        skip_or_fail("nginx is not installed (Debian package nginx or nginx-light)")
    return found


def self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` (an IP address) and its key, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "门户测试")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "portal.pem", folder / "portal.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def client_context(cert_file: Path) -> ssl.SSLContext:
    """TLS that trusts only the throwaway certificate."""
    return ssl.create_default_context(cafile=str(cert_file))


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"deploy/nginx.conf no longer holds {old!r}: adapt tests/helpers/nginx.py"
    return text.replace(old, new)


@dataclass(frozen=True)
class Ports:
    """Where nginx listens and where it finds the two apps."""

    host: str  # the public site and its redirect
    public: int
    redirect: int
    console_host: str
    console: int
    upstream_host: str
    upstream_public: int
    upstream_console_host: str
    upstream_console: int


def site_config(
    folder: Path,
    ports: Ports,
    cert_file: Path,
    key_file: Path,
    machines: list[tuple[int, int]] | None = None,
) -> str:
    """deploy/nginx.conf with the changes a test must make to run it (see the module); with
    ``machines`` (their public and console ports), deploy/nginx-two-machines.conf, whose
    upstreams are then the machines on ``ports``' upstream hosts."""
    text = (TWO_MACHINES if machines else EXAMPLE).read_text()
    logs = folder / "logs"
    text = _replace(text, "listen 443 ssl http2;", f"listen {ports.host}:{ports.public} ssl http2;")
    text = _replace(
        text,
        "listen 10.0.0.10:443 ssl http2;",
        f"listen {ports.console_host}:{ports.console} ssl http2;",
    )
    text = _replace(text, "listen 80;", f"listen {ports.host}:{ports.redirect};")
    if machines:
        # The console is reached by the tests' clients (127.0.0.1), not the offices' network.
        text = _replace(text, "allow 10.20.0.0/16;", "allow 127.0.0.1;")
        assert len(machines) == len(EXAMPLE_MACHINES)
        for address, (public, console) in zip(EXAMPLE_MACHINES, machines, strict=True):
            text = _replace(
                text, f"server {address}:8000 ", f"server {ports.upstream_host}:{public} "
            )
            text = _replace(
                text,
                f"server {address}:8001 ",
                f"server {ports.upstream_console_host}:{console} ",
            )
    else:
        text = _replace(
            text,
            "proxy_pass http://127.0.0.1:8000;",
            f"proxy_pass http://{ports.upstream_host}:{ports.upstream_public};",
        )
        text = _replace(
            text,
            "proxy_pass http://127.0.0.1:8001;",
            f"proxy_pass http://{ports.upstream_console_host}:{ports.upstream_console};",
        )
    for name in ("portal", "console"):
        text = _replace(text, f"/etc/ssl/certs/{name}.pem", str(cert_file))
        text = _replace(text, f"/etc/ssl/private/{name}.key", str(key_file))
    text = _replace(text, "/var/log/nginx/", f"{logs}/")
    return text


def main_config(folder: Path, site: Path) -> str:
    """What /etc/nginx/nginx.conf holds around a site, every path inside ``folder``."""
    # As root, nginx runs its workers as "nobody", who cannot enter a test's folder: a body
    # nginx wrote to a temporary file would then fail instead of showing up. Workers run as
    # the user running the test.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {name}_path {folder / name};" for name in TEMP_FOLDERS)
    return (
        f"{user}daemon off;\n"
        "worker_processes 1;\n"
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'logs' / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {folder / 'logs' / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )


@dataclass
class Nginx:
    """A running nginx (master and workers) in ``folder``."""

    process: subprocess.Popen
    folder: Path
    ports: Ports
    output_file: Path
    output: str = ""

    @classmethod
    def start(
        cls, folder: Path, ports: Ports, machines: list[tuple[int, int]] | None = None
    ) -> tuple[Nginx, ssl.SSLContext]:
        """nginx with the example in front of the apps of ``ports`` (or of ``machines``, see
        ``site_config``); and a client's TLS."""
        binary = nginx_or_skip()
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        cert_file, key_file = self_signed(folder, ports.host)
        site = folder / "portal.conf"
        site.write_text(site_config(folder, ports, cert_file, key_file, machines))
        main = folder / "nginx.conf"
        main.write_text(main_config(folder, site))
        argv = [binary, "-p", f"{folder}/", "-c", str(main), "-e", str(folder / "logs/error.log")]
        checked = subprocess.run([*argv, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        output_file = folder / "nginx.out"
        with output_file.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        nginx = cls(process, folder, ports, output_file)
        try:
            nginx.wait_until_up()
        except BaseException:
            nginx.stop()
            raise
        return nginx, client_context(cert_file)

    def wait_until_up(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx stopped: {self.logs()}")
            try:
                socket.create_connection((self.ports.host, self.ports.public), timeout=1).close()
                if self.workers():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"nginx did not come up: {self.logs()}")
            time.sleep(0.05)

    def logs(self) -> str:
        texts = [self.output_file.read_text(errors="replace")]
        texts += [p.read_text(errors="replace") for p in sorted((self.folder / "logs").glob("*"))]
        return "\n".join(texts)

    def workers(self) -> list[int]:
        """The processes nginx's master started."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def temp_files(
        self, folder: str = "client_body_temp", pids: list[int] | None = None
    ) -> list[str]:
        """Files in one of nginx's temporary folders, and files of it that nginx (``pids``, or
        its master and workers) holds open.

        nginx unlinks a temporary file as soon as it has made it and keeps writing to it: the
        folder looks empty while a body is being written. Its worker's descriptors tell."""
        root = self.folder / folder
        found = [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []
        for pid in pids if pids is not None else [self.process.pid, *self.workers()]:
            try:
                descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
            except OSError:
                continue
            for descriptor in descriptors:
                try:
                    target = os.readlink(descriptor)
                except OSError:
                    continue
                if target.startswith(f"{root}/"):
                    found.append(f"{pid}: {target}")
        return found

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then leave
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)
        self.output = self.logs()
        return self.process.returncode


@dataclass
class TempWatch:
    """Polls nginx's client_body_temp folder for files (see ``Nginx.temp_files``) until stopped."""

    nginx: Nginx
    every: float = 0.02
    seen: list[str] = field(default_factory=list)
    polls: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def __enter__(self) -> TempWatch:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=10)

    def _run(self) -> None:
        pids: list[int] = []
        while not self.stop.is_set():
            # Looked up again only when one has gone: a scan of /proc at each poll would take
            # the time of the servers under test.
            if not pids or not all(Path(f"/proc/{pid}").exists() for pid in pids):
                pids = [self.nginx.process.pid, *self.nginx.workers()]
            for found in self.nginx.temp_files(pids=pids):
                if found not in self.seen:
                    self.seen.append(found)
            self.polls += 1
            self.stop.wait(self.every)


def forwarded_for_lines() -> list[str]:
    """Every X-Forwarded-For the example sets, as written."""
    return re.findall(r"proxy_set_header\s+X-Forwarded-For\s+([^;]+);", EXAMPLE.read_text())


def locations() -> dict[str, str]:
    """Each ``location`` block of the example, by the server's port and the location's path."""
    text = EXAMPLE.read_text()
    found = {}
    for server in re.split(r"\nserver \{", text)[1:]:
        listen = re.search(r"listen\s+([^;]+);", server).group(1).split()[0]
        for path, body in re.findall(r"location\s+(\S+)\s*\{(.*?)\n    \}", server, re.S):
            found[f"{listen} {path}"] = body
    return found
