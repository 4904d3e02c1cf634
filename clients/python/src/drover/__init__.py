"""Python client for Drover: submit browser and AI tasks to the scheduler and follow them.

# Layout

- `drover.client.Client`: blocking client of `drover.v1.SchedulerService` (submit, get,
  watch, wait, cancel, run, list_tasks, cluster_status).
- `drover.async_client.AsyncClient`: the same methods over `grpc.aio`.
- `drover.errors.DroverError`: every failed call, with the scheduler's reason, the offending
  fields of a bad request and the retry delay it asked for.
- `drover.spec`: tasks from plain dicts (`task_spec`) and the task states that end a task.
- `drover.channel`: how the scheduler's address is resolved.
- `drover.v1`: the messages and stubs generated from `proto/drover/v1` (do not edit).

A request flows: a dict or `TaskSpec` -> `task_spec` -> the generated stub on a gRPC channel ->
the scheduler; a failed call comes back as `grpc.RpcError` and leaves as `DroverError`.
"""

from drover.async_client import AsyncClient
from drover.channel import DEFAULT_SCHEDULER
from drover.client import Client
from drover.errors import ERROR_DOMAIN, DroverError
from drover.spec import TERMINAL_STATES, is_final_event, is_terminal, state_name, task_spec
from drover.v1.scheduler_pb2 import GetClusterStatusResponse, SubmitTaskResponse
from drover.v1.task_pb2 import Step, StepOutput, Task, TaskEvent, TaskSpec, TaskState

__all__ = [
    "DEFAULT_SCHEDULER",
    "ERROR_DOMAIN",
    "TERMINAL_STATES",
    "AsyncClient",
    "Client",
    "DroverError",
    "GetClusterStatusResponse",
    "Step",
    "StepOutput",
    "SubmitTaskResponse",
    "Task",
    "TaskEvent",
    "TaskSpec",
    "TaskState",
    "is_final_event",
    "is_terminal",
    "state_name",
    "task_spec",
]
