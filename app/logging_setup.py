"""Logs of the public site: no request line, query, client address or time of day.

The public site writes no client address, user agent or time of a visit anywhere, and a log
line written during a visit dates the visit by its time stamp and names it by what it quotes
of the request. So every log line of the public app and of the server in front of it is
stamped with the day at most, and says what failed without quoting the request:

- the app's errors name the endpoint and give the traceback with the exception's type; the
  exception's message is left out, as it may quote the visitor's input (a search term among
  a SQL statement's parameters, a header value);
- the servers' complaints about malformed requests name the kind of fault, not the line,
  the header or the address it came from.

The console's logs stay complete: staff actions are audited anyway, and times matter there.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
import unicodedata
from typing import Any

from flask import Flask, request
from flask.logging import wsgi_errors_stream
from gunicorn import glogging

PUBLIC_LOGGER = "portal.public"
DATE_FORMAT = "[%Y-%m-%d]"
LINE_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"
# Public access log: method, path without the query, status and size; nothing else.
PUBLIC_ACCESS_LOG_FORMAT = '"%(m)s %(U)s" %(s)s %(B)s'
PUBLIC_ACCESS_ATOMS = frozenset({"m", "U", "s", "B", "b", "H"})
WITHHELD = "(withheld)"


# Characters a log viewer would not show as themselves: controls, format characters (bidi
# marks, zero-width and soft hyphens), separators, fillers shown as blanks, variation
# selectors, bytes that were not UTF-8; and a backslash, which begins an escape.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_BLANK_FILLERS = frozenset("\u115f\u1160\u180e\u3164\uffa0")
# A report's file, named in its address, is one reporter's: logged without its id.
_REPORT_FILE = re.compile(r"^/+report/+follow-up/+files/.*", re.DOTALL)


def one_line(text: str) -> str:
    """``text`` on one line, each character a viewer would not show as itself escaped."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(ch) if _hidden(ch) else ch for ch in text)


