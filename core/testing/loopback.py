"""Run an ASGI app on a loopback port in a background thread.

Tests, benchmarks and ``crmhub demo`` talk to the fake Shopify, WooCommerce and HubSpot
servers over real HTTP. :func:`serve_app` starts uvicorn in a daemon thread on a socket
it binds itself (port 0 picks a free port, so many servers can run side by side), waits
until the socket accepts connections and returns a :class:`LoopbackServer`::

    with serve_app(app) as server:
        httpx.get(server.url + "/healthz")

uvicorn normally installs SIGINT/SIGTERM handlers; that only works in the main thread, so
the server class used here never touches signals. ``stop()`` asks uvicorn to exit, waits
for the thread and closes the socket; it is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["LoopbackServer", "serve_app"]


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that leaves process signals alone (it runs outside the main thread)."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        """Do nothing: signal handlers can only be installed from the main thread."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # uvicorn >= 0.29
        """Do nothing: the owning test or program decides when the server stops."""
        yield

    async def main_loop(self) -> None:
        """uvicorn's tick loop, checking ``should_exit`` every 10 ms instead of 100 ms.

        Tests start and stop hundreds of servers; a short tick makes ``stop()`` quick.
        """
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 8_640_000
            await asyncio.sleep(0.01)
            should_exit = await self.on_tick(0 if counter % 10 == 0 else 1)


class LoopbackServer:
    """A running loopback server: ``url``, ``port``, ``stop()``; also a context manager."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket
    ) -> None:
        self._server = server
        self._thread = thread
        self._sock = sock
        self.host: str = sock.getsockname()[0]
        self.port: int = sock.getsockname()[1]
        self.url: str = f"http://{self.host}:{self.port}"
        self._stopped = False

    @property
    def running(self) -> bool:
        """True while the server thread is alive and ``stop()`` was not called."""
        return not self._stopped and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to shut down, wait for its thread, close the socket. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # a stuck connection: force the exit
            self._server.force_exit = True
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LoopbackServer {self.url} {state}>"


def serve_app(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    timeout: float = 10.0,
    log_level: str = "warning",
    **uvicorn_options: Any,
) -> LoopbackServer:
    """Serve the ASGI ``app`` with uvicorn in a daemon thread and return once it accepts.

    :param app: any ASGI application (Starlette, FastAPI, a fake remote API's ``.app``).
    :param host: loopback address to bind, ``127.0.0.1`` by default.
    :param port: port to bind; ``0`` picks a free one (read it back from ``.port``).
    :param timeout: seconds to wait for the server to come up before raising ``RuntimeError``.
    :param uvicorn_options: passed to :class:`uvicorn.Config` (e.g. ``http="h11"``).
    :returns: a :class:`LoopbackServer`; call ``stop()`` or use it as a context manager.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    options: dict[str, Any] = {"lifespan": "off", "access_log": False, "log_level": log_level}
    options.update(uvicorn_options)
    config = uvicorn.Config(app, **options)
    server = _ThreadServer(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"loopback-{sock.getsockname()[1]}", daemon=True)
    thread.start()
    handle = LoopbackServer(server, thread, sock)
    deadline = time.monotonic() + timeout
    while not server.started:
        if failure or not thread.is_alive():
            handle.stop()
            raise RuntimeError(
                f"loopback server failed to start: {failure[0] if failure else 'thread exited'}"
            )
        if time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(f"loopback server did not start within {timeout} s")
        time.sleep(0.005)
    _wait_accepting(handle.host, handle.port, deadline)
    return handle


def _wait_accepting(host: str, port: int, deadline: float) -> None:
    """Block until a TCP connection to ``host:port`` succeeds (or the deadline passes)."""
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                msg = f"loopback server on {host}:{port} does not accept connections"
                raise RuntimeError(msg) from exc
            time.sleep(0.01)
