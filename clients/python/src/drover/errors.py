"""`DroverError`: a failed call to Drover, read from the gRPC status and its google.rpc details.

Every failed Drover RPC carries a `google.rpc.Status` in the `grpc-status-details-bin` trailer
with an `ErrorInfo` (domain "drover.dev", `reason` such as "INVALID_ARGUMENT" or "QUEUE_FULL"),
a `BadRequest` naming each offending field for INVALID_ARGUMENT, and a `RetryInfo` when the
caller may come back after a known delay. Both clients turn every `grpc.RpcError` into a
`DroverError` here, so callers branch on `reason` and never on message text. A failure that
never reached Drover (no server listening, a deadline spent on the client) has a `code` and a
`message` but no `reason`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import grpc
from google.rpc import error_details_pb2, status_pb2

#: The ErrorInfo domain of every Drover error.
ERROR_DOMAIN = "drover.dev"

_DETAILS_KEY = "grpc-status-details-bin"


class _FailedCall(Protocol):
    """What both `grpc.RpcError` flavours (sync and `grpc.aio`) offer about a failed call."""

    def code(self) -> grpc.StatusCode: ...

    def details(self) -> str | None: ...

    def trailing_metadata(self) -> Any: ...


class DroverError(Exception):
    """A call to Drover failed.

    Attributes:
        code: the gRPC status code, e.g. `grpc.StatusCode.INVALID_ARGUMENT`.
        message: the status message, for people.
        reason: the ErrorInfo reason ("INVALID_ARGUMENT", "NOT_FOUND", "QUEUE_FULL", ...), or
            None when the failure carried no Drover details (e.g. the server was unreachable).
        metadata: the ErrorInfo metadata (empty without one).
        fields: each offending field of an INVALID_ARGUMENT as `(field, description)`, the
            field as a path such as "task.steps[0].navigate.url".
        retry_after: seconds to wait before trying again, when the server said so.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        fields: Iterable[tuple[str, str]] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})
        self.fields: list[tuple[str, str]] = list(fields)
        self.retry_after = retry_after

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> DroverError:
        """Reads a failed call (sync or `grpc.aio`) with its Drover details, if any."""
        # Errors raised by grpc are also the failed call; anything else is UNKNOWN.
        call: _FailedCall | None = error if hasattr(error, "trailing_metadata") else None
        if call is None:
            return cls(grpc.StatusCode.UNKNOWN, str(error))
        code = call.code()
        message = call.details() or ""
        status = _status_details(call.trailing_metadata())
        if status is None:
            return cls(code, message)
        reason: str | None = None
        metadata: dict[str, str] = {}
        fields: list[tuple[str, str]] = []
        retry_after: float | None = None
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason or None
                metadata = dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                fields.extend((v.field, v.description) for v in bad.field_violations)
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_after = retry.retry_delay.ToTimedelta().total_seconds()
        return cls(
            code,
            message or status.message,
            reason=reason,
            metadata=metadata,
            fields=fields,
            retry_after=retry_after,
        )

    def __str__(self) -> str:
        text = f"{self.reason or self.code.name}: {self.message}"
        for field, description in self.fields:
            text += f"\n  {field}: {description}"
        if self.retry_after is not None:
            text += f"\n  retry after {self.retry_after:g}s"
        return text

    def __repr__(self) -> str:
        return (
            f"DroverError(code={self.code.name}, reason={self.reason!r}, "
            f"message={self.message!r}, fields={self.fields!r}, retry_after={self.retry_after!r})"
        )


def _status_details(metadata: Any) -> status_pb2.Status | None:
    """The google.rpc.Status in a call's trailers, if it sent one."""
    for key, value in metadata or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raises a `grpc.RpcError` from the block as a `DroverError`."""
    try:
        yield
    except grpc.RpcError as error:
        raise DroverError.from_rpc_error(error) from error
