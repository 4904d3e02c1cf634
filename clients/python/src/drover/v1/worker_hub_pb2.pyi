import datetime

from drover.v1 import browser_pb2 as _browser_pb2
from drover.v1 import errors_pb2 as _errors_pb2
from drover.v1 import task_pb2 as _task_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKER_KIND_UNSPECIFIED: _ClassVar[WorkerKind]
    WORKER_KIND_BROWSER: _ClassVar[WorkerKind]
    WORKER_KIND_AI: _ClassVar[WorkerKind]
WORKER_KIND_UNSPECIFIED: WorkerKind
WORKER_KIND_BROWSER: WorkerKind
WORKER_KIND_AI: WorkerKind

class AttachRequest(_message.Message):
    __slots__ = ("hello", "credit", "ack", "progress", "result", "heartbeat")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    hello: WorkerHello
    credit: CreditUpdate
    ack: AssignmentAck
    progress: AssignmentProgress
    result: AssignmentResult
    heartbeat: WorkerHeartbeat
    def __init__(self, hello: _Optional[_Union[WorkerHello, _Mapping]] = ..., credit: _Optional[_Union[CreditUpdate, _Mapping]] = ..., ack: _Optional[_Union[AssignmentAck, _Mapping]] = ..., progress: _Optional[_Union[AssignmentProgress, _Mapping]] = ..., result: _Optional[_Union[AssignmentResult, _Mapping]] = ..., heartbeat: _Optional[_Union[WorkerHeartbeat, _Mapping]] = ...) -> None: ...

class AttachResponse(_message.Message):
    __slots__ = ("welcome", "assign", "cancel", "drain")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    welcome: HubWelcome
    assign: Assignment
    cancel: CancelAssignment
    drain: DrainWorker
    def __init__(self, welcome: _Optional[_Union[HubWelcome, _Mapping]] = ..., assign: _Optional[_Union[Assignment, _Mapping]] = ..., cancel: _Optional[_Union[CancelAssignment, _Mapping]] = ..., drain: _Optional[_Union[DrainWorker, _Mapping]] = ...) -> None: ...

class WorkerHello(_message.Message):
    __slots__ = ("worker_id", "kind", "slots", "labels", "in_flight_assignment_ids", "session_keys", "version")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_ASSIGNMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEYS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    kind: WorkerKind
    slots: int
    labels: _containers.ScalarMap[str, str]
    in_flight_assignment_ids: _containers.RepeatedScalarFieldContainer[str]
    session_keys: _containers.RepeatedScalarFieldContainer[str]
    version: str
    def __init__(self, worker_id: _Optional[str] = ..., kind: _Optional[_Union[WorkerKind, str]] = ..., slots: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., in_flight_assignment_ids: _Optional[_Iterable[str]] = ..., session_keys: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ...) -> None: ...

class CreditUpdate(_message.Message):
    __slots__ = ("grant", "revoke")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    grant: int
    revoke: int
    def __init__(self, grant: _Optional[int] = ..., revoke: _Optional[int] = ...) -> None: ...

class AssignmentAck(_message.Message):
    __slots__ = ("assignment_id",)
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    def __init__(self, assignment_id: _Optional[str] = ...) -> None: ...

class AssignmentProgress(_message.Message):
    __slots__ = ("assignment_id", "output")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    output: _task_pb2.StepOutput
    def __init__(self, assignment_id: _Optional[str] = ..., output: _Optional[_Union[_task_pb2.StepOutput, _Mapping]] = ...) -> None: ...

class AssignmentResult(_message.Message):
    __slots__ = ("assignment_id", "outputs", "error", "session_keys")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEYS_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    outputs: AssignmentOutputs
    error: _errors_pb2.Error
    session_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, assignment_id: _Optional[str] = ..., outputs: _Optional[_Union[AssignmentOutputs, _Mapping]] = ..., error: _Optional[_Union[_errors_pb2.Error, _Mapping]] = ..., session_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class AssignmentOutputs(_message.Message):
    __slots__ = ("outputs",)
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[_task_pb2.StepOutput]
    def __init__(self, outputs: _Optional[_Iterable[_Union[_task_pb2.StepOutput, _Mapping]]] = ...) -> None: ...

class WorkerHeartbeat(_message.Message):
    __slots__ = ("assignment_ids", "load")
    ASSIGNMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    assignment_ids: _containers.RepeatedScalarFieldContainer[str]
    load: float
    def __init__(self, assignment_ids: _Optional[_Iterable[str]] = ..., load: _Optional[float] = ...) -> None: ...

class HubWelcome(_message.Message):
    __slots__ = ("heartbeat_interval", "lease_duration", "unknown_assignment_ids")
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_ASSIGNMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval: _duration_pb2.Duration
    lease_duration: _duration_pb2.Duration
    unknown_assignment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lease_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., unknown_assignment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("assignment_id", "task_id", "attempt", "lease_expires_at", "deadline", "tenant", "affinity_key", "browser", "steps", "inputs")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_KEY_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    task_id: str
    attempt: int
    lease_expires_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    tenant: str
    affinity_key: str
    browser: _browser_pb2.BrowserOptions
    steps: _containers.RepeatedCompositeFieldContainer[IndexedStep]
    inputs: _containers.RepeatedCompositeFieldContainer[_task_pb2.StepOutput]
    def __init__(self, assignment_id: _Optional[str] = ..., task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., lease_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant: _Optional[str] = ..., affinity_key: _Optional[str] = ..., browser: _Optional[_Union[_browser_pb2.BrowserOptions, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[IndexedStep, _Mapping]]] = ..., inputs: _Optional[_Iterable[_Union[_task_pb2.StepOutput, _Mapping]]] = ...) -> None: ...

class IndexedStep(_message.Message):
    __slots__ = ("index", "step")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    index: int
    step: _task_pb2.Step
    def __init__(self, index: _Optional[int] = ..., step: _Optional[_Union[_task_pb2.Step, _Mapping]] = ...) -> None: ...

class CancelAssignment(_message.Message):
    __slots__ = ("assignment_id", "reason")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    reason: _errors_pb2.Error
    def __init__(self, assignment_id: _Optional[str] = ..., reason: _Optional[_Union[_errors_pb2.Error, _Mapping]] = ...) -> None: ...

class DrainWorker(_message.Message):
    __slots__ = ("grace",)
    GRACE_FIELD_NUMBER: _ClassVar[int]
    grace: _duration_pb2.Duration
    def __init__(self, grace: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
