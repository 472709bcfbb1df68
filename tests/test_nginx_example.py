"""The nginx example (deploy/nginx.conf), run by the real nginx in front of ``portal serve``:
the site keeps answering and reports go through while dozens of clients send slowly, no report
body is ever written to nginx's client_body_temp folder, and the portal counts each client by
its own address, whatever X-Forwarded-For the client sends."""

from __future__ import annotations

import re

import pytest

from tests.helpers.nginx import (
    Nginx,
    Ports,
    TempWatch,
    forwarded_for_lines,
    locations,
    nginx_or_skip,
)
from tests.helpers.servers import (
    CONSOLE_HOST,
    SERVER_HOST,
    Server,
    free_port,
    given_ports,
    portal_env,
)
from tests.helpers.slow_clients import NO_PAGE_LIMITS, Site, under_attack

# One at a time: they may be given the same ports (PORTAL_TEST_SERVER_PORTS).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("given_server_ports")]

# A page that counts against the default rate limit (the health check does not).
COUNTED_PAGE = "/report/follow-up"
# The report's file: more than the example's client_body_buffer_size (1m), which a buffered
# body would have to leave in nginx's client_body_temp folder.
REPORT_BYTES = 3 * 1024 * 1024


def _ports(server: Server) -> Ports:
    """nginx on PORTAL_TEST_NGINX_PORTS ("public,redirect,console") or free ports."""
    given = given_ports("PORTAL_TEST_NGINX_PORTS", 3)
    public, redirect, console = given or (free_port(), free_port(), free_port(CONSOLE_HOST))
    return Ports(
        host=SERVER_HOST,
        public=public,
        redirect=redirect,
        console_host=CONSOLE_HOST,
        console=console,
        upstream_host=SERVER_HOST,
        upstream_public=server.public_port,
        upstream_console_host=CONSOLE_HOST,
        upstream_console=server.console_port or 0,
    )


def _portal_serve(sqlite_instance, tmp_path) -> Server:
    env = portal_env(
        sqlite_instance.path,
        PORTAL_DATABASE_URL=sqlite_instance.database_url,
        PORTAL_WORKERS="1",
        PORTAL_BODY_GRACE_SECONDS="3",
        # As docs/operations.md says for nginx on the same machine.
        PORTAL_TRUSTED_PROXIES="127.0.0.1",
        # How the test sees which client a request was counted under.
        PORTAL_RATELIMIT_HEADERS_ENABLED="true",
        **NO_PAGE_LIMITS,
    )
    given = given_ports("PORTAL_TEST_SERVER_PORTS", 2)
    ports = (given[0], given[1]) if given else None
    return Server.start("serve", env, tmp_path / "serve.log", "--no-jobs", ports=ports)


def _left(site: Site, source: str, forwarded_for: str = "") -> tuple[int, str]:
    """Requests left to ``source`` in this window of the default limit, and the window."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    status, body, response = site.get(COUNTED_PAGE, headers=headers, source=source)
    assert status == 200, body[:300]
    return int(response["X-RateLimit-Remaining"]), response["X-RateLimit-Reset"]


def _check_clients_are_counted_by_their_own_address(site: Site) -> None:
    for network in (4, 5, 6):  # new clients if a window ended in between
        client, other = f"127.0.{network}.1", f"127.0.{network}.2"
        # The client claims to be `other`, then someone else, then `other` comes: both claims
        # counted for the client itself, and `other` starts afresh.
        first, window = _left(site, client, forwarded_for=other)
        second, window_2 = _left(site, client, forwarded_for="203.0.113.9")
        others, window_3 = _left(site, other)
        if window == window_2 == window_3:
            assert (first, second, others) == (first, first - 1, first)
            return
    raise AssertionError("the rate-limit window kept changing")


def test_the_example_forwards_the_clients_address_and_never_a_clients_header():
    # Appending ($proxy_add_x_forwarded_for) would pass on whatever the client wrote.
    assert forwarded_for_lines() == ["$remote_addr"] * 3


def test_the_example_never_spools_decrypted_files_to_disk():
    # Decrypted report files go to reporters (/report/) and to inspectors (the console): a
    # client reading slowly must not make nginx write the rest to its proxy_temp folder.
    blocks = locations()
    for name in ("443 /report/", "10.0.0.10:443 /"):
        assert re.search(r"proxy_max_temp_file_size\s+0;", blocks[name]), name


def test_nginx_example_keeps_the_site_open_and_report_bodies_off_disk(
    sqlite_instance, demo_sqlite, tmp_path
):
    nginx_or_skip()
    server = _portal_serve(sqlite_instance, tmp_path)
    try:
        nginx, tls = Nginx.start(tmp_path / "nginx", _ports(server))
    except BaseException:
        server.stop()
        raise

    def stop_both() -> None:
        nginx.stop()
        server.stop()

    site = Site(nginx.ports.public, SERVER_HOST, tls)
    try:
        with TempWatch(nginx) as watch:
            _check_clients_are_counted_by_their_own_address(site)
            outcome = under_attack(site, stop_both, REPORT_BYTES)
    finally:
        stop_both()

    # Nothing of any body, the report's included, was ever in nginx's temporary folder.
    assert watch.polls > 100
    assert watch.seen == [], watch.seen
    assert (nginx.folder / "client_body_temp").is_dir()
    assert list((nginx.folder / "client_body_temp").rglob("*")) == []
    slow = outcome.slow
    assert not slow, (
        f"{len(slow)} of {outcome.answered} page requests failed or were slow: {slow[:10]}"
    )
    assert outcome.codes, outcome.errors
    assert len(outcome.errors) <= 1, outcome.errors
    # The slow uploads reached the portal through nginx, which cut them (408) and they came
    # back; nginx ended the slow and silent heads itself.
    assert any(
        kind == "upload" and a.startswith(b"HTTP/1.1 408") for kind, a in outcome.trickle.answers
    )
    assert outcome.trickle.reopened() == {"upload", "headers", "silent"}
    assert server.process.returncode == 0, server.output
    assert "Traceback" not in server.output, server.output[-3000:]
    assert nginx.process.returncode == 0, nginx.output
    # The public site logged nothing of its clients: no access line, no error naming one.
    logs = nginx.folder / "logs"
    assert (logs / "access.log").read_text() == ""
    assert (logs / "portal-public-error.log").read_text() == ""
