"""The public app leaves no trace of its visitors: no address or user agent on disk or in logs."""

import http.client
import logging
import re
import sys
import time
from pathlib import Path

import pytest
from flask import request

from tests.helpers.servers import (
    CLIENT_ADDRESS,
    CONSOLE_HOST,
    SERVER_HOST,
    Server,
    free_port,
    portal,
    portal_env,
)

DEPLOY_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "gunicorn.conf.py"

MARKER_ADDRESS = "198.51.100.237"
MARKER_AGENT = "MarkerAgent/7.3 (trace-check)"
MARKER_FORWARDED = "203.0.113.199"


def _visit(client):
    headers = {"X-Forwarded-For": MARKER_FORWARDED, "User-Agent": MARKER_AGENT}
    environ = {"REMOTE_ADDR": MARKER_ADDRESS}
    for path in ("/", "/?lang=en", "/healthz", "/no-such-page", "/static/css/portal.css"):
        client.get(path, headers=headers, environ_base=environ).close()
    client.post("/", headers=headers, environ_base=environ).close()


def _assert_no_marker(blob: bytes, where: str, *also: str) -> None:
    for marker in (MARKER_ADDRESS, MARKER_FORWARDED, MARKER_AGENT, *also):
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


def test_rate_limit_keys_do_not_contain_the_address(public_app):
    from app.security.network import rate_limit_key

    with public_app.test_request_context("/", environ_base={"REMOTE_ADDR": MARKER_ADDRESS}):
        key = rate_limit_key()
    assert MARKER_ADDRESS not in key
    with public_app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.238"}):
        assert rate_limit_key() != key


# --- logs of the public site: no request line, query, address or time of day ---------------

MARKER_PATH = "MarkerPathzq"
MARKER_QUERY = "MarkerQueryzq"
MARKER_MESSAGE = "MarkerMessagezq"
# A time of day as loggers write it ("12:34", "12:34:56,789"); the server's own ports
# ("127.0.0.2:18123") do not match.
TIME_OF_DAY = re.compile(r"\b\d{2}:\d{2}\b")


def _assert_no_visit_in_log(text: str, where: str, client: str = CLIENT_ADDRESS) -> None:
    for marker in (MARKER_PATH, MARKER_QUERY, MARKER_MESSAGE, client):
        assert marker not in text, f"{marker} found in {where}:\n{text}"
    found = TIME_OF_DAY.search(text)
    assert found is None, f"a time of day in {where}: {found.group()}\n{text}"


def _failing_app(instance):
    app = instance.app("public")
    app.testing = False  # errors are handled and logged as in production

    def fails() -> str:
        raise ValueError(f"invalid literal: {request.args.get('q')} {MARKER_MESSAGE}")

    app.add_url_rule(f"/{MARKER_PATH}", "fails", fails)
    return app


