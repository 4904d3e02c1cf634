"""`Client`: the scheduler's API (`drover.v1.SchedulerService`) over a blocking gRPC channel.

Each method is one RPC; `watch` and `list_tasks` are iterators over a stream or over pages.
Every failed call raises `DroverError`. `AsyncClient` (drover.async_client) has the same methods
for asyncio.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

import grpc

from drover.channel import DEFAULT_TIMEOUT, channel_options, resolve
from drover.errors import translated_errors
from drover.spec import TaskLike, is_final_event, with_overrides
from drover.v1 import scheduler_pb2, scheduler_pb2_grpc, task_pb2


class Client:
    """A blocking client of Drover's scheduler.

    >>> from drover import Client, state_name
    >>> with Client("127.0.0.1:50051") as client:
    ...     task = client.run({"steps": [{"navigate": {"url": "data:text/html,hi"}}]})
    ...     print(state_name(task.state))

    `target` is `host:port`, `http://host:port` or `https://host:port` (default: the
    `DROVER_SCHEDULER` environment variable, else 127.0.0.1:50051). `timeout` is the deadline,
    in seconds, of the short calls (submit, get, cancel, list, status) when a call gives none;
    `watch` and `run` have no deadline unless given one, since they last as long as the task
    (whose own timeout bounds them). `options` are extra gRPC channel options.
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
            self._channel = grpc.insecure_channel(resolved.address, options=channel_options(options))
        else:
            self._channel = grpc.secure_channel(
                resolved.address, resolved.credentials, options=channel_options(options)
            )
        # The generated stub is untyped; each method below says what its call returns.
        self._stub: Any = scheduler_pb2_grpc.SchedulerServiceStub(self._channel)

    def submit(
        self,
        spec: TaskLike,
        *,
        idempotency_key: str | None = None,
        tenant: str | None = None,
        priority: task_pb2.Priority | str | None = None,
        timeout: float | None = None,
    ) -> scheduler_pb2.SubmitTaskResponse:
        """Queues a task (a `TaskSpec`, or a dict for `task_spec`); the keyword arguments
        override the task's fields. Returns the task's id, its state, and `created` (False when
        a task with the same tenant and idempotency key already existed: its id is returned)."""
        request = scheduler_pb2.SubmitTaskRequest(
            task=with_overrides(spec, idempotency_key=idempotency_key, tenant=tenant, priority=priority)
        )
        with translated_errors():
            response: scheduler_pb2.SubmitTaskResponse = self._stub.SubmitTask(
                request, timeout=self._deadline(timeout)
            )
        return response

    def get(self, task_id: str, *, omit_outputs: bool = False, timeout: float | None = None) -> task_pb2.Task:
        """The task as the scheduler knows it now (NOT_FOUND for an unknown id)."""
        request = scheduler_pb2.GetTaskRequest(task_id=task_id, omit_outputs=omit_outputs)
        with translated_errors():
            response: scheduler_pb2.GetTaskResponse = self._stub.GetTask(
                request, timeout=self._deadline(timeout)
            )
        return response.task

    def watch(
        self, task_id: str, *, after_sequence: int = 0, timeout: float | None = None
    ) -> Iterator[task_pb2.TaskEvent]:
        """The task's events in order (queued, assigned, step_completed, ..., finished), the
        retained past ones first, ending after the terminal event. Nothing is sent until the
        iteration starts; leaving the loop early cancels the stream. A broken stream raises
        `DroverError`; watch again with `after_sequence` set to the last sequence seen to
        resume without repeats."""
        request = scheduler_pb2.WatchTaskRequest(task_id=task_id, after_sequence=after_sequence)
        call = self._stub.WatchTask(request, timeout=timeout)
        try:
            with translated_errors():
                for response in call:
                    yield response.event
                    if is_final_event(response.event):
                        return
        finally:
            call.cancel()

    def wait(self, task_id: str, *, timeout: float | None = None) -> task_pb2.Task:
        """Follows the task until its terminal event, then returns it (with its outputs)."""
        for _ in self.watch(task_id, timeout=timeout):
            pass
        return self.get(task_id)

    def cancel(self, task_id: str, *, reason: str = "", timeout: float | None = None) -> task_pb2.TaskState:
        """Cancels a queued or running task (its worker is told to stop) and returns its state
        after the call; a task already finished keeps its state. `reason` is recorded in the
        task's error."""
        request = scheduler_pb2.CancelTaskRequest(task_id=task_id, reason=reason)
        with translated_errors():
            response: scheduler_pb2.CancelTaskResponse = self._stub.CancelTask(
                request, timeout=self._deadline(timeout)
            )
        return response.state

    def run(
        self,
        spec: TaskLike,
        *,
        idempotency_key: str | None = None,
        tenant: str | None = None,
        priority: task_pb2.Priority | str | None = None,
        timeout: float | None = None,
    ) -> task_pb2.Task:
        """Submits a task and waits for its terminal state; returns the finished task with its
        outputs. A task that fails is returned, not raised: check `task.state` and
        `task.error`."""
        request = scheduler_pb2.RunTaskRequest(
            task=with_overrides(spec, idempotency_key=idempotency_key, tenant=tenant, priority=priority)
        )
        with translated_errors():
            response: scheduler_pb2.RunTaskResponse = self._stub.RunTask(request, timeout=timeout)
        return response.task

    def list_tasks(
        self,
        *,
        tenant: str = "",
        states: Iterable[task_pb2.TaskState] = (),
        page_size: int = 0,
        timeout: float | None = None,
    ) -> Iterator[task_pb2.Task]:
        """Tasks newest first (without their outputs), filtered by tenant and state, fetching
        a page at a time as the iteration goes."""
        request = scheduler_pb2.ListTasksRequest(tenant=tenant, states=list(states), page_size=page_size)
        while True:
            with translated_errors():
                page: scheduler_pb2.ListTasksResponse = self._stub.ListTasks(
                    request, timeout=self._deadline(timeout)
                )
            yield from page.tasks
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def cluster_status(self, *, timeout: float | None = None) -> scheduler_pb2.GetClusterStatusResponse:
        """Connected workers, queue depth per priority and the number of running tasks."""
        with translated_errors():
            status: scheduler_pb2.GetClusterStatusResponse = self._stub.GetClusterStatus(
                scheduler_pb2.GetClusterStatusRequest(), timeout=self._deadline(timeout)
            )
        return status

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _deadline(self, timeout: float | None) -> float | None:
        return self._timeout if timeout is None else timeout
