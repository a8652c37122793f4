package resolver

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is the tests' clock: time stands still until the test
// advances it, and timers fire when it passes their time, in order, each
// called synchronously by the goroutine that advances the clock.
type fakeClock struct {
	mu      sync.Mutex // protects the fields below
	now     time.Time
	timers  []*fakeTimer // pending, in no order
	gen     int          // changes whenever a timer is added, stopped or fired
	changed *sync.Cond   // broadcast when gen changes
}

type fakeTimer struct {
	at time.Time
	d  time.Duration
	f  func()
}

// fakeEpoch is where every fake clock starts.
var fakeEpoch = time.Unix(1_800_000_000, 0)

func newClock() *fakeClock {
	c := &fakeClock{now: fakeEpoch}
	c.changed = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), d: d, f: f}
	c.timers = append(c.timers, t)
	c.bumpLocked()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, t)
		if i < 0 {
			return false
		}
		c.timers = slices.Delete(c.timers, i, i+1)
		c.bumpLocked()
		return true
	}
}

func (c *fakeClock) bumpLocked() {
	c.gen++
	c.changed.Broadcast()
}

// Advance moves the clock forward by d, firing the timers due on the way.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for c.fireNext(end) {
	}
	c.mu.Lock()
	c.now = end
	c.mu.Unlock()
}

// fireNext fires the earliest timer due at or before limit (zero: any),
// moving the clock to its time, and reports whether there was one.
func (c *fakeClock) fireNext(limit time.Time) bool {
	c.mu.Lock()
	if len(c.timers) == 0 {
		c.mu.Unlock()
		return false
	}
	i := 0
	for j, t := range c.timers {
		if t.at.Before(c.timers[i].at) {
			i = j
		}
	}
	t := c.timers[i]
	if !limit.IsZero() && t.at.After(limit) {
		c.mu.Unlock()
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	if t.at.After(c.now) {
		c.now = t.at
	}
	c.bumpLocked()
	c.mu.Unlock()
	t.f()
	return true
}

// pendingLocked reports whether a timer of duration d is waiting.
func (c *fakeClock) pendingLocked(d time.Duration) bool {
	return slices.ContainsFunc(c.timers, func(t *fakeTimer) bool { return t.d == d })
}

// waitFor waits, in real time but without sleeping, up to limit until
// ok holds (it is called with c.mu held), and reports whether it does.
func (c *fakeClock) waitFor(limit time.Duration, ok func() bool) bool {
	expired := false
	stop := time.AfterFunc(limit, func() {
		c.mu.Lock()
		expired = true
		c.changed.Broadcast()
		c.mu.Unlock()
	})
	defer stop.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !ok() && !expired {
		c.changed.Wait()
	}
	return ok()
}

// waitTimerWithin waits up to limit until a timer of duration d is
// pending (the code under test is waiting for it), and reports whether one
// is.
func (c *fakeClock) waitTimerWithin(d, limit time.Duration) bool {
	return c.waitFor(limit, func() bool { return c.pendingLocked(d) })
}

// waitTimer is waitTimerWithin with a limit of 10s, failing the test when
// it is reached.
func (c *fakeClock) waitTimer(tb testing.TB, d time.Duration) {
	tb.Helper()
	if !c.waitTimerWithin(d, 10*time.Second) {
		tb.Fatalf("no timer of %v started within 10s", d)
	}
}

// settleTime is how long, in real time, the goroutines woken by a timer
// get to start the work and timers that follow from it before run fires
// the next one. It bounds how far the fake clock can run ahead of work in
// progress, such as a query on its way over loopback.
const settleTime = time.Millisecond

// run calls f and, until it returns, drives the clock: each time the
// timers have been left alone for settleTime, it fires the earliest one.
// A reply from a server races the clock, so use it only where nothing but
// the clock can end a wait: every query dropped.
func (c *fakeClock) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	for {
		c.mu.Lock()
		gen := c.gen
		c.mu.Unlock()
		for quietSince := time.Now(); time.Since(quietSince) < settleTime; {
			select {
			case <-done:
				return
			default:
			}
			runtime.Gosched()
			c.mu.Lock()
			if c.gen != gen {
				gen, quietSince = c.gen, time.Now()
			}
			c.mu.Unlock()
		}
		if !c.fireNext(time.Time{}) {
			c.waitChange(gen, settleTime) // no timer yet: wait for one
		}
	}
}

// state returns the timers' generation, and whether a timer of duration
// d is pending.
func (c *fakeClock) state(d time.Duration) (gen int, pending bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.pendingLocked(d)
}

// waitChange waits up to limit until the timers change from generation
// gen, and reports whether they did.
func (c *fakeClock) waitChange(gen int, limit time.Duration) bool {
	return c.waitFor(limit, func() bool { return c.gen != gen })
}
