"""Reports sent through the public app's test client: a valid form, a multipart POST."""

from __future__ import annotations

import re
from pathlib import Path

from werkzeug.test import EnvironBuilder

from tests.helpers.forms import csrf_token

CANARY = "举报正文金丝雀-a81f"
FILE_CANARY = b"FILE-CANARY-0b9e7d"


def noscript_pass(html: str) -> str:
    """The pass of the form in ``html`` (what a browser without script sends instead of work)."""
    found = re.search(r'name="noscript_pass" value="([^"]*)"', html)
    assert found, "no pass in the page"
    return found.group(1)


def report_form_data(client, **extra) -> dict:
    """The fields of a valid report, as a browser without script sends them (the form's own
    CSRF token and pass), with ``extra`` on top."""
    page = client.get("/report/new").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "noscript_pass": noscript_pass(page),
        "kind": "misconduct",
        "category": "misuse_of_funds",
        "unit": "CHM-W1",
        "level": "middle_manager",
        "persons": "车间主任 李某",
        "what": f"挪用班组活动经费。{CANARY}",
        "send": "1",
    }
    data.update(extra)
    return data


def post_report(client, data: dict, follow: bool = True, path: str = "/report/new", **kwargs):
    """A multipart POST whose body (spooled to a temporary file when large) is closed after."""
    headers = kwargs.pop("headers", None)
    environ_base = {**client.environ_base, **kwargs.pop("environ_base", {})}
    builder = EnvironBuilder(
        path=path,
        method="POST",
        data=data,
        content_type="multipart/form-data",
        headers=headers,
        environ_base=environ_base,
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    try:
        return client.open(environ, follow_redirects=follow)
    finally:
        environ["wsgi.input"].close()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def blob_files(app) -> list[Path]:
    return files_under(Path(app.config["BLOB_PATH"]))
