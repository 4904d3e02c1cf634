package drover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/drover-dev/drover/clients/go/gen/drover/v1"
)

// ErrorDomain is the ErrorInfo domain of every Drover error.
const ErrorDomain = "drover.dev"

// Error is a failed call or a failed task, as Drover reports it. Every method of [Client]
// returns one for a failed call; read it with errors.As:
//
//	var derr *drover.Error
//	if errors.As(err, &derr) && derr.Code == codes.InvalidArgument {
//		for _, f := range derr.Fields {
//			log.Printf("%s: %s", f.Field, f.Description)
//		}
//	}
//
// Branch on Code or Reason, never on Message.
type Error struct {
	// The gRPC code. For a failed task (which has no call status) it is the code a call failing
	// for the same reason returns.
	Code codes.Code
	// The ErrorInfo reason: a [pb.ErrorReason] name without "ERROR_REASON_", such as
	// "INVALID_ARGUMENT", "NOT_FOUND", "QUEUE_FULL", "STEP_FAILED". Empty when the failure did
	// not come from Drover (a connection that could not be made, a deadline that passed).
	Reason string
	// What happened, for a person to read.
	Message string
	// The failing step's name, when the error belongs to one step.
	Step string
	// The offending fields of an INVALID_ARGUMENT request (from the BadRequest detail).
	Fields []FieldViolation
	// How long to wait before trying again (from RetryInfo); zero when not given.
	RetryAfter time.Duration

	status *status.Status // the call's status, when there was a call
	cause  error          // the context's error, when the call ended with its context
}

// FieldViolation names one offending field of a request and what is wrong with it.
type FieldViolation struct {
	// The field's path, such as "task.steps[0].navigate.url".
	Field string
	// What is wrong, such as `scheme "file" is not allowed; ...`.
	Description string
}

// Error says the reason (or the code, when there is none) and the message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("drover: ")
	if e.Reason != "" {
		b.WriteString(e.Reason)
	} else {
		b.WriteString(e.Code.String())
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Step != "" {
		fmt.Fprintf(&b, " (step %s)", e.Step)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the context's error when the call ended because its context did, so
// errors.Is(err, context.DeadlineExceeded) holds.
func (e *Error) Unwrap() error {
	return e.cause
}

// GRPCStatus returns the call's status (with its details), so status.FromError and
// status.Code see through the wrapper. For a failed task it is built from Code and Message.
func (e *Error) GRPCStatus() *status.Status {
	if e.status != nil {
		return e.status
	}
	return status.New(e.Code, e.Message)
}

// ErrorReason is Reason as the proto enum; ERROR_REASON_UNSPECIFIED when there is none or this
// build does not know it.
func (e *Error) ErrorReason() pb.ErrorReason {
	return pb.ErrorReason(pb.ErrorReason_value["ERROR_REASON_"+e.Reason])
}

// Field returns the description of the violation of exactly this field, if there is one.
func (e *Error) Field(path string) (description string, ok bool) {
	for _, f := range e.Fields {
		if f.Field == path {
			return f.Description, true
		}
	}
	return "", false
}

// Retryable reports whether trying the same call again later may succeed: the server was
// overloaded (RESOURCE_EXHAUSTED, such as a full queue) or unreachable (UNAVAILABLE).
func (e *Error) Retryable() bool {
	return e.Code == codes.ResourceExhausted || e.Code == codes.Unavailable
}

// FromStatus reads a call's status: the code and message, then Drover's details (ErrorInfo,
// BadRequest, RetryInfo). A status without them still gives an *Error, with an empty Reason.
func FromStatus(st *status.Status) *Error {
	e := &Error{Code: st.Code(), Message: st.Message(), status: st}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == ErrorDomain {
				e.Reason = d.GetReason()
				e.Step = d.GetMetadata()["step"]
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Fields = append(e.Fields, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			e.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	return e
}

// FromProto reads an error carried inside a result: a failed task's error, a finished event's,
// a failed item of a SubmitTasks stream.
func FromProto(in *pb.Error) *Error {
	reason := strings.TrimPrefix(in.GetReason().String(), "ERROR_REASON_")
	if in.GetReason() == pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
		reason = ""
	}
	e := &Error{
		Code:       codeOf(reason),
		Reason:     reason,
		Message:    in.GetMessage(),
		Step:       in.GetStep(),
		RetryAfter: in.GetRetryAfter().AsDuration(),
	}
	for _, v := range in.GetViolations() {
		e.Fields = append(e.Fields, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
	}
	return e
}

// codeOf is the gRPC code the server gives a call failing for reason (services/api/src/error.rs,
// ErrorReason::code): only reasons worth retrying map to UNAVAILABLE or RESOURCE_EXHAUSTED.
func codeOf(reason string) codes.Code {
	switch reason {
	case "INVALID_ARGUMENT", "CONTEXT_LENGTH_EXCEEDED", "URL_BLOCKED", "PAYLOAD_TOO_LARGE":
		return codes.InvalidArgument
	case "ENDPOINT_REJECTED", "STEP_FAILED":
		return codes.FailedPrecondition
	case "TRANSIENT", "CIRCUIT_OPEN", "BROWSER_CRASHED", "WORKER_LOST", "STREAM_TRUNCATED", "DRAINING":
		return codes.Unavailable
	case "RATE_LIMITED", "QUEUE_FULL":
		return codes.ResourceExhausted
	case "DEADLINE_EXCEEDED":
		return codes.DeadlineExceeded
	case "CANCELLED":
		return codes.Canceled
	case "NOT_FOUND":
		return codes.NotFound
	default:
		return codes.Internal
	}
}

// fromCall turns a failed call's error into an *Error, keeping the context's error reachable
// when the call ended because ctx did.
func fromCall(ctx context.Context, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := FromStatus(st)
	if ctxErr := ctx.Err(); ctxErr != nil && (e.Code == codes.Canceled || e.Code == codes.DeadlineExceeded) {
		e.cause = ctxErr
	}
	return e
}

// AsError is errors.As for [*Error], for call sites that want a value rather than a target.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
