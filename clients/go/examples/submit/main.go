// Command submit sends a small workflow to a Drover scheduler, prints its events as they happen,
// then the result: it opens an inline page with a product table, extracts the rows, and asks
// the AI router's `default` model group to summarise them.
//
//	drover up &                                  # scheduler on 127.0.0.1:50051
//	go run ./examples/submit -scheduler 127.0.0.1:50051
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	drover "github.com/drover-dev/drover/clients/go"
	pb "github.com/drover-dev/drover/clients/go/gen/drover/v1"
)

// page is the inline page the workflow reads, so the example needs no web server.
const page = `<!doctype html><title>Products</title>
<table id="products"><thead><tr><th>Product</th><th>Price</th><th>Stock</th></tr></thead><tbody>
<tr><td>Kettle</td> <td>24.00</td> <td>12 in stock</td></tr>
<tr><td>Toaster</td> <td>39.50</td> <td>sold out</td></tr>
<tr><td>Blender</td> <td>64.90</td> <td>5 in stock</td></tr>
</tbody></table>`

func main() {
	scheduler := flag.String("scheduler", drover.DefaultAddr, "the scheduler's address, host:port")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long to wait for the result")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *scheduler, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "submit:", err)
		var derr *drover.Error
		if errors.As(err, &derr) {
			for _, f := range derr.Fields {
				fmt.Fprintf(os.Stderr, "  %s: %s\n", f.Field, f.Description)
			}
		}
		os.Exit(1)
	}
}

// workflow is the task: navigate, extract, chat. The chat step's prompt references the
// extract step's output as ${steps.rows.values}; the scheduler fills it in.
func workflow() *pb.TaskSpec {
	return &pb.TaskSpec{
		Tenant: "examples",
		Steps: []*pb.Step{
			{Name: "open", Kind: &pb.Step_Navigate{Navigate: &pb.NavigateStep{
				Url: "data:text/html;charset=utf-8," + url.PathEscape(page),
			}}},
			{Name: "rows", Kind: &pb.Step_Extract{Extract: &pb.ExtractStep{
				Selector: "#products tbody tr",
				All:      true,
			}}},
			{Name: "summary", Kind: &pb.Step_Chat{Chat: &pb.ChatSpec{
				ModelGroup: "default",
				Messages: []*pb.ChatMessage{
					{Role: pb.ChatRole_CHAT_ROLE_SYSTEM, Content: "You summarise product tables in one sentence."},
					{Role: pb.ChatRole_CHAT_ROLE_USER, Content: "Summarise these rows: ${steps.rows.values}"},
				},
			}}},
		},
	}
}

func run(ctx context.Context, scheduler string, out io.Writer) error {
	client, err := drover.Dial(ctx, scheduler)
	if err != nil {
		return err
	}
	defer client.Close()

	submitted, err := client.Submit(ctx, workflow())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "task %s\n", submitted.GetTaskId())
	for event, err := range client.Watch(ctx, submitted.GetTaskId()) {
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  #%d %s\n", event.GetSequence(), describe(event))
	}

	task, err := client.Get(ctx, submitted.GetTaskId())
	if err != nil {
		return err
	}
	if task.GetState() != pb.TaskState_TASK_STATE_SUCCEEDED {
		return drover.FromProto(task.GetError())
	}
	for _, output := range task.GetOutputs() {
		switch {
		case output.GetExtract() != nil:
			fmt.Fprintf(out, "%s: %d rows\n", output.GetStep(), len(output.GetExtract().GetValues()))
		case output.GetChat() != nil:
			fmt.Fprintf(out, "%s: %s\n", output.GetStep(), output.GetChat().GetContent())
		case output.GetNavigate() != nil:
			fmt.Fprintf(out, "%s: %q\n", output.GetStep(), output.GetNavigate().GetTitle())
		}
	}
	return nil
}

// describe is one line about an event.
func describe(event *pb.TaskEvent) string {
	switch {
	case event.GetQueued() != nil:
		return fmt.Sprintf("queued (position %d)", event.GetQueued().GetPosition())
	case event.GetAssigned() != nil:
		return "assigned to " + event.GetAssigned().GetWorkerId()
	case event.GetStepCompleted() != nil:
		output := event.GetStepCompleted().GetOutput()
		return fmt.Sprintf("step %s done in %s", output.GetStep(), output.GetDuration().AsDuration())
	case event.GetRequeued() != nil:
		return "requeued: " + event.GetRequeued().GetCause().GetMessage()
	case event.GetFinished() != nil:
		return "finished " + event.GetState().String()
	}
	return event.GetState().String()
}
