"""Real parts for the job-layer tests: `crmhub worker` process groups and a private Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CRMHUB = Path(sys.executable).parent / "crmhub"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], Any], timeout: float = 60.0, poll: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class PrivateRedis:
    """A redis-server of the test's own, which it may stop and start (never the shared one)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_for(lambda: _pings(client), timeout=10, poll=0.05, what="private redis to start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def write_config(
    path: Path, *, database_url: str, broker_url: str, jobs: dict[str, Any], source: dict[str, Any]
) -> Path:
    """A crmhub.toml for worker processes."""

    def table(values: dict[str, Any]) -> str:
        return "\n".join(f"{key} = {json.dumps(value)}" for key, value in values.items())

    path.write_text(
        f'[hub]\ndatabase_url = "{database_url}"\nbroker_url = "{broker_url}"\n'
        'secret_key = "worker-test-secret"\nlog_level = "INFO"\nlog_format = "text"\n\n'
        f"[jobs]\n{table(jobs)}\n\n[plugins.testsource.main]\n{table(source)}\n"
    )
    return path


class WorkerGroup:
    """One `crmhub worker` command: its supervisor and worker processes share a process
    group, so the whole "machine" can be killed at once."""

    def __init__(self, config: Path, log: Path, *, processes: int = 1, threads: int = 2) -> None:
        self.log = log
        self.handle = open(log, "ab")
        self.process = subprocess.Popen(
            [str(CRMHUB), "worker", "--processes", str(processes), "--threads", str(threads)],
            env={**os.environ, "CRMHUB_CONFIG": str(config)},
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pgid = os.getpgid(self.process.pid)

    def owns(self, pid: int) -> bool:
        """Whether process ``pid`` belongs to this group."""
        try:
            return os.getpgid(pid) == self.pgid
        except ProcessLookupError:
            return False

    def kill(self) -> None:
        """kill -9 the supervisor and every worker process."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        """Send SIGTERM without waiting."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as an operator or systemd would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.handle.close()

    def output(self) -> str:
        """What the group logged."""
        return self.log.read_text(errors="replace")
