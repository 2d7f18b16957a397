"""``crmhub worker``: worker processes on the Redis broker, plus the coordinator.

The command's own process is the supervisor: it starts ``--processes`` worker processes
(``python -m crmhub.core.jobs.process``), each consuming every job queue with
``--threads`` threads, and runs the coordinator loop (leader-elected relay and scheduler)
itself. A worker process that dies is started again. SIGTERM or SIGINT stops everything
cleanly: workers finish their jobs (syncs stop at the next page and resume later) within
``[jobs] shutdown_timeout``, then anything left is killed — and recovered by the relay.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from crmhub.core.errors import ConfigError
from crmhub.core.jobs.broker import create_broker, declare_queues
from crmhub.core.jobs.coordinator import Coordinator
from crmhub.core.jobs.registry import job_registry
from crmhub.core.jobs.runtime import JobRuntime
from crmhub.core.jobs.sender import Sender
from crmhub.core.logging import configure_logging

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

log = logging.getLogger("crmhub.worker")
RESTART_DELAY = 2.0


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _child_command(config: Path | None, threads: int) -> list[str]:
    command = [sys.executable, "-m", "crmhub.core.jobs.process", "--threads", str(threads)]
    if config is not None:
        command += ["--config", str(config)]
    return command


def run_workers(hub: Hub, *, config: Path | None, processes: int, threads: int) -> int:
    """Supervise ``processes`` worker processes and run the coordinator until SIGTERM/SIGINT.

    :param config: the config file the worker processes read (they inherit the environment).
    :returns: the exit code (0 after a clean shutdown).
    :raises ConfigError: the database schema is behind the code.
    """
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if hub.dialect != "sqlite" and hub.database_pending():
        raise ConfigError(
            "the database schema is behind this version: run `crmhub db upgrade`",
            key="hub.database_url",
        )
    stop = threading.Event()
    _stop_on_signals(stop)
    registry = job_registry(hub)
    broker = create_broker(hub.settings)
    declare_queues(broker, registry)
    coordinator = Coordinator(hub, Sender(hub, broker, registry))
    command = _child_command(config, threads)
    children: list[subprocess.Popen[bytes]] = [subprocess.Popen(command) for _ in range(processes)]
    log.info(
        "started %s worker process(es) with %s thread(s) each: %s",
        processes,
        threads,
        [child.pid for child in children],
    )
    restart_at: dict[int, float] = {}
    while not stop.is_set():
        try:
            coordinator.tick()
        except Exception:
            log.warning("scheduler pass failed; trying again", exc_info=True)
        for index, child in enumerate(children):
            code = child.poll()
            if code is None or stop.is_set():
                continue
            due = restart_at.setdefault(index, time.monotonic() + RESTART_DELAY)
            if time.monotonic() >= due:
                log.error("worker process %s exited with %s; starting another", child.pid, code)
                children[index] = subprocess.Popen(command)
                restart_at.pop(index, None)
        stop.wait(hub.settings.jobs.relay_interval)
    coordinator.resign()
    _stop_children(children, hub.settings.jobs.shutdown_timeout)
    broker.close()
    return 0


def _stop_children(children: list[subprocess.Popen[bytes]], timeout: float) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout + 5
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker process %s did not stop in time; killing it", child.pid)
            child.kill()
            child.wait()


def worker_process(config: Path | None, threads: int) -> int:
    """Body of one worker process: consume the Redis queues until SIGTERM/SIGINT."""
    from crmhub.core.hub import create_hub
    from crmhub.core.settings import load_settings

    settings = load_settings(config)
    configure_logging(settings.hub.log_level, settings.hub.log_format)
    stop = threading.Event()
    _stop_on_signals(stop)
    hub = create_hub(settings)
    runtime = JobRuntime(hub, threads=threads).start()
    log.info("worker process ready with %s thread(s)", threads)
    while not stop.wait(1.0):
        pass
    runtime.stop()
    hub.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process started by ``crmhub worker``."""
    parser = argparse.ArgumentParser(prog="crmhub-worker-process")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args(argv)
    try:
        return worker_process(options.config, options.threads)
    except ConfigError as exc:
        sys.stderr.write(f"error: bad configuration: {exc.message}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
