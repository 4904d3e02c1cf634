import datetime

from drover.v1 import ai_pb2 as _ai_pb2
from drover.v1 import browser_pb2 as _browser_pb2
from drover.v1 import errors_pb2 as _errors_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_LOW: _ClassVar[Priority]
    PRIORITY_NORMAL: _ClassVar[Priority]
    PRIORITY_HIGH: _ClassVar[Priority]
    PRIORITY_URGENT: _ClassVar[Priority]

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_QUEUED: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_SUCCEEDED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_CANCELLED: _ClassVar[TaskState]
    TASK_STATE_EXPIRED: _ClassVar[TaskState]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_LOW: Priority
PRIORITY_NORMAL: Priority
PRIORITY_HIGH: Priority
PRIORITY_URGENT: Priority
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_QUEUED: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_SUCCEEDED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_CANCELLED: TaskState
TASK_STATE_EXPIRED: TaskState

class TaskSpec(_message.Message):
    __slots__ = ("tenant", "priority", "timeout", "queue_timeout", "idempotency_key", "affinity_key", "retry_policy", "steps", "browser", "worker_selector", "labels")
    class WorkerSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_KEY_FIELD_NUMBER: _ClassVar[int]
    RETRY_POLICY_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    WORKER_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    priority: Priority
    timeout: _duration_pb2.Duration
    queue_timeout: _duration_pb2.Duration
    idempotency_key: str
    affinity_key: str
    retry_policy: RetryPolicy
    steps: _containers.RepeatedCompositeFieldContainer[Step]
    browser: _browser_pb2.BrowserOptions
    worker_selector: _containers.ScalarMap[str, str]
    labels: _containers.ScalarMap[str, str]
    def __init__(self, tenant: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., queue_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., affinity_key: _Optional[str] = ..., retry_policy: _Optional[_Union[RetryPolicy, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[Step, _Mapping]]] = ..., browser: _Optional[_Union[_browser_pb2.BrowserOptions, _Mapping]] = ..., worker_selector: _Optional[_Mapping[str, str]] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_attempts", "initial_backoff", "max_backoff")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    initial_backoff: _duration_pb2.Duration
    max_backoff: _duration_pb2.Duration
    def __init__(self, max_attempts: _Optional[int] = ..., initial_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Step(_message.Message):
    __slots__ = ("name", "timeout", "navigate", "click", "type_text", "wait_for", "extract", "evaluate", "screenshot", "pdf", "get_cookies", "set_cookies", "export_cookies", "chat", "embed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    NAVIGATE_FIELD_NUMBER: _ClassVar[int]
    CLICK_FIELD_NUMBER: _ClassVar[int]
    TYPE_TEXT_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_FIELD_NUMBER: _ClassVar[int]
    EXTRACT_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_FIELD_NUMBER: _ClassVar[int]
    SCREENSHOT_FIELD_NUMBER: _ClassVar[int]
    PDF_FIELD_NUMBER: _ClassVar[int]
    GET_COOKIES_FIELD_NUMBER: _ClassVar[int]
    SET_COOKIES_FIELD_NUMBER: _ClassVar[int]
    EXPORT_COOKIES_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    EMBED_FIELD_NUMBER: _ClassVar[int]
    name: str
    timeout: _duration_pb2.Duration
    navigate: _browser_pb2.NavigateStep
    click: _browser_pb2.ClickStep
    type_text: _browser_pb2.TypeTextStep
    wait_for: _browser_pb2.WaitForStep
    extract: _browser_pb2.ExtractStep
    evaluate: _browser_pb2.EvaluateStep
    screenshot: _browser_pb2.ScreenshotStep
    pdf: _browser_pb2.PdfStep
    get_cookies: _browser_pb2.GetCookiesStep
    set_cookies: _browser_pb2.SetCookiesStep
    export_cookies: _browser_pb2.ExportCookiesStep
    chat: _ai_pb2.ChatSpec
    embed: _ai_pb2.EmbedSpec
    def __init__(self, name: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., navigate: _Optional[_Union[_browser_pb2.NavigateStep, _Mapping]] = ..., click: _Optional[_Union[_browser_pb2.ClickStep, _Mapping]] = ..., type_text: _Optional[_Union[_browser_pb2.TypeTextStep, _Mapping]] = ..., wait_for: _Optional[_Union[_browser_pb2.WaitForStep, _Mapping]] = ..., extract: _Optional[_Union[_browser_pb2.ExtractStep, _Mapping]] = ..., evaluate: _Optional[_Union[_browser_pb2.EvaluateStep, _Mapping]] = ..., screenshot: _Optional[_Union[_browser_pb2.ScreenshotStep, _Mapping]] = ..., pdf: _Optional[_Union[_browser_pb2.PdfStep, _Mapping]] = ..., get_cookies: _Optional[_Union[_browser_pb2.GetCookiesStep, _Mapping]] = ..., set_cookies: _Optional[_Union[_browser_pb2.SetCookiesStep, _Mapping]] = ..., export_cookies: _Optional[_Union[_browser_pb2.ExportCookiesStep, _Mapping]] = ..., chat: _Optional[_Union[_ai_pb2.ChatSpec, _Mapping]] = ..., embed: _Optional[_Union[_ai_pb2.EmbedSpec, _Mapping]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "spec", "state", "attempt", "created_at", "started_at", "finished_at", "outputs", "error", "worker_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: TaskSpec
    state: TaskState
    attempt: int
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    outputs: _containers.RepeatedCompositeFieldContainer[StepOutput]
    error: _errors_pb2.Error
    worker_id: str
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[TaskSpec, _Mapping]] = ..., state: _Optional[_Union[TaskState, str]] = ..., attempt: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outputs: _Optional[_Iterable[_Union[StepOutput, _Mapping]]] = ..., error: _Optional[_Union[_errors_pb2.Error, _Mapping]] = ..., worker_id: _Optional[str] = ...) -> None: ...

class StepOutput(_message.Message):
    __slots__ = ("step", "index", "duration", "none", "navigate", "extract", "evaluate", "binary", "cookies", "chat", "embed")
    STEP_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    NONE_FIELD_NUMBER: _ClassVar[int]
    NAVIGATE_FIELD_NUMBER: _ClassVar[int]
    EXTRACT_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    EMBED_FIELD_NUMBER: _ClassVar[int]
    step: str
    index: int
    duration: _duration_pb2.Duration
    none: NoOutput
    navigate: NavigateOutput
    extract: ExtractOutput
    evaluate: EvaluateOutput
    binary: BinaryOutput
    cookies: CookiesOutput
    chat: _ai_pb2.ChatCompletion
    embed: _ai_pb2.EmbedResult
    def __init__(self, step: _Optional[str] = ..., index: _Optional[int] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., none: _Optional[_Union[NoOutput, _Mapping]] = ..., navigate: _Optional[_Union[NavigateOutput, _Mapping]] = ..., extract: _Optional[_Union[ExtractOutput, _Mapping]] = ..., evaluate: _Optional[_Union[EvaluateOutput, _Mapping]] = ..., binary: _Optional[_Union[BinaryOutput, _Mapping]] = ..., cookies: _Optional[_Union[CookiesOutput, _Mapping]] = ..., chat: _Optional[_Union[_ai_pb2.ChatCompletion, _Mapping]] = ..., embed: _Optional[_Union[_ai_pb2.EmbedResult, _Mapping]] = ...) -> None: ...

class NoOutput(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NavigateOutput(_message.Message):
    __slots__ = ("url", "title", "status")
    URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    url: str
    title: str
    status: int
    def __init__(self, url: _Optional[str] = ..., title: _Optional[str] = ..., status: _Optional[int] = ...) -> None: ...

class ExtractOutput(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluateOutput(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class BinaryOutput(_message.Message):
    __slots__ = ("content_type", "data")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    data: bytes
    def __init__(self, content_type: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class CookiesOutput(_message.Message):
    __slots__ = ("cookies",)
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    cookies: _containers.RepeatedCompositeFieldContainer[_browser_pb2.Cookie]
    def __init__(self, cookies: _Optional[_Iterable[_Union[_browser_pb2.Cookie, _Mapping]]] = ...) -> None: ...

class TaskEvent(_message.Message):
    __slots__ = ("task_id", "sequence", "at", "state", "queued", "assigned", "step_completed", "requeued", "finished")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    STEP_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    REQUEUED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    sequence: int
    at: _timestamp_pb2.Timestamp
    state: TaskState
    queued: TaskQueued
    assigned: TaskAssigned
    step_completed: StepCompleted
    requeued: TaskRequeued
    finished: TaskFinished
    def __init__(self, task_id: _Optional[str] = ..., sequence: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[TaskState, str]] = ..., queued: _Optional[_Union[TaskQueued, _Mapping]] = ..., assigned: _Optional[_Union[TaskAssigned, _Mapping]] = ..., step_completed: _Optional[_Union[StepCompleted, _Mapping]] = ..., requeued: _Optional[_Union[TaskRequeued, _Mapping]] = ..., finished: _Optional[_Union[TaskFinished, _Mapping]] = ...) -> None: ...

class TaskQueued(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...

class TaskAssigned(_message.Message):
    __slots__ = ("worker_id", "attempt")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    attempt: int
    def __init__(self, worker_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class StepCompleted(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: StepOutput
    def __init__(self, output: _Optional[_Union[StepOutput, _Mapping]] = ...) -> None: ...

class TaskRequeued(_message.Message):
    __slots__ = ("cause", "next_attempt")
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    cause: _errors_pb2.Error
    next_attempt: int
    def __init__(self, cause: _Optional[_Union[_errors_pb2.Error, _Mapping]] = ..., next_attempt: _Optional[int] = ...) -> None: ...

class TaskFinished(_message.Message):
    __slots__ = ("error",)
    ERROR_FIELD_NUMBER: _ClassVar[int]
    error: _errors_pb2.Error
    def __init__(self, error: _Optional[_Union[_errors_pb2.Error, _Mapping]] = ...) -> None: ...
