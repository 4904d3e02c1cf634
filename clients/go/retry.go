package drover

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds [Retry]. The zero value is usable: 4 attempts, backoff from 200ms up to
// 5s.
type RetryPolicy struct {
	// Attempts in total, the first included; 0 means 4.
	MaxAttempts int
	// The first backoff; 0 means 200ms. It doubles after each attempt.
	InitialBackoff time.Duration
	// The largest backoff; 0 means 5s. A server's RetryInfo delay is honoured even if longer.
	MaxBackoff time.Duration
}

// Retry calls call until it succeeds, fails with an error that is not [Error.Retryable]
// (anything but RESOURCE_EXHAUSTED and UNAVAILABLE), runs out of attempts, or ctx ends. Between
// attempts it waits the server's RetryInfo delay when the error carries one, else a jittered
// exponential backoff. It returns the last result and error (joined with ctx's error if ctx
// ended while waiting).
//
// Retrying a submit is safe only with an idempotency key: an UNAVAILABLE answer may come after
// the task was queued.
//
//	resp, err := drover.Retry(ctx, drover.RetryPolicy{}, func(ctx context.Context) (*pb.SubmitTaskResponse, error) {
//		return client.Submit(ctx, spec, drover.WithIdempotencyKey(key))
//	})
func Retry[T any](ctx context.Context, policy RetryPolicy, call func(context.Context) (T, error)) (T, error) {
	attempts := orDefault(policy.MaxAttempts, 4)
	backoff := orDefault(policy.InitialBackoff, 200*time.Millisecond)
	maxBackoff := orDefault(policy.MaxBackoff, 5*time.Second)
	for attempt := 1; ; attempt++ {
		result, err := call(ctx)
		var derr *Error
		if err == nil || attempt >= attempts || !errors.As(err, &derr) || !derr.Retryable() {
			return result, err
		}
		timer := time.NewTimer(retryDelay(derr, backoff))
		if derr.RetryAfter <= 0 {
			backoff = min(backoff*2, maxBackoff)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return result, errors.Join(err, ctx.Err())
		case <-timer.C:
		}
	}
}

// retryDelay is how long to wait after err: the server's RetryInfo delay when it sent one, else
// the backoff jittered into [backoff/2, backoff] so clients that failed together spread out.
func retryDelay(err *Error, backoff time.Duration) time.Duration {
	if err.RetryAfter > 0 {
		return err.RetryAfter
	}
	return backoff/2 + rand.N(backoff/2+1)
}

// orDefault is value, or fallback when value is zero or negative.
func orDefault[T int | time.Duration](value, fallback T) T {
	if value <= 0 {
		return fallback
	}
	return value
}
