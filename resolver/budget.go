package resolver

import (
	"math"
	"sync"
	"time"
)

// The retry budget bounds retries process-wide. It is a bucket of tokens
// credited by answers, as in gRPC's retry throttling (gRFC A6) and the AWS
// SDK's standard retryer:
//
//   - every lookup that gets its answer deposits Config.RetryBudget tokens
//     (default 0.2);
//   - every retry (an attempt after the first, hedges included) withdraws
//     one token, and is refused when less than one is left;
//   - a lookup answered after it retried gets one token back: the retry
//     that brought the answer, or the hedge that raced a reply that was
//     slow but not lost, was not wasted;
//   - the bucket holds at most RetryBudget × the lookups answered over
//     about the last budgetWindow (a count that decays with that time
//     constant), and never less than budgetMinTokens, which is also what a
//     new Resolver starts with.
//
// Under independent packet loss p, an answered lookup is charged only for
// the retries that were lost themselves, p²/(1−p) tokens on average (0.05
// at 20% loss, 0.13 at 30%), less than the 0.2 it deposits: loss up to
// about 35% is retried in full. In an outage nothing is answered, nothing
// is deposited, and retries stop once the tokens in the bucket are spent;
// in practice sooner, because a retry is only sent to an upstream that is
// up, and an outage takes every upstream down within a few RTOs
// (upstream.go). Over a longer run of failures the upstreams see about
// 1 + RetryBudget queries per lookup however many Attempts allows.

const (
	budgetWindow    = 10 * time.Second
	budgetMinTokens = 20
)

type retryBudget struct {
	ratio float64 // tokens per answered lookup; < 0: unlimited
	clock clock

	mu        sync.Mutex // protects the fields below
	tokens    float64
	answers   float64 // lookups answered, decaying with time constant budgetWindow
	at        time.Time
	exhausted bool
}

func newRetryBudget(ratio float64, c clock) *retryBudget {
	return &retryBudget{ratio: ratio, clock: c, tokens: budgetMinTokens, at: c.Now()}
}

// decayLocked brings the answer count to now.
func (b *retryBudget) decayLocked(now time.Time) {
	if dt := now.Sub(b.at); dt > 0 {
		b.answers *= math.Exp(-float64(dt) / float64(budgetWindow))
		b.at = now
	}
}

func (b *retryBudget) capacityLocked() float64 {
	return max(budgetMinTokens, b.ratio*b.answers)
}

// withdraw asks for one retry and takes its token if it may go. changed
// reports that the budget just ran out (for logging outside the lock).
func (b *retryBudget) withdraw() (ok, changed bool) {
	if b.ratio < 0 {
		return true, false
	}
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.decayLocked(now)
	b.tokens = min(b.tokens, b.capacityLocked())
	if b.tokens >= 1 {
		b.tokens--
		return true, false
	}
	changed = !b.exhausted
	b.exhausted = true
	return false, changed
}

// answered credits a lookup that got its answer; retried reports that it
// made retries. changed reports that the budget just recovered from
// running out (once it is half full again, so that a budget hovering at
// empty does not flap, and log, on every retry).
func (b *retryBudget) answered(retried bool) (changed bool) {
	if b.ratio < 0 {
		return false
	}
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.decayLocked(now)
	b.answers++
	b.tokens += b.ratio
	if retried {
		b.tokens++
	}
	capacity := b.capacityLocked()
	b.tokens = min(b.tokens, capacity)
	if b.exhausted && b.tokens >= capacity/2 {
		b.exhausted = false
		return true
	}
	return false
}
