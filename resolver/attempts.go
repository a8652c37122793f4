package resolver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// The attempts of one lookup. The first goes to the best upstream. The
// next one starts when an attempt fails, or, as a hedge, when the current
// attempt has had no reply for its upstream's retransmission timeout (RTO,
// RFC 6298: SRTT + 4·RTTVAR, at least minRTO, doubled for each further
// hedge): a lost packet then costs about one RTO, not a whole
// Config.Timeout. A hedge does not abandon the
// attempt before it: the first usable reply of either wins. Every attempt
// after the first is a retry, so hedges too are bounded by Attempts and by
// the retry budget, and they wait for a pacing token like any query.

// minRTO is the shortest retransmission timeout: below it, hedges would
// race replies that are merely a little slow.
const minRTO = 100 * time.Millisecond

type attemptResult struct {
	u   *upstream
	msg *dns.Msg
	rtt time.Duration
	err error
}

// resolve runs the attempts for one lookup and returns a NOERROR or
// NXDOMAIN reply, or the last attempt's error.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16, waitUntil time.Time) (*dns.Msg, error) {
	ups := order(r.upstreams.forName(name), time.Now())
	fail := func(u *upstream, err error) error {
		le := &LookupError{Name: name, Type: qtype, Err: err}
		if u != nil {
			le.Upstream = u.addr
		}
		return le
	}

	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (defers run last first): attempts end at once
	defer cancel()
	results := make(chan attemptResult, r.cfg.Attempts)
	sent := make(chan time.Duration, r.cfg.Attempts) // an attempt's query left: its RTO
	hedge := time.NewTimer(time.Hour)
	hedge.Stop()
	defer hedge.Stop()

	var (
		attempt     int          // attempts started
		outstanding int          // attempts without a result yet
		replied     *atomic.Bool // whether the newest attempt has had a reply
		lastErr     error
	)
	// start starts the next attempt, if Attempts and the retry budget
	// allow. It paces and queries in its own goroutine, so that waiting
	// for a token does not hold up the replies of earlier attempts.
	start := func() {
		if attempt >= r.cfg.Attempts {
			return
		}
		if attempt > 0 && !r.allowRetry() {
			attempt = r.cfg.Attempts // no more: the budget said no
			return
		}
		first := attempt == 0
		preferred := ups[attempt%len(ups)]
		attempt++
		outstanding++
		flag := new(atomic.Bool)
		replied = flag
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := r.pace(actx, preferred, ups, waitUntil)
			if err != nil {
				results <- attemptResult{err: err} // paced out: nothing sent
				return
			}
			if first {
				r.budget.first()
			} else {
				r.stats.add(cRetries, 1)
			}
			sent <- u.rto(r.cfg.Timeout)
			c, cancel := context.WithTimeout(actx, r.cfg.Timeout)
			msg, rtt, err := r.exchange(c, u, name, qtype, flag)
			cancel()
			results <- attemptResult{u, msg, rtt, err}
		}()
	}

	start()
	for outstanding > 0 {
		select {
		case rto := <-sent:
			// RFC 6298 §5.5: each retransmission doubles the timeout.
			if rto <<= attempt - 1; rto < r.cfg.Timeout {
				hedge.Reset(rto)
			}
		case <-hedge.C:
			if !replied.Load() && ctx.Err() == nil {
				start()
			}
		case res := <-results:
			outstanding--
			if res.u == nil { // paced out before sending
				if lastErr == nil {
					lastErr = fail(nil, res.err)
				}
				continue
			}
			msg, err, final := r.classify(res, name, qtype)
			if msg != nil {
				return msg, nil
			}
			if final {
				return nil, fail(res.u, err)
			}
			lastErr = fail(res.u, err)
			if outstanding == 0 && ctx.Err() == nil {
				start()
			}
		}
	}
	return nil, lastErr
}

// allowRetry asks the retry budget for one more attempt, counting and
// logging its answer.
func (r *Resolver) allowRetry() bool {
	ok, changed := r.budget.allowRetry()
	if changed {
		if ok {
			r.logf("resolver: retry budget recovered")
		} else {
			r.logf("resolver: retry budget exhausted, retries refused", "ratio", r.cfg.RetryBudget)
		}
	}
	if !ok {
		r.stats.add(cRetriesDenied, 1)
	}
	return ok
}

// classify records what one attempt says about its upstream and returns
// the reply if it answers the lookup, or the error; final reports that no
// other attempt can help (the Resolver is closing, or the name is bad).
func (r *Resolver) classify(res attemptResult, name string, qtype uint16) (msg *dns.Msg, err error, final bool) {
	u := res.u
	if res.err != nil {
		switch err = res.err; {
		case errors.Is(err, ErrClosed) || r.base.Err() != nil:
			return nil, ErrClosed, true
		case errors.Is(err, ErrBadName):
			return nil, err, true
		case errors.Is(err, ErrTimeout):
			r.stats.add(cTimeouts, 1)
			r.upstreamFailed(u, r.cfg.Timeout, name, qtype, err)
		default:
			r.upstreamFailed(u, 0, name, qtype, err)
		}
		return nil, err, false
	}
	switch res.msg.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		r.upstreamSucceeded(u, res.rtt)
		return res.msg, nil, false
	case dns.RcodeServerFailure:
		// Either the name's servers are broken (then every upstream
		// says so, and the failure is remembered) or the upstream
		// itself is (it answers SERVFAIL for every name). Counting it
		// against the upstream's health tells the two apart: one name
		// failing again and again counts once, many names failing in a
		// row take the upstream down, and its recovery voids the
		// failures it caused.
		r.stats.add(cServFails, 1)
		r.upstreamFailed(u, 0, name, qtype, ErrServerFailure)
	default:
		// REFUSED, FORMERR, NOTIMP: this upstream will not serve us.
		r.upstreamFailed(u, 0, name, qtype, rcodeError(res.msg.Rcode))
	}
	return nil, rcodeError(res.msg.Rcode), false
}
