"""serve_app runs any ASGI app on a free loopback port, many times, and stops cleanly."""

from __future__ import annotations

import signal
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crmhub.core.testing.loopback import LoopbackServer, serve_app
from crmhub.core.testing.receiver import RecordingReceiver


async def _hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": request.query_params.get("name", "world")})


def _app() -> Starlette:
    return Starlette(routes=[Route("/hello", _hello)])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_serves_on_a_free_port_and_reports_its_url() -> None:
    server = serve_app(_app())
    try:
        assert isinstance(server, LoopbackServer)
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.running
        response = httpx.get(server.url + "/hello", params={"name": "crmhub"})
        assert response.json() == {"hello": "crmhub"}
    finally:
        server.stop()
    assert not server.running
    assert not _accepts(server.port)


def test_stop_is_idempotent_and_context_manager_stops() -> None:
    with serve_app(_app()) as server:
        port = server.port
        assert httpx.get(server.url + "/hello").status_code == 200
    assert not _accepts(port)
    server.stop()  # a second stop is harmless


def test_many_servers_in_one_session_and_side_by_side() -> None:
    ports = set()
    for _ in range(5):
        with serve_app(_app()) as server:
            ports.add(server.port)
            assert httpx.get(server.url + "/hello").status_code == 200
    with serve_app(_app()) as first, serve_app(_app()) as second:
        assert first.port != second.port
        assert httpx.get(first.url + "/hello").status_code == 200
        assert httpx.get(second.url + "/hello").status_code == 200


def test_leaves_process_signal_handlers_alone() -> None:
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with serve_app(_app()):
        pass
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_binding_a_busy_port_fails_loudly() -> None:
    with serve_app(_app()) as server:
        with pytest.raises(OSError):
            serve_app(_app(), port=server.port)


def test_recording_receiver_records_and_answers_statuses_in_turn() -> None:
    receiver = RecordingReceiver(status=[500, 200])
    with receiver.serve() as server:
        first = httpx.post(server.url + "/hook?x=1", content=b"abc", headers={"X-Test": "1"})
        second = httpx.post(server.url + "/hook", content=b"def")
        third = httpx.post(server.url + "/hook", content=b"ghi")
    assert [first.status_code, second.status_code, third.status_code] == [500, 200, 200]
    assert receiver.requests[0].body == b"abc"
    assert receiver.requests[0].headers["x-test"] == "1"
    assert receiver.requests[0].query == "x=1"
    assert receiver.requests[0].path == "/hook"
