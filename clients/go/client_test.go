package drover_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	drover "github.com/drover-dev/drover/clients/go"
	pb "github.com/drover-dev/drover/clients/go/gen/drover/v1"
)

// connect dials the test's Drover; the context bounds the whole test.
func connect(t *testing.T) (context.Context, *drover.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	client, err := drover.Dial(ctx, schedulerAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return ctx, client
}

// dataURL is an inline page, so browser steps need no web server.
func dataURL(html string) string {
	return "data:text/html;charset=utf-8," + url.PathEscape(html)
}

func navigate(name, url string) *pb.Step {
	return &pb.Step{Name: name, Kind: &pb.Step_Navigate{Navigate: &pb.NavigateStep{Url: url}}}
}

// eventKind names an event's detail, for messages and comparisons.
func eventKind(event *pb.TaskEvent) string {
	switch {
	case event.GetQueued() != nil:
		return "queued"
	case event.GetAssigned() != nil:
		return "assigned"
	case event.GetStepCompleted() != nil:
		return "step_completed:" + event.GetStepCompleted().GetOutput().GetStep()
	case event.GetRequeued() != nil:
		return "requeued"
	case event.GetFinished() != nil:
		return "finished"
	}
	return "unknown"
}

func TestSubmitWatchesEventsInOrderAndGetsOutputs(t *testing.T) {
	ctx, client := connect(t)
	spec := &pb.TaskSpec{Steps: []*pb.Step{
		navigate("open", dataURL(`<title>Greeting</title><h1>Hello</h1>`)),
		{Name: "heading", Kind: &pb.Step_Extract{Extract: &pb.ExtractStep{Selector: "h1"}}},
		{Name: "sum", Kind: &pb.Step_Evaluate{Evaluate: &pb.EvaluateStep{Expression: "1 + 2"}}},
	}}
	submitted, err := client.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !submitted.GetCreated() || submitted.GetTaskId() == "" {
		t.Fatalf("submit: %v", submitted)
	}

	var kinds []string
	var last *pb.TaskEvent
	for event, err := range client.Watch(ctx, submitted.GetTaskId()) {
		if err != nil {
			t.Fatalf("watch after %v: %v", kinds, err)
		}
		if event.GetTaskId() != submitted.GetTaskId() {
			t.Errorf("event of task %q, want %q", event.GetTaskId(), submitted.GetTaskId())
		}
		if want := uint64(len(kinds) + 1); event.GetSequence() != want {
			t.Errorf("event %s has sequence %d, want %d", eventKind(event), event.GetSequence(), want)
		}
		kinds = append(kinds, eventKind(event))
		last = event
	}
	want := []string{"queued", "assigned", "step_completed:open", "step_completed:heading", "step_completed:sum", "finished"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	if last.GetState() != pb.TaskState_TASK_STATE_SUCCEEDED || last.GetFinished().GetError() != nil {
		t.Fatalf("finished %v with %v", last.GetState(), last.GetFinished().GetError())
	}

	task, err := client.Get(ctx, submitted.GetTaskId())
	if err != nil {
		t.Fatal(err)
	}
	if task.GetState() != pb.TaskState_TASK_STATE_SUCCEEDED || len(task.GetOutputs()) != 3 {
		t.Fatalf("task %v with %d outputs", task.GetState(), len(task.GetOutputs()))
	}
	outputs := task.GetOutputs()
	if got := outputs[0].GetNavigate().GetTitle(); got != "Greeting" {
		t.Errorf("navigate title %q", got)
	}
	if got := outputs[1].GetExtract().GetValues(); !slices.Equal(got, []string{"Hello"}) {
		t.Errorf("extract values %q", got)
	}
	if got := outputs[2].GetEvaluate().GetJson(); got != "3" {
		t.Errorf("evaluate json %q", got)
	}
	// The same task, watched again from its last event, yields nothing more.
	for event, err := range client.Watch(ctx, task.GetId(), drover.AfterSequence(last.GetSequence())) {
		t.Errorf("resumed watch yielded %v, %v", event, err)
	}
}

func TestCancelStopsARunningTask(t *testing.T) {
	ctx, client := connect(t)
	spec := &pb.TaskSpec{Steps: []*pb.Step{
		navigate("open", dataURL(`<p>nothing else will appear</p>`)),
		{
			Name:    "wait",
			Timeout: durationpb.New(25 * time.Second),
			Kind:    &pb.Step_WaitFor{WaitFor: &pb.WaitForStep{Condition: &pb.WaitForStep_Selector{Selector: "#never"}}},
		},
	}}
	submitted, err := client.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	id := submitted.GetTaskId()

	// Cancel once a worker has it. (The browser pool reports step outputs with its result, not
	// one by one, so "running" is all a client can see of a task inside its endless wait.)
	var seen uint64
	for event, err := range client.Watch(ctx, id) {
		if err != nil {
			t.Fatal(err)
		}
		seen = event.GetSequence()
		if event.GetFinished() != nil {
			t.Fatalf("finished %v before it was cancelled: %v", event.GetState(), event.GetFinished().GetError())
		}
		if event.GetAssigned() != nil {
			break
		}
	}
	if state, err := client.Get(ctx, id); err != nil || state.GetState() != pb.TaskState_TASK_STATE_RUNNING {
		t.Fatalf("before cancel: %v, %v", state.GetState(), err)
	}

	state, err := client.Cancel(ctx, id, "test is done waiting")
	if err != nil {
		t.Fatal(err)
	}
	if state != pb.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("cancel returned %v", state)
	}

	var finished *pb.TaskEvent
	for event, err := range client.Watch(ctx, id, drover.AfterSequence(seen)) {
		if err != nil {
			t.Fatal(err)
		}
		finished = event
	}
	if finished.GetFinished() == nil || finished.GetState() != pb.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("last event %s in %v", eventKind(finished), finished.GetState())
	}
	if reason := finished.GetFinished().GetError().GetReason(); reason != pb.ErrorReason_ERROR_REASON_CANCELLED {
		t.Errorf("finished with reason %v", reason)
	}

	// Wait reports the cancellation as an error, with the task.
	task, err := client.Wait(ctx, id)
	var derr *drover.Error
	if !errors.As(err, &derr) || derr.Reason != "CANCELLED" || derr.Code != codes.Canceled {
		t.Fatalf("wait: %v", err)
	}
	if !strings.Contains(derr.Message, "test is done waiting") {
		t.Errorf("cancel reason not recorded: %q", derr.Message)
	}
	if task.GetState() != pb.TaskState_TASK_STATE_CANCELLED || task.GetError().GetReason() != pb.ErrorReason_ERROR_REASON_CANCELLED {
		t.Errorf("task %v with error %v", task.GetState(), task.GetError())
	}
	// Cancelling a finished task changes nothing.
	if state, err := client.Cancel(ctx, id, "again"); err != nil || state != pb.TaskState_TASK_STATE_CANCELLED {
		t.Errorf("second cancel: %v, %v", state, err)
	}
}

