"""The development server closes every response once, even when the client has gone."""

from __future__ import annotations

import http.client
import threading

import pytest
import werkzeug.serving
from werkzeug.serving import WSGIRequestHandler

from app.devserver import ClosingRequestHandler, development_server


class Body:
    """A response body that counts how often it is closed (a static file, say)."""

    def __init__(self) -> None:
        self.closed = 0

    def __iter__(self):
        yield "招标结果".encode()

    def close(self) -> None:
        self.closed += 1


class DropAfterSending:
    """Werkzeug's drain of the socket after the response, failing as with a reset client."""

    def register(self, *_args) -> None:
        raise ConnectionResetError("client gone")

    def close(self) -> None:
        pass


def serve_once(handler: type[WSGIRequestHandler]) -> Body:
    """Serve one request; the body once the request's thread has finished with it.

    The server closes the response on the request's own thread after the client has read
    it, and that thread is not joined when the server shuts down: it is waited for here,
    or a loaded machine would count the closes before they happen.
    """
    body = Body()
    handled = threading.Event()

    class Handler(handler):
        def handle(self) -> None:
            try:
                super().handle()
            finally:
                handled.set()

    def app(_environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return body

    server = development_server("127.0.0.1", 0, app, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        connection.request("GET", "/static/css/reports.css")
        response = connection.getresponse()
        assert response.read().decode() == "招标结果"
        connection.close()
        assert handled.wait(timeout=30), "the request's thread did not finish"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    return body


def test_a_response_is_closed_once_after_a_normal_request():
    assert serve_once(ClosingRequestHandler).closed == 1


def test_a_response_is_closed_once_when_the_client_has_gone(monkeypatch):
    monkeypatch.setattr(werkzeug.serving.selectors, "DefaultSelector", DropAfterSending)
    assert serve_once(ClosingRequestHandler).closed == 1


def test_werkzeug_s_own_handler_leaves_it_open_there(monkeypatch):
    # What the handler is for: without it the response waits for the garbage collector
    # (a ResourceWarning for an open file).
    monkeypatch.setattr(werkzeug.serving.selectors, "DefaultSelector", DropAfterSending)
    assert serve_once(WSGIRequestHandler).closed == 0


@pytest.mark.parametrize("surface", ["public", "console"])
def test_portal_run_serves_both_apps_with_the_closing_handler(surface):
    from app import logging_setup, serving

    handler = serving.request_handler(surface)
    assert issubclass(handler, ClosingRequestHandler)
    if surface == "public":
        assert handler.__name__ == logging_setup.public_request_handler().__name__