def _hidden(ch: str) -> bool:
    return (
        ch == "\\"
        or unicodedata.category(ch) in _HIDDEN_CATEGORIES
        or ch in _BLANK_FILLERS
        or "\ufe00" <= ch <= "\ufe0f"
    )


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\\":
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def _as_written(value: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # not bytes as Latin-1: already text
        return value


def public_path(path: str) -> str:
    """A path of the public site as its access log names it: a report file without its id."""
    return _REPORT_FILE.sub("/report/follow-up/files/<id>", path)


class PublicFormatter(logging.Formatter):
    """Lines dated by the day alone, with tracebacks that leave out exception messages."""

    def __init__(self, fmt: str = LINE_FORMAT) -> None:
        super().__init__(fmt, DATE_FORMAT)

    def formatException(self, ei: Any) -> str:
        return traceback_without_messages(ei[1])


def traceback_without_messages(exc: BaseException | None) -> str:
    """The traceback of ``exc`` and of the exceptions it came from, with types, not messages."""
    chain: list[tuple[BaseException, str]] = []
    link = ""
    while exc is not None and all(exc is not seen for seen, _link in chain):
        chain.append((exc, link))
        if exc.__cause__ is not None:
            exc, link = exc.__cause__, "The above exception was the direct cause of the next one:"
        elif exc.__context__ is not None and not exc.__suppress_context__:
            exc, link = exc.__context__, "The next exception occurred while handling the above:"
        else:
            exc = None
    lines: list[str] = []
    for exc, link in reversed(chain):  # the first cause first, as Python prints them
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
        kind = type(exc)
        lines.append(f"{kind.__module__}.{kind.__qualname__} (message withheld)\n")
        if link:
            lines.append(f"\n{link}\n\n")
    return "".join(lines).rstrip("\n")


def public_logger(name: str = PUBLIC_LOGGER) -> logging.Logger:
    """A logger of the public site: its own handler and formatter, nothing for the root's.

    Handlers configured on the root logger (by gunicorn's ``logconfig``, by a framework) add
    times of day; the public site's lines never reach them.
    """
    root = logging.getLogger(PUBLIC_LOGGER)
    if not root.handlers:
        handler = logging.StreamHandler(wsgi_errors_stream)  # type: ignore[arg-type]
        handler.setFormatter(PublicFormatter())
        root.addHandler(handler)
        root.propagate = False
        if root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
    return logging.getLogger(name)


def init_public_app(app: Flask) -> None:
    """Log the public app's errors by endpoint, never by path or query, dated by the day."""
    logger = public_logger()
    app.logger = logger  # type: ignore[misc]  # Flask's own logger is shared by both apps

    def log_exception(exc_info: Any) -> None:
        logger.error(
            "Exception in endpoint %s [%s]",
            request.endpoint or "(none)",
            request.method,
            exc_info=exc_info,
        )

    app.log_exception = log_exception  # type: ignore[method-assign]


# --- servers ------------------------------------------------------------------------------


def _without_request_values(message: str, args: tuple) -> str:
    """``message % args`` with every argument that is not a number withheld."""
    if not args:
        return message
    safe = tuple(a if isinstance(a, int | float) else WITHHELD for a in args)
    try:
        return message % safe
    except (TypeError, ValueError):
        return message.split("%", 1)[0].rstrip(" :,") + f" {WITHHELD}"


def _level(kind: str) -> int:
    return logging.ERROR if kind == "error" else logging.INFO


def quiet_development_server(server: Any) -> None:
    """Make a Werkzeug server of the public app log like the app: no line, address or time."""
    log = public_logger(f"{PUBLIC_LOGGER}.server")

    def server_log(kind: str, message: str, *args: Any) -> None:
        # "Error on request:\n<traceback text with the exception's message>": keep the
        # first line and log the exception being handled the public way.
        first_line = message.split("\n", 1)[0]
        exc_info = sys.exc_info() if sys.exc_info()[0] is not None else None
        log.log(_level(kind), _without_request_values(first_line, args), exc_info=exc_info)

    def handle_error(_request: Any, _client_address: Any) -> None:
        # socketserver's own prints the client's address and port.
        log.error("Error handling a connection", exc_info=True)

    server.log = server_log
    server.handle_error = handle_error


def public_request_handler() -> type:
    """The development server's request handler, logging no request line, address or time of day."""
    from app.devserver import ClosingRequestHandler

    log = public_logger(f"{PUBLIC_LOGGER}.server")

    class PublicRequestHandler(ClosingRequestHandler):
        """No access log; errors (malformed requests) logged without what the client sent."""

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

        def log(self, type: str, message: str, *args: Any) -> None:
            if type == "error":
                log.error(_without_request_values(message, args))

    return PublicRequestHandler


def _request_free(msg: Any, args: tuple) -> tuple[Any, tuple]:
    """gunicorn's message and arguments, without the request line, headers or address."""
    text = msg if isinstance(msg, str) else ""
    if text.startswith("Invalid request from ip="):
        # "...ip=ADDRESS: <the line or header at fault>", logged while handling the error.
        error = sys.exc_info()[1]
        return "Invalid request refused: %s", (type(error).__name__ if error else "unknown",)
    if text.startswith("Error handling request"):  # "... METHOD URI"
        return "Error handling request", ()
    # Parse errors and closed connections carry the bytes received in their messages.
    return msg, tuple(type(a).__name__ if isinstance(a, BaseException) else a for a in args)


class PublicServerLog(glogging.Logger):
    """gunicorn's logger for the public app: ``--logger-class app.logging_setup.PublicServerLog``.

    Lines are dated by the day; messages about a request keep only the kind of fault; the
    access log (off unless configured) gets method, path, status and size whatever its format.
    """

    withholds = True

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not self.withholds:
            return
        # gunicorn's formats with the day for a date, for every handler of these loggers
        # whatever configured it (syslog, a logconfig), and for a logconfig's root handlers;
        # and no line goes on to other handlers.
        formats = [(self.error_log, self.error_fmt), (self.access_log, self.access_fmt)]
        if cfg.logconfig or cfg.logconfig_dict or cfg.logconfig_json:
            formats.append((logging.getLogger(), LINE_FORMAT))
        for log, fmt in formats:
            if log is not logging.getLogger():
                log.propagate = False
            for handler in log.handlers:
                handler.setFormatter(PublicFormatter(fmt))

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        # Request lines, paths and headers hold their bytes as Latin-1 (PEP 3333): logged as
        # they were written (UTF-8), any other byte as an escape.
        atoms = {k: _as_written(v) if isinstance(v, str) else v for k, v in atoms.items()}
        if self.withholds:
            atoms = {k: v for k, v in atoms.items() if k in PUBLIC_ACCESS_ATOMS}
            if "U" in atoms:
                atoms["U"] = public_path(atoms["U"])
        # A line and its fields as sent: no control character (a CR or LF forging a line).
        return {k: one_line(v) if isinstance(v, str) else v for k, v in atoms.items()}

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.CRITICAL, msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self.log(logging.ERROR, msg, *args, **kwargs)

    def log(self, lvl: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.withholds:
            msg, args = _request_free(msg, args)
        super().log(lvl, msg, *args, **kwargs)


class ServerLog(PublicServerLog):
    """``PublicServerLog``, unless the app gunicorn serves is the console (complete logs).

    For a configuration file shared by both apps (``deploy/gunicorn.conf.py``): the app is
    told by the name on gunicorn's command line (``app:create_app('console')``,
    ``wsgi:console``); any other app gets the public site's log.
    """

    def setup(self, cfg: Any) -> None:
        served = f"{cfg.wsgi_app or ''} {cfg.settings['default_proc_name'].get() or ''}"
        self.withholds = "console" not in served
        super().setup(cfg)
