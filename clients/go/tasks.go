package drover

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/drover-dev/drover/clients/go/gen/drover/v1"
)

// SubmitOption sets a field of the submitted [pb.TaskSpec] for one call; the caller's spec is
// left as it was.
type SubmitOption func(*pb.TaskSpec)

// WithIdempotencyKey makes a repeated submit with the same tenant and key return the existing
// task (created = false) instead of queueing another: pass it whenever a submit may be retried.
// At most 256 characters.
func WithIdempotencyKey(key string) SubmitOption {
	return func(spec *pb.TaskSpec) { spec.IdempotencyKey = key }
}

// WithPriority sets how urgent the task is; the queue serves higher priorities first.
func WithPriority(priority pb.Priority) SubmitOption {
	return func(spec *pb.TaskSpec) { spec.Priority = priority }
}

// WithTenant sets the task's owner (1..64 characters of [A-Za-z0-9._-]; empty is "default").
func WithTenant(tenant string) SubmitOption {
	return func(spec *pb.TaskSpec) { spec.Tenant = tenant }
}

// WithTimeout bounds the task from submission to its terminal state (the server's default is
// 5 minutes, its limit 24 hours).
func WithTimeout(timeout time.Duration) SubmitOption {
	return func(spec *pb.TaskSpec) { spec.Timeout = durationpb.New(timeout) }
}

// withOptions returns spec with opts applied to a copy, or spec itself when there are none.
func withOptions(spec *pb.TaskSpec, opts []SubmitOption) *pb.TaskSpec {
	if len(opts) == 0 || spec == nil {
		return spec
	}
	spec = proto.Clone(spec).(*pb.TaskSpec)
	for _, opt := range opts {
		opt(spec)
	}
	return spec
}

// Submit queues a task. The response says its id, whether it was created (false when an
// earlier task with the same idempotency key was returned) and its state.
func (c *Client) Submit(ctx context.Context, spec *pb.TaskSpec, opts ...SubmitOption) (*pb.SubmitTaskResponse, error) {
	resp, err := c.scheduler.SubmitTask(ctx, &pb.SubmitTaskRequest{Task: withOptions(spec, opts)})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	return resp, nil
}

// Get reads a task, with the outputs of the steps finished so far.
func (c *Client) Get(ctx context.Context, taskID string) (*pb.Task, error) {
	resp, err := c.scheduler.GetTask(ctx, &pb.GetTaskRequest{TaskId: taskID})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	return resp.GetTask(), nil
}

// Cancel cancels a queued or running task (a running task's worker is told to stop) and
// returns the task's state after the call: CANCELLED, or the terminal state of a task that had
// already finished. The reason (at most 1024 characters) is recorded in the task's error.
func (c *Client) Cancel(ctx context.Context, taskID, reason string) (pb.TaskState, error) {
	resp, err := c.scheduler.CancelTask(ctx, &pb.CancelTaskRequest{TaskId: taskID, Reason: reason})
	if err != nil {
		return pb.TaskState_TASK_STATE_UNSPECIFIED, fromCall(ctx, err)
	}
	return resp.GetState(), nil
}

// WatchOption configures [Client.Watch].
type WatchOption func(*pb.WatchTaskRequest)

// AfterSequence resumes a watch: only events after this sequence number are sent (the default,
// 0, replays every retained event).
func AfterSequence(sequence uint64) WatchOption {
	return func(req *pb.WatchTaskRequest) { req.AfterSequence = sequence }
}

// Watch follows a task's events in order (queued, assigned, step_completed per step, ...,
// finished). The sequence ends after the terminal event, at the first error (yielded with a
// nil event), or when the loop stops early, which closes the stream:
//
//	for event, err := range client.Watch(ctx, id) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(event.GetSequence(), event.GetState())
//	}
func (c *Client) Watch(ctx context.Context, taskID string, opts ...WatchOption) iter.Seq2[*pb.TaskEvent, error] {
	req := &pb.WatchTaskRequest{TaskId: taskID}
	for _, opt := range opts {
		opt(req)
	}
	return func(yield func(*pb.TaskEvent, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.scheduler.WatchTask(ctx, req)
		if err != nil {
			yield(nil, fromCall(ctx, err))
			return
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, fromCall(ctx, err))
				return
			}
			event := resp.GetEvent()
			if !yield(event, nil) || event.GetFinished() != nil {
				return
			}
		}
	}
}

// Wait follows the task until its terminal state and returns it with its outputs, like
// [Client.Run] for a task submitted earlier.
func (c *Client) Wait(ctx context.Context, taskID string) (*pb.Task, error) {
	for _, err := range c.Watch(ctx, taskID) {
		if err != nil {
			return nil, err
		}
	}
	task, err := c.Get(ctx, taskID)
	if err != nil {
		return nil, err
	}
	return task, taskError(task)
}

// Run submits a task and waits for its terminal state, bounded by ctx and the task's timeout.
// It returns the finished task with its outputs; when the task did not succeed, it returns the
// task too, with an [*Error] built from the task's error (Reason "STEP_FAILED", "CANCELLED",
// "DEADLINE_EXCEEDED", ...).
func (c *Client) Run(ctx context.Context, spec *pb.TaskSpec, opts ...SubmitOption) (*pb.Task, error) {
	resp, err := c.scheduler.RunTask(ctx, &pb.RunTaskRequest{Task: withOptions(spec, opts)})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	return resp.GetTask(), taskError(resp.GetTask())
}

// List pages through tasks, newest first, filtered as req says (tenant, states, page size);
// req.PageToken is where it starts. The caller's req is not changed.
func (c *Client) List(ctx context.Context, req *pb.ListTasksRequest) iter.Seq2[*pb.Task, error] {
	return func(yield func(*pb.Task, error) bool) {
		page := proto.Clone(req).(*pb.ListTasksRequest)
		for {
			resp, err := c.scheduler.ListTasks(ctx, page)
			if err != nil {
				yield(nil, fromCall(ctx, err))
				return
			}
			for _, task := range resp.GetTasks() {
				if !yield(task, nil) {
					return
				}
			}
			if resp.GetNextPageToken() == "" {
				return
			}
			page.PageToken = resp.GetNextPageToken()
		}
	}
}

// ClusterStatus reports the connected workers, the queue depth per priority and how many tasks
// are running.
func (c *Client) ClusterStatus(ctx context.Context) (*pb.GetClusterStatusResponse, error) {
	resp, err := c.scheduler.GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	return resp, nil
}

// IsTerminal reports whether a task in this state is done: SUCCEEDED, FAILED, CANCELLED or
// EXPIRED.
func IsTerminal(state pb.TaskState) bool {
	switch state {
	case pb.TaskState_TASK_STATE_SUCCEEDED, pb.TaskState_TASK_STATE_FAILED,
		pb.TaskState_TASK_STATE_CANCELLED, pb.TaskState_TASK_STATE_EXPIRED:
		return true
	}
	return false
}

// taskError is nil for a task that succeeded (or is not finished), else the task's error as an
// [*Error].
func taskError(task *pb.Task) error {
	state := task.GetState()
	if !IsTerminal(state) || state == pb.TaskState_TASK_STATE_SUCCEEDED {
		return nil
	}
	if task.GetError() == nil {
		// The scheduler always records why; say the state rather than nothing.
		return &Error{Code: codeOf(""), Message: "task ended " + state.String() + " without an error"}
	}
	return FromProto(task.GetError())
}
