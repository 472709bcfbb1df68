"""The development server of ``portal run`` (Werkzeug's), closing every response it starts.

Werkzeug closes a response after draining the socket; when the client has gone, the drain
itself can raise and the response (an open static file, say) is left for the garbage
collector. Here the app's response is wrapped so that it closes once, and the request handler
closes it after every request, whatever happened on the socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

_RESPONSE = "portal.devserver.response"


class _Response:
    """An app's response iterable that is closed at most once."""

    def __init__(self, iterable: Iterable[bytes]) -> None:
        self._iterable = iterable
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._iterable)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterable, "close", None)
        if close is not None:
            close()


def closing_responses(app: Callable) -> Callable:
    """``app`` whose responses the :class:`ClosingRequestHandler` closes if the server did not."""

    def wrapped(environ: dict[str, Any], start_response: Callable) -> _Response:
        response = _Response(app(environ, start_response))
        environ[_RESPONSE] = response
        return response

    return wrapped


class ClosingRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, closing the response after the request even if the socket failed."""

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        finally:
            environ = getattr(self, "environ", None) or {}
            response = environ.get(_RESPONSE)
            if response is not None:
                response.close()


def development_server(
    host: str, port: int, app: Callable, handler: type[ClosingRequestHandler] | None = None
) -> BaseWSGIServer:
    """A threaded development server for ``app``; ``handler`` a :class:`ClosingRequestHandler`."""
    return make_server(
        host,
        port,
        closing_responses(app),
        threaded=True,
        request_handler=handler or ClosingRequestHandler,
    )
