"""`AsyncClient`: the same methods as `Client`, over a `grpc.aio` channel, for asyncio.

Create it inside the event loop that uses it (`async with AsyncClient(...) as client:`); a
grpc.aio channel belongs to one loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any

import grpc
import grpc.aio

from drover.channel import DEFAULT_TIMEOUT, channel_options, resolve
from drover.errors import translated_errors
from drover.spec import TaskLike, is_final_event, with_overrides
from drover.v1 import scheduler_pb2, scheduler_pb2_grpc, task_pb2


class AsyncClient:
    """An asyncio client of Drover's scheduler; see `Client` for the arguments and methods.

    >>> from drover import AsyncClient, state_name
    >>> async with AsyncClient("127.0.0.1:50051") as client:
    ...     submitted = await client.submit({"steps": [{"navigate": {"url": "data:text/html,hi"}}]})
    ...     async for event in client.watch(submitted.task_id):
    ...         print(event.sequence, state_name(event.state))
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        resolved = resolve(target, credentials)
        self.target = resolved.address
        self._timeout = timeout
        if resolved.credentials is None:
            self._channel = grpc.aio.insecure_channel(resolved.address, options=channel_options(options))
        else:
            self._channel = grpc.aio.secure_channel(
                resolved.address, resolved.credentials, options=channel_options(options)
            )
        # The generated stub is untyped; each method below says what its call returns.
        self._stub: Any = scheduler_pb2_grpc.SchedulerServiceStub(self._channel)

    async def submit(
        self,
        spec: TaskLike,
        *,
        idempotency_key: str | None = None,
        tenant: str | None = None,
        priority: task_pb2.Priority | str | None = None,
        timeout: float | None = None,
    ) -> scheduler_pb2.SubmitTaskResponse:
        """Queues a task; see `Client.submit`."""
        request = scheduler_pb2.SubmitTaskRequest(
            task=with_overrides(spec, idempotency_key=idempotency_key, tenant=tenant, priority=priority)
        )
        with translated_errors():
            response: scheduler_pb2.SubmitTaskResponse = await self._stub.SubmitTask(
                request, timeout=self._deadline(timeout)
            )
        return response

    async def get(
        self, task_id: str, *, omit_outputs: bool = False, timeout: float | None = None
    ) -> task_pb2.Task:
        """The task as the scheduler knows it now; see `Client.get`."""
        request = scheduler_pb2.GetTaskRequest(task_id=task_id, omit_outputs=omit_outputs)
        with translated_errors():
            response: scheduler_pb2.GetTaskResponse = await self._stub.GetTask(
                request, timeout=self._deadline(timeout)
            )
        return response.task

    async def watch(
        self, task_id: str, *, after_sequence: int = 0, timeout: float | None = None
    ) -> AsyncIterator[task_pb2.TaskEvent]:
        """The task's events in order, ending after the terminal event; see `Client.watch`."""
        request = scheduler_pb2.WatchTaskRequest(task_id=task_id, after_sequence=after_sequence)
        call = self._stub.WatchTask(request, timeout=timeout)
        try:
            with translated_errors():
                async for response in call:
                    yield response.event
                    if is_final_event(response.event):
                        return
        finally:
            call.cancel()

    async def wait(self, task_id: str, *, timeout: float | None = None) -> task_pb2.Task:
        """Follows the task until its terminal event, then returns it (with its outputs)."""
        async for _ in self.watch(task_id, timeout=timeout):
            pass
        return await self.get(task_id)

    async def cancel(
        self, task_id: str, *, reason: str = "", timeout: float | None = None
    ) -> task_pb2.TaskState:
        """Cancels a queued or running task and returns its state; see `Client.cancel`."""
        request = scheduler_pb2.CancelTaskRequest(task_id=task_id, reason=reason)
        with translated_errors():
            response: scheduler_pb2.CancelTaskResponse = await self._stub.CancelTask(
                request, timeout=self._deadline(timeout)
            )
        return response.state

    async def run(
        self,
        spec: TaskLike,
        *,
        idempotency_key: str | None = None,
        tenant: str | None = None,
        priority: task_pb2.Priority | str | None = None,
        timeout: float | None = None,
    ) -> task_pb2.Task:
        """Submits a task and returns it once finished; see `Client.run`."""
        request = scheduler_pb2.RunTaskRequest(
            task=with_overrides(spec, idempotency_key=idempotency_key, tenant=tenant, priority=priority)
        )
        with translated_errors():
            response: scheduler_pb2.RunTaskResponse = await self._stub.RunTask(request, timeout=timeout)
        return response.task

    async def list_tasks(
        self,
        *,
        tenant: str = "",
        states: Iterable[task_pb2.TaskState] = (),
        page_size: int = 0,
        timeout: float | None = None,
    ) -> AsyncIterator[task_pb2.Task]:
        """Tasks newest first, a page at a time; see `Client.list_tasks`."""
        request = scheduler_pb2.ListTasksRequest(tenant=tenant, states=list(states), page_size=page_size)
        while True:
            with translated_errors():
                page: scheduler_pb2.ListTasksResponse = await self._stub.ListTasks(
                    request, timeout=self._deadline(timeout)
                )
            for task in page.tasks:
                yield task
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def cluster_status(self, *, timeout: float | None = None) -> scheduler_pb2.GetClusterStatusResponse:
        """Connected workers, queue depth per priority and the number of running tasks."""
        with translated_errors():
            status: scheduler_pb2.GetClusterStatusResponse = await self._stub.GetClusterStatus(
                scheduler_pb2.GetClusterStatusRequest(), timeout=self._deadline(timeout)
            )
        return status

    async def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        await self._channel.close(grace=None)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _deadline(self, timeout: float | None) -> float | None:
        return self._timeout if timeout is None else timeout
