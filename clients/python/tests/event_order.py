"""Checks on a task's event stream shared by the sync and async tests."""

from __future__ import annotations

from drover import TaskEvent, state_name
from drover.v1 import task_pb2


def kinds(events: list[TaskEvent]) -> list[str | None]:
    return [event.WhichOneof("detail") for event in events]


def assert_events_in_order(events: list[TaskEvent], steps: list[str]) -> None:
    """queued first, assigned before any step completes, one step_completed per step in step
    order, finished last, sequence numbers 1, 2, 3, ..."""
    assert [e.sequence for e in events] == list(range(1, len(events) + 1)), events
    names = kinds(events)
    assert names[0] == "queued", names
    assert names[1] == "assigned", names
    assert names[-1] == "finished", names
    assert "finished" not in names[:-1], names
    assert "requeued" not in names, names
    completed = [e.step_completed.output.step for e in events if e.HasField("step_completed")]
    assert completed == steps, names
    assert events[-1].state == task_pb2.TASK_STATE_SUCCEEDED, state_name(events[-1].state)
