"""`Client` against a real `drover up`."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from event_order import assert_events_in_order, kinds
from tasks import ITEMS, navigate_only, never_finishes, workflow

from drover import Client, DroverError, state_name
from drover.v1 import errors_pb2, task_pb2


def test_submit_then_watch_streams_every_event_in_order(client: Client) -> None:
    submitted = client.submit(workflow())
    assert submitted.created
    assert submitted.task_id
    events = list(client.watch(submitted.task_id))
    assert all(e.task_id == submitted.task_id for e in events)
    assert_events_in_order(events, ["open", "items", "summary"])


def test_get_returns_the_finished_task_with_its_outputs(client: Client) -> None:
    submitted = client.submit(workflow())
    task = client.wait(submitted.task_id)
    assert task.id == submitted.task_id
    assert task.state == task_pb2.TASK_STATE_SUCCEEDED, task.error
    assert [o.step for o in task.outputs] == ["open", "items", "summary"]
    navigate, extract, chat = task.outputs
    assert navigate.navigate.url.startswith("data:text/html,")
    assert list(extract.extract.values) == ITEMS
    # The stand-in echoes the prompt, so the template must have been resolved to the values.
    assert json.dumps(ITEMS, separators=(",", ":")) in chat.chat.content

    light = client.get(submitted.task_id, omit_outputs=True)
    assert light.state == task_pb2.TASK_STATE_SUCCEEDED
    assert len(light.outputs) == 0


def test_get_of_an_unknown_task_is_not_found(client: Client) -> None:
    with pytest.raises(DroverError) as raised:
        client.get("no-such-task")
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert raised.value.reason == "NOT_FOUND"


def test_cancel_stops_a_running_task(client: Client) -> None:
    submitted = client.submit(never_finishes())
    events = client.watch(submitted.task_id)
    seen = []
    for event in events:
        seen.append(event)
        if event.state == task_pb2.TASK_STATE_RUNNING:
            break
    assert kinds(seen)[-1] == "assigned", kinds(seen)

    state = client.cancel(submitted.task_id, reason="the test is done waiting")
    assert state == task_pb2.TASK_STATE_CANCELLED, state_name(state)
    seen.extend(events)  # the same stream, picked up where it was left
    assert kinds(seen)[-1] == "finished", kinds(seen)
    assert seen[-1].state == task_pb2.TASK_STATE_CANCELLED, state_name(seen[-1].state)

    task = client.get(submitted.task_id)
    assert task.state == task_pb2.TASK_STATE_CANCELLED
    assert task.error.reason == errors_pb2.ERROR_REASON_CANCELLED
    assert "the test is done waiting" in task.error.message
    # Cancelling a finished task changes nothing.
    assert client.cancel(submitted.task_id) == task_pb2.TASK_STATE_CANCELLED


def test_a_resubmit_with_the_same_idempotency_key_returns_the_same_task(client: Client) -> None:
    key = f"py-{uuid.uuid4()}"
    first = client.submit(navigate_only(), idempotency_key=key)
    again = client.submit(navigate_only(), idempotency_key=key)
    other = client.submit(navigate_only(), idempotency_key=f"{key}-other")
    assert first.created and not again.created and other.created
    assert again.task_id == first.task_id
    assert other.task_id != first.task_id
    assert client.get(first.task_id).spec.idempotency_key == key
    for task_id in (first.task_id, other.task_id):
        assert client.wait(task_id).state == task_pb2.TASK_STATE_SUCCEEDED


def test_an_invalid_task_is_refused_naming_each_field(client: Client) -> None:
    spec = navigate_only()
    spec["steps"][0]["navigate"]["url"] = "file:///etc/passwd"
    spec["steps"].append({"name": "Not Valid", "extract": {"selector": "p"}})
    with pytest.raises(DroverError) as raised:
        client.submit(spec)
    error = raised.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_ARGUMENT"
    fields = dict(error.fields)
    assert set(fields) == {"task.steps[0].navigate.url", "task.steps[1].name"}, error.fields
    assert "file" in fields["task.steps[0].navigate.url"]
    assert "task.steps[0].navigate.url: " in str(error)


def test_run_waits_for_the_finished_task(client: Client) -> None:
    task = client.run(workflow(), timeout=60)
    assert task.state == task_pb2.TASK_STATE_SUCCEEDED, task.error
    assert len(task.outputs) == 3
    assert task.outputs[2].chat.content.startswith("stand-in answer")


def test_list_tasks_filters_by_tenant_and_state(client: Client) -> None:
    tenant = f"py-list-{uuid.uuid4().hex[:8]}"
    ids = [client.run(navigate_only(tenant)).id for _ in range(3)]
    listed = list(client.list_tasks(tenant=tenant, page_size=2))  # two pages
    assert [t.id for t in listed] == ids[::-1]  # newest first
    assert all(t.spec.tenant == tenant for t in listed)
    assert list(client.list_tasks(tenant=tenant, states=[task_pb2.TASK_STATE_FAILED])) == []


def test_cluster_status_lists_the_browser_and_ai_workers(client: Client) -> None:
    status = client.cluster_status()
    kinds_seen = {worker.kind for worker in status.workers}
    assert len(status.workers) == 2, status
    assert len(kinds_seen) == 2, status
    assert all(worker.slots > 0 for worker in status.workers)


def test_an_unreachable_scheduler_is_a_drover_error_without_a_reason() -> None:
    with Client("127.0.0.1:1", timeout=5) as client, pytest.raises(DroverError) as raised:
        client.get("anything")
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert raised.value.reason is None
