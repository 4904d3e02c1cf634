"""Where the scheduler is and how to dial it, shared by `Client` and `AsyncClient`.

The address is taken as the `drover` command takes `--scheduler`: `host:port`,
`http://host:port` (plaintext) or `https://host:port` (TLS with the system's roots), else the
`DROVER_SCHEDULER` environment variable, else `127.0.0.1:50051`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

#: The scheduler a client talks to when nothing says otherwise.
DEFAULT_SCHEDULER = "127.0.0.1:50051"

#: Largest answer accepted: task outputs carry screenshots and PDFs (the scheduler bounds
#: them per task); the same bound the `drover` command uses.
MAX_MESSAGE_BYTES = 80 * 1024 * 1024

#: Deadline of the short calls (submit, get, cancel, list, status) unless a call says otherwise.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Target:
    """A resolved scheduler address."""

    #: The gRPC target, e.g. "127.0.0.1:50051".
    address: str
    #: TLS credentials, or None for plaintext.
    credentials: grpc.ChannelCredentials | None


def resolve(target: str | None, credentials: grpc.ChannelCredentials | None) -> Target:
    """The address to dial for `target` (see the module's docs) and its credentials."""
    url = target or os.environ.get("DROVER_SCHEDULER") or DEFAULT_SCHEDULER
    if url.startswith("https://"):
        return Target(url.removeprefix("https://").rstrip("/"), credentials or grpc.ssl_channel_credentials())
    return Target(url.removeprefix("http://").rstrip("/"), credentials)


def channel_options(extra: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """Channel options: the caller's, plus the message size bounds unless the caller set them."""
    defaults = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    given = {name for name, _ in extra}
    return [*extra, *(option for option in defaults if option[0] not in given)]
