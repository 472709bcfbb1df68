"""A reporter's browser over HTTP (or HTTPS), for tests and benchmarks that drive a real server.

It keeps its cookies (the CSRF session, the receipt hand-over, the follow-up session), sends
the report form as a browser without script does (multipart, no proof of work, UTF-8 file
names), follows the redirect to the receipt page and reads the code off it.
"""

from __future__ import annotations

import http.client
import re
import secrets
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode, urlsplit

RECEIPT_RE = re.compile(r'<p class="receipt-code"[^>]*>((?:<span>\d{4}</span>){5})</p>')
CSRF_RE = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
PASS_RE = re.compile(r'name="noscript_pass" value="([^"]*)"')
# What a report form sends besides its text (a staff member of a workshop of MCH: the
# report goes to MCH's discipline office).
REPORT_FIELDS = {
    "kind": "misconduct",
    "category": "procurement_bidding",
    "unit": "MCH-W1",
    "level": "staff",
    "send": "1",
}


class ReportRefused(Exception):
    """The server answered the report with something other than a receipt."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Attachment:
    """A file part: its name as the browser sends it, and its bytes (or a stream of chunks)."""

    name: str
    data: bytes | None = None
    chunks: Iterable[bytes] | None = None
    size: int = 0
    content_type: str = "application/octet-stream"

    @property
    def length(self) -> int:
        return len(self.data) if self.data is not None else self.size


@dataclass
class Multipart:
    """A multipart/form-data body, sent from an iterator so a large file is never in memory."""

    fields: dict[str, str]
    files: list[Attachment]
    boundary: str = field(default_factory=lambda: "----portal" + secrets.token_hex(12))

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field_head(self, name: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        ).encode()

    def _file_head(self, attachment: Attachment) -> bytes:
        # Browsers send the file name as raw UTF-8, quotes escaped as %22.
        name = attachment.name.replace('"', "%22")
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="attachments"; filename="{name}"\r\n'
            f"Content-Type: {attachment.content_type}\r\n\r\n"
        ).encode()

    def _parts(self) -> list[bytes | Attachment]:
        parts: list[bytes | Attachment] = []
        for name, value in self.fields.items():
            parts += [self._field_head(name) + value.encode() + b"\r\n"]
        for attachment in self.files:
            parts += [self._file_head(attachment), attachment, b"\r\n"]
        parts.append(f"--{self.boundary}--\r\n".encode())
        return parts

    def head(self) -> bytes:
        """The body up to the first file's content: what a stalled upload has sent."""
        head = b""
        for part in self._parts():
            if isinstance(part, Attachment):
                return head
            head += part
        return head

    def __len__(self) -> int:
        return sum(p.length if isinstance(p, Attachment) else len(p) for p in self._parts())

    def __iter__(self) -> Iterator[bytes]:
        for part in self._parts():
            if not isinstance(part, Attachment):
                yield part
            elif part.data is not None:
                yield part.data
            else:
                yield from part.chunks or ()


class Browser:
    """One reporter: a cookie jar and new connections to one server (as a browser may do)."""

    def __init__(
        self,
        host: str,
        port: int,
        source: str | None = None,
        timeout: float = 60.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.source = source
        self.timeout = timeout
        self.tls = tls  # HTTPS with this context (a proxy in front of the server)
        self.cookies: dict[str, str] = {}
        self.noscript_pass = ""  # of the last form fetched: what a browser without script sends

    def _connection(self) -> http.client.HTTPConnection:
        source = (self.source, 0) if self.source else None
        if self.tls is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, source_address=source, context=self.tls
            )
        return http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout, source_address=source
        )

    def _remember(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            pair, _, attributes = header.partition(";")
            name, _, value = pair.strip().partition("=")
            gone = re.search(r"max-age=0\b", attributes, re.I)
            expires = re.search(r"expires=([^;]+)", attributes, re.I)
            if expires and parsedate_to_datetime(expires.group(1)).year < 2000:
                gone = True
            if gone:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        """(status, body, headers); a redirect to a page of the same site is followed with GET."""
        for _hop in range(5):
            headers = dict(headers or {})
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if isinstance(body, Multipart):
                headers["Content-Type"] = body.content_type
                headers["Content-Length"] = str(len(body))
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            finally:
                conn.close()
            self._remember(response)
            if response.status not in (301, 302, 303) or not response.headers.get("Location"):
                return response.status, data, response.headers
            method, body, headers = "GET", None, None
            path = urlsplit(response.headers["Location"]).path
        raise AssertionError(f"too many redirects from {path}")

    def csrf_token(self, path: str) -> str:
        status, page, _headers = self.request("GET", path)
        found = CSRF_RE.search(page.decode())
        if status != 200 or not found:
            raise ReportRefused(status, page)
        passed = PASS_RE.search(page.decode())
        self.noscript_pass = passed.group(1) if passed else ""
        return found.group(1)

    def send_report(
        self, what: str, files: Iterable[Attachment] = (), token: str = "", **fields: str
    ) -> str:
        """Send a report (no proof of work: a browser without script); its 20-digit code.

        ``token`` is the form's CSRF token when the form was fetched already (its pass was
        kept then). A server that takes such a form at once has
        ``PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES=0``.
        """
        token = token or self.csrf_token("/report/new")
        form = {"csrf_token": token, "noscript_pass": self.noscript_pass, **REPORT_FIELDS}
        form.update(what=what, **fields)
        status, page, _headers = self.request("POST", "/report/new", Multipart(form, list(files)))
        found = RECEIPT_RE.search(page.decode(errors="replace"))
        if status != 200 or not found:
            raise ReportRefused(status, page)
        return "".join(re.findall(r"\d{4}", found.group(1)))

    def follow_up(self, code: str) -> str:
        """Enter ``code`` on the follow-up page; the page shown next (the thread, if it opens)."""
        token = self.csrf_token("/report/follow-up")
        body = urlencode({"csrf_token": token, "code": code}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, page, _headers = self.request("POST", "/report/follow-up", body, headers)
        if status != 200:
            raise ReportRefused(status, page)
        return page.decode()

    @property
    def following_up(self) -> bool:
        return "portal_followup" in self.cookies
