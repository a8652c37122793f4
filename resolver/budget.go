package resolver

import (
	"sync"
	"time"
)

// The retry budget bounds retries process-wide, the way gRPC and Finagle
// budget them: over a sliding window, retries may be at most a fraction of
// first attempts plus a small floor. While upstreams are healthy, retries
// are rare and always allowed; during an outage, every lookup fails its
// first attempt and the budget turns most retries away, so the upstreams
// see about (1 + ratio) queries per lookup instead of Attempts.

const (
	budgetWindow  = 10 // seconds in the sliding window
	budgetFloor   = 10 // retries always allowed per window
	budgetBuckets = budgetWindow
)

type retryBudget struct {
	ratio float64 // < 0: unlimited
	now   func() time.Time

	mu        sync.Mutex // protects buckets and exhausted
	buckets   [budgetBuckets]budgetBucket
	exhausted bool
}

type budgetBucket struct {
	sec            int64 // the unix second this bucket counts
	first, retries int
}

func newRetryBudget(ratio float64, now func() time.Time) *retryBudget {
	return &retryBudget{ratio: ratio, now: now}
}

// bucketLocked returns the bucket for the current second, resetting it if
// it last counted an older one.
func (b *retryBudget) bucketLocked(sec int64) *budgetBucket {
	bk := &b.buckets[sec%budgetBuckets]
	if bk.sec != sec {
		*bk = budgetBucket{sec: sec}
	}
	return bk
}

// first records a first attempt.
func (b *retryBudget) first() {
	sec := b.now().Unix()
	b.mu.Lock()
	b.bucketLocked(sec).first++
	b.mu.Unlock()
}

// allowRetry reports whether one more retry fits in the budget, and
// records it if so. changed reports that the budget just ran out or just
// recovered (for logging outside the lock).
func (b *retryBudget) allowRetry() (ok, changed bool) {
	if b.ratio < 0 {
		return true, false
	}
	sec := b.now().Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	var first, retries int
	for i := range b.buckets {
		if bk := &b.buckets[i]; sec-bk.sec < budgetWindow {
			first += bk.first
			retries += bk.retries
		}
	}
	limit := b.ratio*float64(first) + budgetFloor
	ok = float64(retries) < limit
	if ok {
		b.bucketLocked(sec).retries++
	}
	// The state flips to exhausted at the first refusal, and back only
	// once retries are well under the limit, so that a budget hovering at
	// its limit does not flap (and log) on every retry.
	switch {
	case !ok && !b.exhausted:
		b.exhausted, changed = true, true
	case ok && b.exhausted && float64(retries) < limit/2:
		b.exhausted, changed = false, true
	}
	return ok, changed
}
