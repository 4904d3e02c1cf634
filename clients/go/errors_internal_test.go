package drover

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/drover-dev/drover/clients/go/gen/drover/v1"
)

func TestFromStatusReadsDroverDetails(t *testing.T) {
	st, err := status.New(codes.ResourceExhausted, "queue is full").WithDetails(
		&errdetails.ErrorInfo{Reason: "QUEUE_FULL", Domain: ErrorDomain, Metadata: map[string]string{"step": "open"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "task.steps", Description: "must not be empty"},
		}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
	)
	if err != nil {
		t.Fatal(err)
	}
	e := FromStatus(st)
	if e.Code != codes.ResourceExhausted || e.Reason != "QUEUE_FULL" || e.Step != "open" ||
		e.RetryAfter != 1500*time.Millisecond || e.Message != "queue is full" {
		t.Errorf("%+v", e)
	}
	if d, ok := e.Field("task.steps"); !ok || d != "must not be empty" {
		t.Errorf("fields %+v", e.Fields)
	}
	if _, ok := e.Field("task"); ok {
		t.Error("Field matched a prefix")
	}
	if e.ErrorReason() != pb.ErrorReason_ERROR_REASON_QUEUE_FULL || !e.Retryable() {
		t.Errorf("reason %v retryable %v", e.ErrorReason(), e.Retryable())
	}
	if got := e.Error(); got != "drover: QUEUE_FULL: queue is full (step open) (retry after 1.5s)" {
		t.Errorf("Error() = %q", got)
	}
	if e.GRPCStatus() != st {
		t.Error("the call's status is not kept")
	}
}

func TestFromStatusIgnoresOtherDomains(t *testing.T) {
	st, _ := status.New(codes.Unavailable, "connection refused").WithDetails(
		&errdetails.ErrorInfo{Reason: "QUEUE_FULL", Domain: "example.com"})
	e := FromStatus(st)
	if e.Reason != "" || e.ErrorReason() != pb.ErrorReason_ERROR_REASON_UNSPECIFIED || !e.Retryable() {
		t.Errorf("%+v", e)
	}
	if got := e.Error(); got != "drover: Unavailable: connection refused" {
		t.Errorf("Error() = %q", got)
	}
}

func TestFromProtoMapsReasonsToTheServersCodes(t *testing.T) {
	for reason, code := range map[pb.ErrorReason]codes.Code{
		pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT: codes.InvalidArgument,
		pb.ErrorReason_ERROR_REASON_STEP_FAILED:      codes.FailedPrecondition,
		pb.ErrorReason_ERROR_REASON_WORKER_LOST:      codes.Unavailable,
		pb.ErrorReason_ERROR_REASON_QUEUE_FULL:       codes.ResourceExhausted,
		pb.ErrorReason_ERROR_REASON_CANCELLED:        codes.Canceled,
		pb.ErrorReason_ERROR_REASON_NOT_FOUND:        codes.NotFound,
		pb.ErrorReason_ERROR_REASON_INTERNAL:         codes.Internal,
	} {
		e := FromProto(&pb.Error{Reason: reason, Message: "m", Step: "s",
			Violations: []*pb.FieldViolation{{Field: "f", Description: "d"}}})
		if e.Code != code || e.ErrorReason() != reason || e.Step != "s" || len(e.Fields) != 1 {
			t.Errorf("%v: %+v", reason, e)
		}
		if e.GRPCStatus().Code() != code {
			t.Errorf("%v: status code %v", reason, e.GRPCStatus().Code())
		}
	}
	if e := FromProto(nil); e.Reason != "" || e.Code != codes.Internal {
		t.Errorf("nil: %+v", e)
	}
}

func TestCallErrorsKeepTheContextsError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := fromCall(ctx, status.Error(codes.Canceled, context.Canceled.Error()))
	if _, ok := AsError(err); !ok || !errors.Is(err, context.Canceled) {
		t.Errorf("%v", err)
	}
	err = fromCall(context.Background(), status.Error(codes.Canceled, "server cancelled"))
	if errors.Is(err, context.Canceled) {
		t.Error("a server's CANCELLED is not the caller's context")
	}
}

func TestRetryStopsAtSuccessAtAPermanentErrorOrAfterMaxAttempts(t *testing.T) {
	ctx := context.Background()
	fast := RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	busy := &Error{Code: codes.ResourceExhausted, Reason: "QUEUE_FULL", RetryAfter: time.Millisecond}
	down := &Error{Code: codes.Unavailable}
	bad := &Error{Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT"}

	script := func(results ...error) (func(context.Context) (int, error), *int) {
		calls := 0
		return func(context.Context) (int, error) {
			err := results[calls]
			calls++
			return calls, err
		}, &calls
	}

	call, calls := script(busy, down, nil)
	if n, err := Retry(ctx, fast, call); err != nil || n != 3 || *calls != 3 {
		t.Errorf("recovering: %d calls, result %d, %v", *calls, n, err)
	}
	call, calls = script(busy, bad, nil)
	if _, err := Retry(ctx, fast, call); err != bad || *calls != 2 {
		t.Errorf("permanent: %d calls, %v", *calls, err)
	}
	call, calls = script(down, down, down, nil)
	if _, err := Retry(ctx, fast, call); err != down || *calls != 3 {
		t.Errorf("exhausted: %d calls, %v", *calls, err)
	}
	call, calls = script(errors.New("not a drover error"), nil)
	if _, err := Retry(ctx, fast, call); err == nil || *calls != 1 {
		t.Errorf("foreign error: %d calls, %v", *calls, err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	call, calls = script(&Error{Code: codes.Unavailable, RetryAfter: time.Hour}, nil)
	if _, err := Retry(cancelled, fast, call); !errors.Is(err, context.Canceled) || *calls != 1 {
		t.Errorf("cancelled: %d calls, %v", *calls, err)
	}
}

func TestRetryDelayHonoursRetryInfoElseJittersTheBackoff(t *testing.T) {
	if got := retryDelay(&Error{RetryAfter: 7 * time.Second}, time.Second); got != 7*time.Second {
		t.Errorf("RetryInfo delay: %v", got)
	}
	for range 100 {
		if got := retryDelay(&Error{}, time.Second); got < 500*time.Millisecond || got > time.Second {
			t.Fatalf("jittered delay %v outside [0.5s, 1s]", got)
		}
	}
}
