"""The public site's server logs: messages about a request keep only the kind of fault."""

import http.client
import logging
import re
import threading
import time
from datetime import timedelta

import pytest
from gunicorn.config import Config
from gunicorn.http.errors import InvalidHeader, NoMoreData
from werkzeug.serving import make_server

from app.logging_setup import (
    PublicServerLog,
    ServerLog,
    public_request_handler,
    quiet_development_server,
    traceback_without_messages,
)

MARKER = "MarkerQueryzq"
ADDRESS = "198.51.100.41"
TIME_OF_DAY = re.compile(r"\b\d{2}:\d{2}\b")


@pytest.fixture
def gunicorn_config(tmp_path):
    config = Config()
    config.set("errorlog", str(tmp_path / "error.log"))
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("access_log_format", '%(h)s %(t)s "%(r)s" %(s)s "%(a)s" %(q)s')
    yield config
    for name in ("gunicorn.error", "gunicorn.access"):
        for handler in list(logging.getLogger(name).handlers):
            logging.getLogger(name).removeHandler(handler)
            handler.close()


class Request:
    method = "GET"
    uri = f"/search?q={MARKER}"
    path = "/search"
    query = f"q={MARKER}"
    version = (1, 1)
    headers = (("USER-AGENT", "MarkerAgent/1.0"),)


class Response:
    status = "200 OK"
    headers = ()
    sent = 1234
    response_length = 1234


def _log_as_a_worker_does(log) -> None:
    """The calls gunicorn's workers make for a bad request, a failing app, a lost client."""
    try:
        raise InvalidHeader(f"X-{MARKER}")
    except InvalidHeader as exc:
        log.warning(f"Invalid request from ip={ADDRESS}: {exc}")
    try:
        raise RuntimeError(MARKER)
    except RuntimeError:
        log.exception("Error handling request %s %s", Request.method, Request.uri)
    log.debug("Ignored premature client disconnection. %s", NoMoreData(MARKER.encode()))
    environ = {
        "REMOTE_ADDR": ADDRESS,
        "REQUEST_METHOD": "GET",
        "RAW_URI": Request.uri,
        "PATH_INFO": Request.path,
        "QUERY_STRING": Request.query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_USER_AGENT": "MarkerAgent/1.0",
    }
    log.access(Response, Request, environ, timedelta(milliseconds=3))


def test_the_public_server_log_keeps_the_fault_not_the_request(gunicorn_config, tmp_path):
    gunicorn_config.set("loglevel", "debug")
    log = PublicServerLog(gunicorn_config)
    _log_as_a_worker_does(log)
    error_log = (tmp_path / "error.log").read_text()
    access_log = (tmp_path / "access.log").read_text()
    for text in (error_log, access_log):
        assert MARKER not in text and ADDRESS not in text and "MarkerAgent" not in text, text
        assert not TIME_OF_DAY.search(text), text
    assert "Invalid request refused: InvalidHeader" in error_log
    assert "Error handling request\n" in error_log
    assert "builtins.RuntimeError (message withheld)" in error_log
    assert "Ignored premature client disconnection. NoMoreData" in error_log
    assert re.match(r"^\[\d{4}-\d{2}-\d{2}\] \[\d+\] \[WARNING\] ", error_log), error_log
    # Whatever the configured format says, only method, path, status and size are written.
    assert access_log == '- - "-" 200 "-" -\n'


def test_the_console_server_log_is_complete(gunicorn_config, tmp_path):
    gunicorn_config.set("default_proc_name", "app:create_app('console')")
    log = ServerLog(gunicorn_config)
    _log_as_a_worker_does(log)
    error_log = (tmp_path / "error.log").read_text()
    assert f"ip={ADDRESS}" in error_log and f"GET /search?q={MARKER}" in error_log
    assert TIME_OF_DAY.search(error_log)
    assert ADDRESS in (tmp_path / "access.log").read_text()


@pytest.mark.parametrize("app_uri", ["app:create_app('public')", "wsgi:public", "other:app"])
def test_a_shared_gunicorn_configuration_logs_any_other_app_as_public(gunicorn_config, app_uri):
    gunicorn_config.set("default_proc_name", app_uri)
    assert ServerLog(gunicorn_config).withholds


def test_a_traceback_without_messages_keeps_every_exception_of_the_chain():
    search_terms = "搜索词 " + MARKER
    try:
        try:
            {}[search_terms]
        except KeyError as exc:
            raise ValueError(MARKER) from exc
    except ValueError as exc:
        text = traceback_without_messages(exc)
    assert MARKER not in text and "搜索词" not in text, text
    assert text.index("builtins.KeyError") < text.index("builtins.ValueError")
    assert "direct cause" in text
    assert text.count("Traceback (most recent call last)") == 2


def test_the_development_server_logs_a_failure_without_the_request(capsys):
    # `portal run`: a failure outside Flask (in a WSGI layer) reaches Werkzeug's server.
    def failing_app(environ, start_response):
        raise RuntimeError(environ["QUERY_STRING"])

    server = make_server(
        "127.0.0.2", 0, failing_app, threaded=True, request_handler=public_request_handler()
    )
    quiet_development_server(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection(
            "127.0.0.2", server.server_port, timeout=5, source_address=("127.0.0.1", 0)
        )
        conn.request("GET", f"/search?q={MARKER}", headers={"User-Agent": "MarkerAgent/1.0"})
        assert conn.getresponse().status == 500
        conn.close()
        log = ""
        deadline = time.monotonic() + 5  # the server logs after it has answered
        while "Error on request" not in log and time.monotonic() < deadline:
            time.sleep(0.01)
            log += capsys.readouterr().err
    finally:
        server.shutdown()
        thread.join()
    assert "portal.public.server: Error on request:" in log, log
    assert "builtins.RuntimeError (message withheld)" in log
    for marker in (MARKER, "127.0.0.1", "MarkerAgent"):
        assert marker not in log, log
    assert not TIME_OF_DAY.search(log), log