func TestIdempotentResubmitReturnsTheSameTask(t *testing.T) {
	ctx, client := connect(t)
	spec := &pb.TaskSpec{Steps: []*pb.Step{navigate("open", "about:blank")}}
	key := fmt.Sprintf("go-client-%d", time.Now().UnixNano())

	first, err := client.Submit(ctx, spec, drover.WithIdempotencyKey(key), drover.WithPriority(pb.Priority_PRIORITY_HIGH))
	if err != nil {
		t.Fatal(err)
	}
	again, err := client.Submit(ctx, spec, drover.WithIdempotencyKey(key), drover.WithPriority(pb.Priority_PRIORITY_HIGH))
	if err != nil {
		t.Fatal(err)
	}
	if again.GetTaskId() != first.GetTaskId() || !first.GetCreated() || again.GetCreated() {
		t.Fatalf("first %v, again %v", first, again)
	}
	other, err := client.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if other.GetTaskId() == first.GetTaskId() || !other.GetCreated() {
		t.Fatalf("a submit without the key returned %v", other)
	}
	if spec.GetIdempotencyKey() != "" || spec.GetPriority() != pb.Priority_PRIORITY_UNSPECIFIED {
		t.Errorf("options changed the caller's spec: %v", spec)
	}

	for _, id := range []string{first.GetTaskId(), other.GetTaskId()} {
		task, err := client.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if id == first.GetTaskId() && (task.GetSpec().GetIdempotencyKey() != key || task.GetSpec().GetPriority() != pb.Priority_PRIORITY_HIGH) {
			t.Errorf("options not applied: %v", task.GetSpec())
		}
	}
}

