"""Request bodies per process: places, a place per client, a minimum pace, the busy page."""

from __future__ import annotations

import socket
import threading

import pytest

from app.gunicorn_worker import head_complete
from app.security import network
from app.security.body_reads import BodyReads, BodyTooSlow, WatchedInput
from tests.helpers.forms import csrf_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_group(address: str) -> str:
    """The group the body reads count a client by, with the default IPv6 prefix."""
    return network.client_group(address, 64)


def _reads(clock: Clock, places: int = 2, per_client: int = 2) -> BodyReads:
    return BodyReads(places, per_client, min_rate=1024, grace=10, clock=clock)


def test_a_client_is_an_ipv4_address_or_an_ipv6_64():
    one_host = ("2001:db8:1:2:a:b:c:d", "2001:db8:1:2::5", "2001:0db8:0001:0002:ffff::1")
    assert len({client_group(address) for address in one_host}) == 1
    assert client_group("2001:db8:1:3::1") != client_group("2001:db8:1:2::1")
    assert client_group("10.1.2.3") != client_group("10.1.2.4")
    assert client_group("::ffff:10.1.2.3") == client_group("10.1.2.3")
    assert client_group("不是地址") == "不是地址"


def test_a_new_body_takes_the_place_of_one_that_trickles():
    clock = Clock()
    reads = _reads(clock)
    trickling = [reads.admit(f"10.0.0.{n}", 10_000_000, None) for n in (1, 2)]
    for reading in trickling:
        reads.received(reading, 100)
    trickling[0].read += 50  # the faster of the two trickles
    clock.now += 2
    newcomer = reads.admit("10.0.0.3", 5000, None)
    assert newcomer is not None
    assert trickling[1].cut and not trickling[0].cut
    assert reads.active() == 2


def test_bodies_that_arrive_at_a_working_pace_keep_their_places():
    clock = Clock()
    reads = _reads(clock)
    working = [reads.admit(f"10.0.0.{n}", 100_000_000, None) for n in (1, 2)]
    clock.now += 2
    for reading in working:
        reads.received(reading, 2 * 1024 * 1024)
    assert reads.admit("10.0.0.3", 5000, None) is None
    assert not any(reading.cut for reading in working)


def test_a_body_just_started_is_not_taken_for_a_slow_one():
    clock = Clock()
    reads = _reads(clock, places=1)
    first = reads.admit("10.0.0.1", 100_000, None)
    assert reads.admit("10.0.0.2", 100_000, None) is None
    assert not first.cut


def test_one_client_has_at_most_its_places_even_from_many_addresses_of_its_64():
    clock = Clock()
    reads = _reads(clock, places=10, per_client=2)
    for host in ("::1", "::2"):
        reading = reads.admit(client_group(f"2001:db8:1:2{host}"), 100_000_000, None)
        reads.received(reading, 10 * 1024 * 1024)
    clock.now += 1
    assert reads.admit(client_group("2001:db8:1:2::3"), 1000, None) is None
    assert reads.admit(client_group("2001:db8:1:3::3"), 1000, None) is not None


def test_a_body_below_the_pace_is_cut_after_the_grace():
    clock = Clock()
    reads = _reads(clock, places=4)
    slow = reads.admit("10.0.0.1", 10_000_000, None)
    steady = reads.admit("10.0.0.2", 10_000_000, None)
    small = reads.admit("10.0.0.3", 300, None)
    clock.now += 9
    reads.cut_slow()
    assert not slow.cut  # within the grace
    clock.now += 11  # 10 s past the grace: 10 KiB are due
    reads.received(steady, 12 * 1024)
    reads.received(small, 200)  # a small body: due is at most its length
    reads.cut_slow()
    assert slow.cut and not steady.cut
    assert small.cut  # 200 of its 300 bytes after 20 s


def test_a_cut_wakes_the_thread_that_waits_for_the_body_and_its_read_fails():
    clock = Clock()
    reads = _reads(clock, places=1)
    server_side, client_side = socket.socketpair()
    stream = server_side.makefile("rb")
    try:
        reading = reads.admit("10.0.0.1", 10_000, server_side)
        body = WatchedInput(stream, reading, reads)
        client_side.sendall("举报材料".encode())
        assert body.read(len("举报材料".encode())) == "举报材料".encode()
        failures = []

        def read_rest() -> None:
            try:
                body.read(5000)
            except BodyTooSlow as error:
                failures.append(error)

        waiting = threading.Thread(target=read_rest)
        waiting.start()
        clock.now += 2
        assert reads.admit("10.0.0.2", 100, None) is not None  # takes the trickle's place
        waiting.join(timeout=10)
        assert not waiting.is_alive() and failures
        assert failures[0].code == 408
    finally:
        stream.close()
        server_side.close()
        client_side.close()


def test_a_body_read_to_its_end_gives_its_place_back():
    clock = Clock()
    reads = _reads(clock, places=1)
    server_side, client_side = socket.socketpair()
    stream = server_side.makefile("rb")
    try:
        reading = reads.admit("10.0.0.1", 12, server_side)
        client_side.sendall("招标文件".encode())
        body = WatchedInput(stream, reading, reads)
        assert body.read(12).decode() == "招标文件"
        assert reads.active() == 0
    finally:
        stream.close()
        server_side.close()
        client_side.close()


def _fill_places(public_app, fast: bool) -> list:
    reads = public_app.extensions["portal.body_reads"]
    taken = []
    for number in range(reads.places):
        reading = reads.admit(f"10.9.0.{number}", 100_000_000, None)
        reading.started -= 5
        reading.read = 100 * 1024 * 1024 if fast else 10
        taken.append(reading)
    return taken


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_when_every_place_is_taken_by_a_working_upload_a_form_gets_the_busy_page(public_app, lang):
    client = public_app.test_client()
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    taken = _fill_places(public_app, fast=True)
    response = client.post(
        f"/report/follow-up?lang={lang}", data={"csrf_token": token, "code": "1234 5678"}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    page = response.get_data(as_text=True)
    if lang == "zh":
        assert "同时上传的内容过多" in page and "没有保存任何内容" in page
    else:
        assert "Too many uploads at once" in page
    assert not any(reading.cut for reading in taken)
    for reading in taken:
        public_app.extensions["portal.body_reads"].release(reading)


def test_a_form_takes_the_place_of_a_trickling_upload(public_app):
    client = public_app.test_client()
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    taken = _fill_places(public_app, fast=False)
    response = client.post("/report/follow-up", data={"csrf_token": token, "code": "1234"})
    assert response.status_code != 503
    assert sum(reading.cut for reading in taken) == 1


@pytest.mark.parametrize(
    ("head", "complete"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
        (b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", False),
        (b"\r\n\r\n", False),
        ("POST /report/new HTTP/1.1\r\nX-备注: 一\r\n".encode(), False),
    ],
)
def test_a_head_is_complete_once_its_empty_line_arrived(head, complete):
    assert head_complete(head) is complete
