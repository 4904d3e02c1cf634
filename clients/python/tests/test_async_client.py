"""`AsyncClient` against a real `drover up`: the same basics as the blocking client, each test
one `asyncio.run` (a grpc.aio channel belongs to the loop that made it)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from event_order import assert_events_in_order, kinds
from tasks import ITEMS, navigate_only, never_finishes, workflow

from drover import AsyncClient, DroverError, TaskEvent, state_name
from drover.v1 import errors_pb2, task_pb2


def test_submit_watch_get_and_run(scheduler: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(scheduler) as client:
            submitted = await client.submit(workflow())
            assert submitted.created
            events = [event async for event in client.watch(submitted.task_id)]
            assert_events_in_order(events, ["open", "items", "summary"])

            task = await client.get(submitted.task_id)
            assert task.state == task_pb2.TASK_STATE_SUCCEEDED
            assert list(task.outputs[1].extract.values) == ITEMS

            ran = await client.run(workflow(), timeout=60)
            assert ran.state == task_pb2.TASK_STATE_SUCCEEDED, ran.error
            assert ran.id != submitted.task_id

            status = await client.cluster_status()
            assert len(status.workers) == 2

    asyncio.run(scenario())


def test_cancel_a_running_task(scheduler: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(scheduler) as client:
            submitted = await client.submit(never_finishes())
            events = client.watch(submitted.task_id)
            seen: list[TaskEvent] = []
            async for event in events:
                seen.append(event)
                if event.state == task_pb2.TASK_STATE_RUNNING:
                    break
            state = await client.cancel(submitted.task_id, reason="async test stops it")
            assert state == task_pb2.TASK_STATE_CANCELLED, state_name(state)
            seen.extend([event async for event in events])
            assert kinds(seen)[-1] == "finished", kinds(seen)
            assert seen[-1].state == task_pb2.TASK_STATE_CANCELLED

            task = await client.wait(submitted.task_id)
            assert task.state == task_pb2.TASK_STATE_CANCELLED
            assert task.error.reason == errors_pb2.ERROR_REASON_CANCELLED

    asyncio.run(scenario())


def test_idempotent_resubmit_and_errors(scheduler: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(scheduler) as client:
            key = f"py-async-{uuid.uuid4()}"
            first = await client.submit(navigate_only(), idempotency_key=key)
            again = await client.submit(navigate_only(), idempotency_key=key)
            assert first.created and not again.created
            assert again.task_id == first.task_id

            tenant = f"py-async-{uuid.uuid4().hex[:8]}"
            await client.run(navigate_only(tenant))
            listed = [task.id async for task in client.list_tasks(tenant=tenant)]
            assert len(listed) == 1

            bad = navigate_only()
            bad["steps"][0]["navigate"]["url"] = "file:///etc/passwd"
            with pytest.raises(DroverError) as raised:
                await client.submit(bad)
            assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
            assert raised.value.reason == "INVALID_ARGUMENT"
            assert [field for field, _ in raised.value.fields] == ["task.steps[0].navigate.url"]

            with pytest.raises(DroverError) as raised:
                await client.get("no-such-task")
            assert raised.value.reason == "NOT_FOUND"

            # A watch of an unknown task fails when iterated, as a DroverError too.
            with pytest.raises(DroverError) as raised:
                async for _ in client.watch("no-such-task"):
                    pass
            assert raised.value.code == grpc.StatusCode.NOT_FOUND

            await client.wait(first.task_id)

    asyncio.run(scenario())