def test_an_error_of_the_public_app_is_logged_without_the_request(sqlite_instance, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    app = _failing_app(sqlite_instance)
    response = app.test_client().get(
        f"/{MARKER_PATH}?q={MARKER_QUERY}", environ_base={"REMOTE_ADDR": CLIENT_ADDRESS}
    )
    assert response.status_code == 500
    assert MARKER_QUERY not in response.get_data(as_text=True)
    log = capsys.readouterr().err
    _assert_no_visit_in_log(caplog.text, "the records of the public app's log")
    _assert_no_visit_in_log(log, "the public app's log")
    # What failed where, dated by the day.
    assert re.search(r"^\[\d{4}-\d{2}-\d{2}\] \[\d+\] \[ERROR\] portal.public: ", log, re.M), log
    assert "Exception in endpoint fails [GET]" in log, log
    assert "Traceback (most recent call last)" in log and "in fails" in log
    assert "builtins.ValueError (message withheld)" in log


def test_an_error_of_the_console_is_logged_in_full(sqlite_instance, caplog):
    app = sqlite_instance.app("console")
    app.testing = False

    def fails() -> str:
        raise ValueError(MARKER_MESSAGE)

    app.add_url_rule(f"/{MARKER_PATH}", "fails", fails)
    app.test_client().get(f"/{MARKER_PATH}?q={MARKER_QUERY}")
    assert f"Exception on /{MARKER_PATH} [GET]" in caplog.text  # Flask's own log
    assert MARKER_MESSAGE in caplog.text


# Requests a server refuses before the app sees them: what they quote must not be logged.
MALFORMED_REQUESTS = [
    # Too many words on the request line.
    f"GET /{MARKER_PATH}?q={MARKER_QUERY} HTTP/1.1 HTTP/1.1\r\nHost: x\r\n\r\n",
    # A bad protocol version.
    f"GET /{MARKER_PATH}?q={MARKER_QUERY} HTTP/1.1{MARKER_MESSAGE}\r\n\r\n",
    # A header name with a space.
    f"GET /{MARKER_PATH}?q={MARKER_QUERY} HTTP/1.1\r\nBad {MARKER_MESSAGE}: x\r\n\r\n",
    # A request line longer than gunicorn takes.
    f"GET /{MARKER_PATH}?q={MARKER_QUERY}{'x' * 9000} HTTP/1.1\r\n\r\n",
]


def _visit_with_markers(server: Server) -> None:
    assert server.get(f"/search?q={MARKER_QUERY}")[0] == 200
    assert server.get(f"/{MARKER_PATH}?q={MARKER_QUERY}")[0] == 404
    assert server.get(f"/disclosures/{MARKER_PATH}?page={MARKER_QUERY}")[0] == 404
    for raw in MALFORMED_REQUESTS:
        answer = server.send_raw(raw.encode())
        assert answer and b" 200 OK" not in answer[:20], answer[:200]


def _assert_no_visit_in_files(instance: Path) -> None:
    for path in instance.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for marker in (MARKER_PATH, MARKER_QUERY, MARKER_MESSAGE, CLIENT_ADDRESS):
                assert marker.encode() not in data, f"{marker} found in {path}"


@pytest.mark.slow
@pytest.mark.xdist_group("portal_run")
def test_portal_run_logs_no_request_line_query_address_or_time(demo_portal_run):
    server = demo_portal_run
    _visit_with_markers(server)
    server.get("/healthz")  # the requests before it are answered, and logged if at all
    output = server.output_so_far()
    # The server says where it listens; nothing it writes names a visit.
    assert f"http://{SERVER_HOST}:{server.public_port}/" in output
    _assert_no_visit_in_log(output, "the output of portal run")
    _assert_no_visit_in_files(server.instance)


def _console_pids(server: Server) -> set[int]:
    """The console's gunicorn and its workers, whose lines keep times and addresses."""
    pids: set[int] = set()
    for child in _children(server.process.pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"create_app('console')" in cmdline:
            pids |= {child, *_children(child)}
    assert pids, "the console's gunicorn should be running"
    return pids


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


@pytest.fixture(scope="session")
def portal_serve(tmp_path_factory):
    """``portal serve`` with an access log, behind a trusted proxy (the test client)."""
    folder = tmp_path_factory.mktemp("portal-serve")
    env = portal_env(
        folder / "instance",
        PORTAL_WORKERS="1",
        PORTAL_PUBLIC_ACCESS_LOG=str(folder / "public-access.log"),
        PORTAL_CONSOLE_ACCESS_LOG=str(folder / "console-access.log"),
        PORTAL_TRUSTED_PROXIES=CLIENT_ADDRESS,
    )
    assert portal(env, "db", "upgrade").returncode == 0
    server = Server.start("serve", env, folder / "serve.log")
    server.instance = folder / "instance"
    yield server
    assert server.stop() == 0, server.output
    # Up to its last line, nothing the server wrote names a visitor.
    _assert_no_marker(server.output.encode(), "server output")
    access_log = (folder / "public-access.log").read_bytes()
    _assert_no_marker(access_log, "public access log", CLIENT_ADDRESS)
    _assert_no_visit_in_files(server.instance)


@pytest.mark.slow
@pytest.mark.xdist_group("portal_serve")
def test_portal_serve_access_log_has_no_client_address(portal_serve):
    headers = {"X-Forwarded-For": MARKER_FORWARDED, "User-Agent": MARKER_AGENT}
    for path in ("/", "/no-such-page", "/healthz"):
        portal_serve.get(path, headers=headers)
    access_log = portal_serve.instance.parent / "public-access.log"
    deadline = time.monotonic() + 10
    while b'"GET /no-such-page" 404' not in access_log.read_bytes():
        assert time.monotonic() < deadline, access_log.read_bytes()  # written, without the visitor
        time.sleep(0.05)
    # Neither the forwarded address nor the peer's (the proxy's, here the test client's).
    _assert_no_marker(access_log.read_bytes(), "public access log", CLIENT_ADDRESS)
    _assert_no_marker(portal_serve.output_so_far().encode(), "server output")
    for path in portal_serve.instance.rglob("*"):
        if path.is_file():
            _assert_no_marker(path.read_bytes(), str(path))


@pytest.mark.slow
@pytest.mark.xdist_group("portal_serve")
def test_portal_serve_access_log_lines_cannot_be_forged_or_name_a_report_file(portal_serve):
    forged = "/x%0D%0A%22GET%20/FORGEDLINE%22%20200%2012345%00%C2%85%E2%80%A8%E2%80%AE%5Cx0a"
    for path in (
        forged,
        "/disclosures/%E6%8B%9B%E6%A0%87",
        "/y%FF%5Cxff%D8%9C%C2%AD%E1%85%9F",  # a byte not UTF-8, "\xff" typed, invisible ones
        "//report//follow-up/files/RFILE41",
        "/report/follow-up/files/RFILE42",
    ):
        portal_serve.get(path)
    access_log = portal_serve.instance.parent / "public-access.log"
    expected = (
        '"GET /x\\x0d\\x0a\\"GET /FORGEDLINE\\" 200 12345\\x00\\x85\\u2028\\u202e\\\\x0a" 400 '
    )
    # A Chinese path as it was written; a report's file without its id, however written.
    wanted = [
        expected,
        '"GET /y\\xff\\\\xff\\u061c\\xad\\u115f" 404',
        '"GET /disclosures/招标" 404',
    ]
    # Each thread writes its line once its answer has gone: lines may come in any order.
    deadline = time.monotonic() + 10
    while True:
        lines = access_log.read_text(encoding="utf-8").split("\n")
        found = [any(line.startswith(w) for line in lines) for w in wanted]
        files = sum("/report/follow-up/files/<id>" in line for line in lines)
        if all(found) and files >= 2:
            break
        assert time.monotonic() < deadline, (found, files, lines)
        time.sleep(0.05)
    # One request, one line: CR, LF, NUL, NEL, line separator and bidi override as escapes,
    # and a backslash written as such doubled.
    assert not any(line.startswith(('"GET /FORGEDLINE', '\\"GET /FORGEDLINE')) for line in lines)
    assert "RFILE4" not in access_log.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.xdist_group("portal_serve")
def test_portal_serve_console_access_log_keeps_each_request_on_one_line(portal_serve):
    connection = http.client.HTTPConnection(CONSOLE_HOST, portal_serve.console_port, timeout=10)
    try:
        connection.putrequest("GET", "/login")
        # NEL, an 8-bit terminal control, a line separator and a bidi override, as UTF-8.
        connection.putheader("User-Agent", "代理\u0085\u009b2J\u2028\u202e".encode())
        connection.endheaders()
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    access_log = portal_serve.instance.parent / "console-access.log"
    deadline = time.monotonic() + 10
    while b"GET /login" not in access_log.read_bytes():
        assert time.monotonic() < deadline, access_log.read_bytes()
        time.sleep(0.05)
    logged = access_log.read_text(encoding="utf-8")
    assert len(logged.splitlines()) == logged.count("\n") == 1, logged
    assert "代理\\x85\\x9b2J\\u2028\\u202e" in logged, logged


@pytest.mark.slow
@pytest.mark.xdist_group("portal_serve")
def test_portal_serve_logs_no_request_line_query_address_or_time(portal_serve):
    console = _console_pids(portal_serve)
    _visit_with_markers(portal_serve)
    output = portal_serve.output_so_far(until="Invalid request refused: InvalidHeaderName")
    tags = tuple(f"[{pid}]" for pid in console)
    public_output = "\n".join(
        line for line in output.splitlines() if not any(tag in line for tag in tags)
    )
    _assert_no_visit_in_log(public_output, "the output of the public gunicorn")
    assert "Booting worker" in public_output, output  # the public gunicorn's own lines
    assert "Invalid request refused: InvalidHeaderName" in public_output, output
    _assert_no_visit_in_files(portal_serve.instance)


@pytest.mark.slow
def test_gunicorn_with_the_deploy_configuration_logs_no_request_line_query_address_or_time(
    tmp_path,
):
    port = free_port()
    env = portal_env(
        tmp_path / "instance", PORTAL_WORKERS="1", PORTAL_PUBLIC_BIND=f"{SERVER_HOST}:{port}"
    )
    assert portal(env, "db", "upgrade").returncode == 0
    argv = [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY_CONFIG), "app:create_app('public')"]
    server = Server.launch(argv, env, tmp_path / "gunicorn.log", port)
    try:
        _visit_with_markers(server)
    finally:
        assert server.stop() == 0, server.output
    _assert_no_visit_in_log(server.output, "the output of gunicorn -c deploy/gunicorn.conf.py")
    assert "Invalid request refused: InvalidHeaderName" in server.output, server.output


def test_the_sqlite_files_are_for_their_owner_only(sqlite_instance):
    import stat

    app = sqlite_instance.app("public")
    with app.extensions["portal.db"].engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        conn.commit()
        files = [p for p in sqlite_instance.path.iterdir() if p.name.startswith("portal.sqlite3")]
        assert any(p.name.endswith("-wal") for p in files)
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