func TestInvalidArgumentNamesTheField(t *testing.T) {
	ctx, client := connect(t)
	cases := []struct {
		name  string
		spec  *pb.TaskSpec
		field string
	}{
		{"no steps", &pb.TaskSpec{}, "task.steps"},
		{"file url", &pb.TaskSpec{Steps: []*pb.Step{navigate("open", "file:///etc/passwd")}}, "task.steps[0].navigate.url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := client.Submit(ctx, c.spec)
			var derr *drover.Error
			if !errors.As(err, &derr) {
				t.Fatalf("want *drover.Error, got %T %v", err, err)
			}
			if derr.Code != codes.InvalidArgument || derr.Reason != "INVALID_ARGUMENT" ||
				derr.ErrorReason() != pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT {
				t.Errorf("code %v reason %q", derr.Code, derr.Reason)
			}
			if description, ok := derr.Field(c.field); !ok || description == "" {
				t.Errorf("no violation of %s in %+v", c.field, derr.Fields)
			}
			if derr.Retryable() {
				t.Error("an invalid request is not worth retrying")
			}
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("status.Code sees %v", status.Code(err))
			}
			// Retry gives up at once on it.
			calls := 0
			_, err = drover.Retry(ctx, drover.RetryPolicy{}, func(ctx context.Context) (*pb.SubmitTaskResponse, error) {
				calls++
				return client.Submit(ctx, c.spec)
			})
			if calls != 1 || err == nil {
				t.Errorf("retry made %d calls, err %v", calls, err)
			}
		})
	}
}

func TestUnknownTaskIsNotFound(t *testing.T) {
	ctx, client := connect(t)
	_, err := client.Get(ctx, "no-such-task")
	if derr, ok := drover.AsError(err); !ok || derr.Code != codes.NotFound || derr.Reason != "NOT_FOUND" {
		t.Errorf("get: %v", err)
	}
	_, err = client.Cancel(ctx, "no-such-task", "")
	if derr, ok := drover.AsError(err); !ok || derr.Code != codes.NotFound {
		t.Errorf("cancel: %v", err)
	}
}

func TestRunReturnsAFailedTaskWithItsError(t *testing.T) {
	ctx, client := connect(t)
	spec := &pb.TaskSpec{Steps: []*pb.Step{
		navigate("open", "about:blank"),
		{Name: "boom", Kind: &pb.Step_Evaluate{Evaluate: &pb.EvaluateStep{Expression: `(() => { throw new Error("boom") })()`}}},
	}}
	task, err := client.Run(ctx, spec)
	derr, ok := drover.AsError(err)
	if !ok || derr.Reason != "STEP_FAILED" || derr.Step != "boom" {
		t.Fatalf("run: %v", err)
	}
	if task.GetState() != pb.TaskState_TASK_STATE_FAILED || task.GetError().GetStep() != "boom" {
		t.Errorf("task %v with error %v", task.GetState(), task.GetError())
	}

	spec.Steps = spec.Steps[:1]
	task, err = client.Run(ctx, spec, drover.WithTenant("go-run"))
	if err != nil || task.GetState() != pb.TaskState_TASK_STATE_SUCCEEDED || task.GetSpec().GetTenant() != "go-run" {
		t.Fatalf("run: %v, %v", task.GetState(), err)
	}
}

func TestListPagesThroughATenantsTasks(t *testing.T) {
	ctx, client := connect(t)
	tenant := fmt.Sprintf("go-list-%d", time.Now().UnixNano())
	spec := &pb.TaskSpec{Steps: []*pb.Step{navigate("open", "about:blank")}}
	var ids []string
	for range 3 {
		task, err := client.Run(ctx, spec, drover.WithTenant(tenant))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.GetId())
	}
	slices.Reverse(ids) // newest first
	var listed []string
	for task, err := range client.List(ctx, &pb.ListTasksRequest{Tenant: tenant, PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, task.GetId())
	}
	if !slices.Equal(listed, ids) {
		t.Errorf("listed %v, want %v", listed, ids)
	}
}

func TestClusterStatusShowsTheWorkers(t *testing.T) {
	ctx, client := connect(t)
	// The workers attach just after the scheduler starts listening; wait for both.
	for {
		cluster, err := client.ClusterStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []pb.WorkerKind
		for _, worker := range cluster.GetWorkers() {
			kinds = append(kinds, worker.GetKind())
		}
		if slices.Contains(kinds, pb.WorkerKind_WORKER_KIND_BROWSER) && slices.Contains(kinds, pb.WorkerKind_WORKER_KIND_AI) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("workers %v", kinds)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestDialFailsWhenNothingListens(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	client, err := drover.Dial(ctx, addr)
	if err == nil {
		client.Close()
		t.Fatal("dial succeeded with nothing listening")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dial: %v", err)
	}
}

func TestExampleSubmitPrintsTheSummary(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", "./examples/submit", "-scheduler", schedulerAddr)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("examples/submit: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"finished TASK_STATE_SUCCEEDED", "step summary done", "rows: 3 rows\n", "summary: "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	_, summary, _ := strings.Cut(text, "\nsummary: ")
	if strings.TrimSpace(summary) == "" || strings.Contains(summary, "${steps") {
		t.Errorf("summary empty or its prompt's reference unresolved:\n%s", text)
	}
}
