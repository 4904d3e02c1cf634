// Package drover is a Go client for Drover's scheduler (the drover.v1.SchedulerService API).
//
// The wire types are generated from proto/ into the gen/drover/v1 package (imported here as pb);
// this package adds what a caller would otherwise write by hand around them:
//
//   - [Dial] connects and waits until the scheduler answers (bounded by the context);
//   - [Client.Submit], [Client.Get], [Client.Cancel], [Client.ClusterStatus] are the unary calls,
//     with [SubmitOption] values for the fields a submitter usually sets per call;
//   - [Client.Watch] follows a task's events as an iterator that ends after the terminal event;
//   - [Client.Run] submits a task and waits for its terminal state;
//   - every failed call returns an [*Error] (code, ErrorInfo reason, offending fields, retry
//     hint), and [Retry] repeats a call while the error says retrying may help.
//
// Anything else is one call away on [Client.Scheduler], the generated client.
package drover

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/drover-dev/drover/clients/go/gen/drover/v1"
)

// DefaultAddr is where `drover up` listens unless told otherwise.
const DefaultAddr = "127.0.0.1:50051"

// maxMessage bounds an answer: task outputs carry screenshots and PDFs (the scheduler bounds
// them per task), well past gRPC's 4 MiB default.
const maxMessage = 80 << 20

// Client calls one scheduler. It is safe for concurrent use; Close it when done.
type Client struct {
	conn      *grpc.ClientConn
	scheduler pb.SchedulerServiceClient
}

// Option configures [Dial].
type Option func(*dialConfig)

type dialConfig struct {
	creds   credentials.TransportCredentials
	options []grpc.DialOption
}

// WithTransportCredentials sets TLS (or other) credentials; the default is plaintext, as
// `drover up` serves.
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(c *dialConfig) { c.creds = creds }
}

// WithDialOptions passes options through to [grpc.NewClient] (interceptors, keepalive, ...).
func WithDialOptions(options ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.options = append(c.options, options...) }
}

// Dial connects to the scheduler at addr and waits until the connection is ready or ctx ends,
// so a wrong address fails here rather than at the first call. addr is "host:port", plaintext
// unless [WithTransportCredentials] says otherwise; the drover CLI's "http://host:port" is
// accepted too, and "https://host:port" means TLS with the system's roots.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	var config dialConfig
	for _, opt := range opts {
		opt(&config)
	}
	target, tls := strings.CutPrefix(addr, "https://")
	target = strings.TrimPrefix(target, "http://")
	if config.creds == nil {
		if tls {
			config.creds = credentials.NewTLS(nil)
		} else {
			config.creds = insecure.NewCredentials()
		}
	}
	options := append([]grpc.DialOption{
		grpc.WithTransportCredentials(config.creds),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessage),
			grpc.MaxCallSendMsgSize(maxMessage),
		),
	}, config.options...)
	conn, err := grpc.NewClient(target, options...)
	if err != nil {
		return nil, fmt.Errorf("drover: dial %s: %w", addr, err)
	}
	if err := waitReady(ctx, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("drover: dial %s: %w", addr, err)
	}
	return &Client{conn: conn, scheduler: pb.NewSchedulerServiceClient(conn)}, nil
}

// waitReady connects and waits for the READY state; failures in between are retried by gRPC
// with its own backoff until ctx ends.
func waitReady(ctx context.Context, conn *grpc.ClientConn) error {
	conn.Connect()
	for {
		state := conn.GetState()
		if state == connectivity.Ready {
			return nil
		}
		if state == connectivity.Shutdown {
			return fmt.Errorf("connection shut down")
		}
		if !conn.WaitForStateChange(ctx, state) {
			return fmt.Errorf("not ready (%s): %w", strings.ToLower(state.String()), ctx.Err())
		}
	}
}

// Close ends the connection.
func (c *Client) Close() error {
	return c.conn.Close()
}

// Scheduler is the generated client on the same connection, for calls this package does not
// wrap (SubmitTasks, for one). Its errors are plain gRPC statuses:
// FromStatus(status.Convert(err)) reads them.
func (c *Client) Scheduler() pb.SchedulerServiceClient {
	return c.scheduler
}
