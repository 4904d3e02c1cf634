"""What needs no server: tasks from dicts, errors read from a call's trailers, addresses."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2

from drover import DroverError, TaskSpec, task_spec
from drover.channel import DEFAULT_SCHEDULER, channel_options, resolve
from drover.spec import is_final_event, with_overrides
from drover.v1 import ai_pb2, task_pb2


def test_task_spec_reads_the_proto3_json_mapping() -> None:
    spec = task_spec(
        {
            "tenant": "demo",
            "priority": "PRIORITY_HIGH",
            "timeout": "90s",
            "idempotencyKey": "camel-case-too",
            "steps": [
                {"name": "open", "navigate": {"url": "data:text/html,hi"}, "timeout": "1.5s"},
                {
                    "chat": {
                        "model_group": "default",
                        "messages": [{"role": "CHAT_ROLE_USER", "content": "hello"}],
                        "sampling": {"temperature": 0},
                    }
                },
            ],
        }
    )
    assert spec.tenant == "demo"
    assert spec.priority == task_pb2.PRIORITY_HIGH
    assert spec.timeout.seconds == 90
    assert spec.idempotency_key == "camel-case-too"
    assert spec.steps[0].WhichOneof("kind") == "navigate"
    assert spec.steps[0].timeout.ToMilliseconds() == 1500
    chat = spec.steps[1].chat
    assert chat.messages[0].role == ai_pb2.CHAT_ROLE_USER
    assert chat.sampling.HasField("temperature") and chat.sampling.temperature == 0


def test_task_spec_takes_json_text_and_passes_messages_through() -> None:
    from_text = task_spec('{"steps": [{"navigate": {"url": "about:blank"}}]}')
    assert from_text.steps[0].navigate.url == "about:blank"
    message = TaskSpec(tenant="x")
    assert task_spec(message) is message


def test_task_spec_names_an_unknown_field() -> None:
    with pytest.raises(json_format.ParseError, match="urll"):
        task_spec({"steps": [{"navigate": {"urll": "about:blank"}}]})


def test_overrides_leave_the_callers_task_alone() -> None:
    original = TaskSpec(tenant="a", idempotency_key="k1")
    changed = with_overrides(original, idempotency_key="k2", tenant="b", priority="PRIORITY_LOW")
    assert (changed.tenant, changed.idempotency_key, changed.priority) == ("b", "k2", task_pb2.PRIORITY_LOW)
    assert (original.tenant, original.idempotency_key) == ("a", "k1")
    assert with_overrides(original) is original


def test_the_final_event_is_the_finished_one() -> None:
    assert is_final_event(task_pb2.TaskEvent(state=task_pb2.TASK_STATE_CANCELLED, finished={}))
    assert not is_final_event(task_pb2.TaskEvent(state=task_pb2.TASK_STATE_RUNNING, assigned={}))


class FailedCall(grpc.RpcError):
    """A failed call as grpc raises it: code, details and trailers."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, Any], ...] = ()
    ) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._trailers


def packed(*details: Any) -> bytes:
    status = status_pb2.Status(code=8, message="queue is full")
    for detail in details:
        wrapper = any_pb2.Any()
        wrapper.Pack(detail)
        status.details.append(wrapper)
    return status.SerializeToString()


def test_errors_carry_the_reason_fields_and_retry_delay() -> None:
    trailers = (
        ("content-type", "application/grpc"),
        (
            "grpc-status-details-bin",
            packed(
                error_details_pb2.ErrorInfo(
                    reason="QUEUE_FULL", domain="drover.dev", metadata={"queue": "normal"}
                ),
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field="task.x", description="bad")
                    ]
                ),
                error_details_pb2.RetryInfo(retry_delay={"seconds": 2, "nanos": 500_000_000}),
            ),
        ),
    )
    error = DroverError.from_rpc_error(
        FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue is full", trailers)
    )
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.reason == "QUEUE_FULL"
    assert error.metadata == {"queue": "normal"}
    assert error.fields == [("task.x", "bad")]
    assert error.retry_after == 2.5
    assert str(error) == "QUEUE_FULL: queue is full\n  task.x: bad\n  retry after 2.5s"


def test_errors_without_details_keep_code_and_message() -> None:
    error = DroverError.from_rpc_error(FailedCall(grpc.StatusCode.UNAVAILABLE, "connection refused"))
    assert (error.code, error.message, error.reason, error.fields, error.retry_after) == (
        grpc.StatusCode.UNAVAILABLE,
        "connection refused",
        None,
        [],
        None,
    )
    assert str(error) == "UNAVAILABLE: connection refused"


def test_addresses_are_taken_like_the_drover_command_takes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve("http://10.0.0.1:50051/", None).address == "10.0.0.1:50051"
    assert resolve("10.0.0.1:50051", None).credentials is None
    secure = resolve("https://drover.example:443", None)
    assert secure.address == "drover.example:443" and secure.credentials is not None
    monkeypatch.delenv("DROVER_SCHEDULER", raising=False)
    assert resolve(None, None).address == DEFAULT_SCHEDULER
    monkeypatch.setenv("DROVER_SCHEDULER", "http://from-env:1")
    assert resolve(None, None).address == "from-env:1"
    assert resolve("given:2", None).address == "given:2"


def test_callers_channel_options_win() -> None:
    options = dict(
        channel_options([("grpc.max_receive_message_length", 1), ("grpc.primary_user_agent", "me")])
    )
    assert options["grpc.max_receive_message_length"] == 1
    assert options["grpc.max_send_message_length"] > 1
    assert options["grpc.primary_user_agent"] == "me"
