"""One real Drover for the whole test session: `drover up` on an ephemeral port (scheduler, one
browser with real Chromium, the AI router with its stand-in provider), stopped with SIGTERM at
the end of the session whatever happened.

DROVER_BIN names the binary (default: <repo>/target/debug/drover).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from drover import Client

# Helpers with plain asserts, rewritten like the tests' own for readable failures.
pytest.register_assert_rewrite("event_order")

REPO = Path(__file__).resolve().parents[3]
READY = "drover up: scheduler listening on "
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def _drover_bin() -> str:
    binary = os.environ.get("DROVER_BIN") or str(REPO / "target" / "debug" / "drover")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no drover binary at {binary}: run `cargo build --locked -p drover` or set DROVER_BIN")
    return binary


@pytest.fixture(scope="session")
def scheduler() -> Iterator[str]:
    """The address (`127.0.0.1:PORT`) of a running `drover up`'s scheduler."""
    command = [_drover_bin(), "up", "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--browsers", "1"]
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            yield _await_ready(process, log)
        finally:
            _stop(process)


def _await_ready(process: subprocess.Popen[str], log: IO[str]) -> str:
    """Reads stdout until the ready line; a thread keeps draining stdout afterwards so the
    process never blocks on a full pipe."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="drover-up-stdout", daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            log.seek(0)
            pytest.fail(
                f"drover up did not become ready (exit {process.poll()}):\n"
                + "".join(seen)
                + log.read()[-4000:]
            )
        seen.append(line)
        if line.startswith(READY):
            return line[len(READY) :].strip()


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def client(scheduler: str) -> Iterator[Client]:
    with Client(scheduler, timeout=30) as client:
        yield client
