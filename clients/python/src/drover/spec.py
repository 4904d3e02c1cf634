"""Tasks as plain data: `task_spec` builds a `drover.v1.TaskSpec` from a dict (parsed YAML or
JSON, in the proto3 JSON mapping the `drover submit` task files use), and the few facts about
task states both clients share.

The mapping is protobuf's own (`google.protobuf.json_format`): snake_case or camelCase field
names, enum values by name (`"CHAT_ROLE_USER"`), durations as strings (`"30s"`), so a task file
from `examples/` loads unchanged::

    spec = task_spec({
        "tenant": "demo",
        "steps": [
            {"name": "open", "navigate": {"url": "data:text/html,<h1>Hi</h1>"}},
            {"name": "title", "extract": {"selector": "h1"}, "timeout": "10s"},
        ],
    })
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from google.protobuf import json_format

from drover.v1 import task_pb2

#: What the clients accept wherever a task is asked for.
TaskLike = task_pb2.TaskSpec | Mapping[str, Any] | str

#: States a task ends in, exactly once.
TERMINAL_STATES: frozenset[int] = frozenset(
    {
        task_pb2.TASK_STATE_SUCCEEDED,
        task_pb2.TASK_STATE_FAILED,
        task_pb2.TASK_STATE_CANCELLED,
        task_pb2.TASK_STATE_EXPIRED,
    }
)


def task_spec(spec: TaskLike) -> task_pb2.TaskSpec:
    """A `TaskSpec` from a dict or JSON text in the proto3 JSON mapping (a `TaskSpec` is
    returned as it is).

    Raises `google.protobuf.json_format.ParseError` naming the field that does not fit (an
    unknown field, a wrong type, an unknown enum name). The scheduler still validates the task
    on submission; this only checks its shape.
    """
    if isinstance(spec, task_pb2.TaskSpec):
        return spec
    if isinstance(spec, str):
        return json_format.Parse(spec, task_pb2.TaskSpec())
    return json_format.ParseDict(dict(spec), task_pb2.TaskSpec())


def is_terminal(state: int) -> bool:
    """True for SUCCEEDED, FAILED, CANCELLED and EXPIRED."""
    return state in TERMINAL_STATES


def is_final_event(event: task_pb2.TaskEvent) -> bool:
    """True for the event that ends a task's event stream."""
    return event.HasField("finished") or is_terminal(event.state)


def state_name(state: int) -> str:
    """`TASK_STATE_SUCCEEDED` for 3, and so on."""
    return task_pb2.TaskState.Name(state)


def with_overrides(
    spec: TaskLike,
    *,
    idempotency_key: str | None = None,
    tenant: str | None = None,
    priority: task_pb2.Priority | str | None = None,
) -> task_pb2.TaskSpec:
    """The task with the given fields replaced, leaving the caller's message untouched."""
    parsed = task_spec(spec)
    if idempotency_key is None and tenant is None and priority is None:
        return parsed
    copy = task_pb2.TaskSpec()
    copy.CopyFrom(parsed)
    if idempotency_key is not None:
        copy.idempotency_key = idempotency_key
    if tenant is not None:
        copy.tenant = tenant
    if priority is not None:
        copy.priority = (
            cast(task_pb2.Priority, task_pb2.Priority.Value(priority))
            if isinstance(priority, str)
            else priority
        )
    return copy
