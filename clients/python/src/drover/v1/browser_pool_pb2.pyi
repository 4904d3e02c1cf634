import datetime

from drover.v1 import browser_pb2 as _browser_pb2
from drover.v1 import task_pb2 as _task_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BrowserState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BROWSER_STATE_UNSPECIFIED: _ClassVar[BrowserState]
    BROWSER_STATE_STARTING: _ClassVar[BrowserState]
    BROWSER_STATE_READY: _ClassVar[BrowserState]
    BROWSER_STATE_DRAINING: _ClassVar[BrowserState]
    BROWSER_STATE_BACKING_OFF: _ClassVar[BrowserState]
BROWSER_STATE_UNSPECIFIED: BrowserState
BROWSER_STATE_STARTING: BrowserState
BROWSER_STATE_READY: BrowserState
BROWSER_STATE_DRAINING: BrowserState
BROWSER_STATE_BACKING_OFF: BrowserState

class ExecuteBrowserJobRequest(_message.Message):
    __slots__ = ("tenant", "steps", "browser", "affinity_key", "timeout")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_KEY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    steps: _containers.RepeatedCompositeFieldContainer[_task_pb2.Step]
    browser: _browser_pb2.BrowserOptions
    affinity_key: str
    timeout: _duration_pb2.Duration
    def __init__(self, tenant: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[_task_pb2.Step, _Mapping]]] = ..., browser: _Optional[_Union[_browser_pb2.BrowserOptions, _Mapping]] = ..., affinity_key: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ExecuteBrowserJobResponse(_message.Message):
    __slots__ = ("outputs",)
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[_task_pb2.StepOutput]
    def __init__(self, outputs: _Optional[_Iterable[_Union[_task_pb2.StepOutput, _Mapping]]] = ...) -> None: ...

class GetPoolStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPoolStatusResponse(_message.Message):
    __slots__ = ("browsers", "capacity", "in_use", "accepting", "system_memory_used")
    BROWSERS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    IN_USE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTING_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_MEMORY_USED_FIELD_NUMBER: _ClassVar[int]
    browsers: _containers.RepeatedCompositeFieldContainer[BrowserStatus]
    capacity: int
    in_use: int
    accepting: bool
    system_memory_used: float
    def __init__(self, browsers: _Optional[_Iterable[_Union[BrowserStatus, _Mapping]]] = ..., capacity: _Optional[int] = ..., in_use: _Optional[int] = ..., accepting: bool = ..., system_memory_used: _Optional[float] = ...) -> None: ...

class BrowserStatus(_message.Message):
    __slots__ = ("id", "pid", "state", "pages_idle", "pages_in_use", "tasks_served", "memory_bytes", "age", "contexts")
    ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGES_IDLE_FIELD_NUMBER: _ClassVar[int]
    PAGES_IN_USE_FIELD_NUMBER: _ClassVar[int]
    TASKS_SERVED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    CONTEXTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    pid: int
    state: BrowserState
    pages_idle: int
    pages_in_use: int
    tasks_served: int
    memory_bytes: int
    age: _duration_pb2.Duration
    contexts: int
    def __init__(self, id: _Optional[str] = ..., pid: _Optional[int] = ..., state: _Optional[_Union[BrowserState, str]] = ..., pages_idle: _Optional[int] = ..., pages_in_use: _Optional[int] = ..., tasks_served: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., contexts: _Optional[int] = ...) -> None: ...
