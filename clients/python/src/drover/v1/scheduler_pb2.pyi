import datetime

from drover.v1 import errors_pb2 as _errors_pb2
from drover.v1 import task_pb2 as _task_pb2
from drover.v1 import worker_hub_pb2 as _worker_hub_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitTaskRequest(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.TaskSpec
    def __init__(self, task: _Optional[_Union[_task_pb2.TaskSpec, _Mapping]] = ...) -> None: ...

class SubmitTaskResponse(_message.Message):
    __slots__ = ("task_id", "created", "state")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    created: bool
    state: _task_pb2.TaskState
    def __init__(self, task_id: _Optional[str] = ..., created: bool = ..., state: _Optional[_Union[_task_pb2.TaskState, str]] = ...) -> None: ...

class SubmitTasksRequest(_message.Message):
    __slots__ = ("task", "client_ref")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REF_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.TaskSpec
    client_ref: str
    def __init__(self, task: _Optional[_Union[_task_pb2.TaskSpec, _Mapping]] = ..., client_ref: _Optional[str] = ...) -> None: ...

class SubmitTasksResponse(_message.Message):
    __slots__ = ("client_ref", "submitted", "error")
    CLIENT_REF_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    client_ref: str
    submitted: SubmitTaskResponse
    error: _errors_pb2.Error
    def __init__(self, client_ref: _Optional[str] = ..., submitted: _Optional[_Union[SubmitTaskResponse, _Mapping]] = ..., error: _Optional[_Union[_errors_pb2.Error, _Mapping]] = ...) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ("task_id", "omit_outputs")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    OMIT_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    omit_outputs: bool
    def __init__(self, task_id: _Optional[str] = ..., omit_outputs: bool = ...) -> None: ...

class GetTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class WatchTaskRequest(_message.Message):
    __slots__ = ("task_id", "after_sequence")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    after_sequence: int
    def __init__(self, task_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class WatchTaskResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _task_pb2.TaskEvent
    def __init__(self, event: _Optional[_Union[_task_pb2.TaskEvent, _Mapping]] = ...) -> None: ...

class CancelTaskRequest(_message.Message):
    __slots__ = ("task_id", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelTaskResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _task_pb2.TaskState
    def __init__(self, state: _Optional[_Union[_task_pb2.TaskState, str]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("tenant", "states", "page_size", "page_token")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    states: _containers.RepeatedScalarFieldContainer[_task_pb2.TaskState]
    page_size: int
    page_token: str
    def __init__(self, tenant: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_task_pb2.TaskState, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_page_token")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[_task_pb2.Task]
    next_page_token: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[_task_pb2.Task, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RunTaskRequest(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.TaskSpec
    def __init__(self, task: _Optional[_Union[_task_pb2.TaskSpec, _Mapping]] = ...) -> None: ...

class RunTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class GetClusterStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetClusterStatusResponse(_message.Message):
    __slots__ = ("workers", "queue", "running")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerStatus]
    queue: _containers.RepeatedCompositeFieldContainer[QueueDepth]
    running: int
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerStatus, _Mapping]]] = ..., queue: _Optional[_Iterable[_Union[QueueDepth, _Mapping]]] = ..., running: _Optional[int] = ...) -> None: ...

class WorkerStatus(_message.Message):
    __slots__ = ("worker_id", "kind", "labels", "slots", "credit", "in_flight", "health", "quarantined", "draining", "connected_for")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FOR_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    kind: _worker_hub_pb2.WorkerKind
    labels: _containers.ScalarMap[str, str]
    slots: int
    credit: int
    in_flight: int
    health: float
    quarantined: bool
    draining: bool
    connected_for: _duration_pb2.Duration
    def __init__(self, worker_id: _Optional[str] = ..., kind: _Optional[_Union[_worker_hub_pb2.WorkerKind, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., slots: _Optional[int] = ..., credit: _Optional[int] = ..., in_flight: _Optional[int] = ..., health: _Optional[float] = ..., quarantined: bool = ..., draining: bool = ..., connected_for: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class QueueDepth(_message.Message):
    __slots__ = ("priority", "queued")
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    priority: _task_pb2.Priority
    queued: int
    def __init__(self, priority: _Optional[_Union[_task_pb2.Priority, str]] = ..., queued: _Optional[int] = ...) -> None: ...
