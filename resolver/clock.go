package resolver

import (
	"context"
	"sync/atomic"
	"time"
)

// clock is a Resolver's one source of time. Every time it reads (TTLs,
// round-trip times, penalties, the retry budget) and every timer it starts
// (attempt timeouts, hedges, pacing waits, probes, its own deadline for a
// shared resolution) come from it, so that tests can replace it with a
// fake one and run timeouts, backoff and recovery without sleeping.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed. stop
	// prevents the call if it has not started, and reports whether it
	// did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is the wall clock. Now reads only the monotonic clock,
// against a wall-clock reading taken at most a second before (time.Now
// reads both, and costs about twice as much: most of a cache hit).
type realClock struct{}

// wallBase is realClock's last full reading.
var wallBase atomic.Pointer[time.Time]

func (realClock) Now() time.Time {
	if b := wallBase.Load(); b != nil {
		if d := time.Since(*b); d < time.Second {
			return b.Add(d)
		}
	}
	now := time.Now()
	wallBase.Store(&now)
	return now
}

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// sleep waits for d on c, or until ctx is done; it returns ctx.Err() in
// that case.
func sleep(ctx context.Context, c clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	done := make(chan struct{})
	stop := c.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}

// withTimeout is context.WithTimeout on c: the returned context is
// cancelled with the cause context.DeadlineExceeded once d has passed on
// c (see timedOut).
func withTimeout(parent context.Context, c clock, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := c.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// timedOut reports whether ctx ended because its time (on the clock, see
// withTimeout, or its own deadline) ran out, rather than by a
// cancellation such as Close.
func timedOut(ctx context.Context) bool {
	return ctx.Err() != nil && context.Cause(ctx) == context.DeadlineExceeded
}
