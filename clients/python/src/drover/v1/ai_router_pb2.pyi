import datetime

from drover.v1 import ai_pb2 as _ai_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_STATE_UNSPECIFIED: _ClassVar[BreakerState]
    BREAKER_STATE_CLOSED: _ClassVar[BreakerState]
    BREAKER_STATE_HALF_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_OPEN: _ClassVar[BreakerState]
BREAKER_STATE_UNSPECIFIED: BreakerState
BREAKER_STATE_CLOSED: BreakerState
BREAKER_STATE_HALF_OPEN: BreakerState
BREAKER_STATE_OPEN: BreakerState

class ChatRequest(_message.Message):
    __slots__ = ("chat", "tenant")
    CHAT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    chat: _ai_pb2.ChatSpec
    tenant: str
    def __init__(self, chat: _Optional[_Union[_ai_pb2.ChatSpec, _Mapping]] = ..., tenant: _Optional[str] = ...) -> None: ...

class ChatResponse(_message.Message):
    __slots__ = ("completion",)
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    completion: _ai_pb2.ChatCompletion
    def __init__(self, completion: _Optional[_Union[_ai_pb2.ChatCompletion, _Mapping]] = ...) -> None: ...

class ChatStreamRequest(_message.Message):
    __slots__ = ("chat", "tenant")
    CHAT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    chat: _ai_pb2.ChatSpec
    tenant: str
    def __init__(self, chat: _Optional[_Union[_ai_pb2.ChatSpec, _Mapping]] = ..., tenant: _Optional[str] = ...) -> None: ...

class ChatStreamResponse(_message.Message):
    __slots__ = ("delta", "completion")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    delta: ChatDelta
    completion: _ai_pb2.ChatCompletion
    def __init__(self, delta: _Optional[_Union[ChatDelta, _Mapping]] = ..., completion: _Optional[_Union[_ai_pb2.ChatCompletion, _Mapping]] = ...) -> None: ...

class ChatDelta(_message.Message):
    __slots__ = ("content",)
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: str
    def __init__(self, content: _Optional[str] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("embed", "tenant")
    EMBED_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    embed: _ai_pb2.EmbedSpec
    tenant: str
    def __init__(self, embed: _Optional[_Union[_ai_pb2.EmbedSpec, _Mapping]] = ..., tenant: _Optional[str] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _ai_pb2.EmbedResult
    def __init__(self, result: _Optional[_Union[_ai_pb2.EmbedResult, _Mapping]] = ...) -> None: ...

class GetRouterStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRouterStatusResponse(_message.Message):
    __slots__ = ("deployments", "cache_entries")
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    CACHE_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[DeploymentStatus]
    cache_entries: int
    def __init__(self, deployments: _Optional[_Iterable[_Union[DeploymentStatus, _Mapping]]] = ..., cache_entries: _Optional[int] = ...) -> None: ...

class DeploymentStatus(_message.Message):
    __slots__ = ("name", "model_group", "model", "breaker", "parked_until", "outstanding", "max_concurrency", "latency_ewma", "disabled")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_GROUP_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BREAKER_FIELD_NUMBER: _ClassVar[int]
    PARKED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    LATENCY_EWMA_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    model_group: str
    model: str
    breaker: BreakerState
    parked_until: _timestamp_pb2.Timestamp
    outstanding: int
    max_concurrency: int
    latency_ewma: _duration_pb2.Duration
    disabled: bool
    def __init__(self, name: _Optional[str] = ..., model_group: _Optional[str] = ..., model: _Optional[str] = ..., breaker: _Optional[_Union[BreakerState, str]] = ..., parked_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outstanding: _Optional[int] = ..., max_concurrency: _Optional[int] = ..., latency_ewma: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., disabled: bool = ...) -> None: ...
