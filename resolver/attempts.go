package resolver

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// The attempts of one lookup. The first goes to the best upstream (see
// order). The next one starts when the newest attempt fails (or any, when
// it is the only one out), or, as a hedge, when
// the newest attempt has had no reply within its upstream's RTO: a lost
// packet then costs about one RTO, not a whole Config.Timeout. A hedge
// does not abandon the attempts before it: the first real answer of any
// of them wins.
//
// Every attempt after the first is a retry. It goes to the next upstream
// that is up and has not already failed this lookup with a reply (a
// SERVFAIL, a refusal, a socket error: asking it again would only add
// load; a query lost or timed out may be asked again), within
// Config.Attempts and the retry budget (budget.go). When every upstream is
// down, a retry helps no one: there is none. A retry the budget refuses
// is asked for again after twice the last delay, while the lookup has
// time, even when no attempt is left waiting: a lookup refused once (many
// losses at once, a cold start) can still retry later. No
// retry starts, or waits for a pacing token, later than 2·Config.Timeout
// after the first query left; each attempt ends at the latest
// Config.Timeout after its query left. The first query may wait for its
// pacing token up to 2·Config.Timeout, or up to the first caller's
// deadline if that is later: a patient first caller lets it wait longer,
// an impatient one never cuts the wait short for the others.
//
// When the preferred upstream has no pacing token, an attempt spills over
// to another upstream that is up, that this lookup has not tried yet, that
// has a token now and is about as good (its score now at most twice the
// preferred one's plus minRTO); otherwise it waits for the preferred one's
// token.

// lookup is the state of one lookup's attempts; only resolve's goroutine
// touches it, the attempts report back on channels.
type lookup struct {
	r        *Resolver
	ctx      context.Context // cancelled when resolve returns
	name     string
	qtype    uint16
	ups      []*upstream // in order (see order)
	deadline time.Time   // no retry starts after it
	paceFor  time.Time   // how long the first attempt may wait for a token
	sentAny  bool        // a query has left
	flight   *flight

	started, outstanding int
	next                 int      // index in ups of the next retry's upstream
	newest               *attempt // the attempt the hedge timer is for
	delay                time.Duration
	waiting              bool // the hedge timer is set to ask the budget again
	stopHedge            func() bool
	last                 *attempt // the last attempt that failed
	lastErr              error
	failedOn             []*upstream // upstreams that failed this lookup with a reply
	tried                []*upstream // upstreams this lookup's attempts went or are going to

	sent     chan *attempt // an attempt's query left
	done     chan *attempt // an attempt ended
	hedge    chan uint64   // the hedge timer fired: its generation
	hedgeGen uint64        // the generation of the timer set last
	workers  sync.WaitGroup
}

// attempt is one query of a lookup.
type attempt struct {
	u       *upstream       // where it went; the preferred upstream until it is sent
	sent    chan<- *attempt // told when its query leaves, with rto set
	sentAt  time.Time       // when its query left
	rto     time.Duration   // its upstream's RTO then
	replied atomic.Bool     // a reply (any) to its query arrived
	ended   bool            // its result was received; resolve's goroutine only
	counted bool            // its loss was recorded; resolve's goroutine only
	msg     *dns.Msg
	err     error
}

// flight is what callers waiting on a shared resolution may ask of it.
type flight struct {
	sent atomic.Bool // a query has left for an upstream
}

// resolve runs the attempts for one lookup and returns a NOERROR or
// NXDOMAIN reply and the upstream that sent it, or the error of the last
// attempt that failed.
// waitUntil, if later than the usual bound, is how long the first query
// may wait for a pacing token.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16, f *flight, waitUntil time.Time) (msg *dns.Msg, upstream string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	now := r.clock.Now()
	l := &lookup{
		r: r, ctx: ctx, name: name, qtype: qtype, flight: f,
		ups:       order(r.upstreams.forName(name), now),
		deadline:  now.Add(2 * r.cfg.Timeout),
		sent:      make(chan *attempt, r.cfg.Attempts),
		done:      make(chan *attempt, r.cfg.Attempts),
		hedge:     make(chan uint64, r.cfg.Attempts+8), // the timer set last, and any stopped too late
		stopHedge: func() bool { return false },
	}
	defer l.workers.Wait() // after cancel (defers run last first): attempts end at once
	defer cancel()
	defer func() { l.stopHedge() }()
	l.paceFor = l.deadline
	if waitUntil.After(l.paceFor) {
		l.paceFor = waitUntil
	}

	l.start(0)
	for l.outstanding > 0 || l.waiting {
		select {
		case <-ctx.Done(): // Close
			return nil, "", &LookupError{Name: name, Type: qtype, Err: ErrClosed}
		case a := <-l.sent:
			l.noteSent(a)
			if !a.ended { // (its result can come first)
				l.newest, l.delay = a, a.rto
				l.waiting = false // the new timer is this attempt's
				l.armHedge()
			}
		case gen := <-l.hedge:
			if gen == l.hedgeGen {
				l.onHedge()
			}
		case a := <-l.done:
			l.outstanding--
			a.ended = true
			if a.u != nil && !a.sentAt.IsZero() {
				l.noteSent(a)
			}
			if a.err == nil {
				if r.budget.answered(l.started > 1) {
					r.logf("resolver: retry budget recovered")
				}
				return a.msg, a.u.addr, nil
			}
			if errors.Is(a.err, ErrClosed) || errors.Is(a.err, ErrBadName) {
				return nil, "", l.fail(a)
			}
			if l.lastErr == nil || a.u != nil {
				// A real failure says more than being paced out.
				l.last, l.lastErr = a, a.err
			}
			if a.u != nil && !errors.Is(a.err, ErrTimeout) && !errors.Is(a.err, ErrRateLimited) {
				l.failedOn = append(l.failedOn, a.u)
			}
			// The next attempt starts now if no other is out, or if
			// this was the newest: those before it are past their RTO.
			// (An attempt paced out gets no retry: the token would come
			// too late for any.)
			if (l.outstanding == 0 || a == l.newest) && a.u != nil && l.retry() == retryLater {
				l.askLater()
			}
		}
	}
	return nil, "", l.fail(l.last)
}

// fail wraps a's error for the caller.
func (l *lookup) fail(a *attempt) error {
	le := &LookupError{Name: l.name, Type: l.qtype, Err: a.err}
	if a.u != nil && a.err != ErrRateLimited {
		le.Upstream = a.u.addr
	}
	return le
}

// noteSent records that a's query left (the sent event and a's result
// may come in either order): where it went, and, for the first query, the
// lookup's time for retries.
func (l *lookup) noteSent(a *attempt) {
	if !slices.Contains(l.tried, a.u) { // it spilled over
		l.tried = append(l.tried, a.u)
	}
	if !l.sentAny {
		l.sentAny = true
		l.deadline = a.sentAt.Add(2 * l.r.cfg.Timeout)
	}
}

// armHedge sets the hedge timer to l.delay, replacing the one set before;
// a tick of an earlier timer that still comes is ignored.
func (l *lookup) armHedge() {
	l.stopHedge()
	l.hedgeGen++
	gen := l.hedgeGen
	l.stopHedge = l.r.clock.AfterFunc(l.delay, func() {
		select {
		case l.hedge <- gen:
		default:
		}
	})
}

// onHedge handles the hedge timer: the newest attempt has had no reply
// for its RTO, so its query counts as lost and a retry may start; or the
// budget is to be asked again.
func (l *lookup) onHedge() {
	l.waiting = false
	if a := l.newest; l.outstanding > 0 {
		if a == nil || a.ended || a.replied.Load() {
			return // it failed (a retry was asked for then) or is on its way
		}
		if !a.counted {
			a.counted = true
			a.u.lostQuery(a.sentAt, a.rto, l.name, l.qtype)
		}
	}
	if l.retry() == retryLater {
		l.askLater()
	}
}

// askLater sets the hedge timer to ask the budget again after twice the
// last delay, if that is within the lookup's time.
func (l *lookup) askLater() {
	l.delay = max(2*l.delay, minRTO)
	if l.r.clock.Now().Add(l.delay).After(l.deadline) {
		return
	}
	l.waiting = true
	l.armHedge()
}

type retryOutcome int

const (
	retryStarted retryOutcome = iota
	retryLater                // the budget said no; it may say yes later
	retryNever                // attempts used up, every upstream down, or out of time
)

// retry starts the next attempt if Attempts, the upstreams' health, the
// lookup's time and the retry budget allow.
func (l *lookup) retry() retryOutcome {
	if l.started >= l.r.cfg.Attempts || l.ctx.Err() != nil || l.r.clock.Now().After(l.deadline) {
		return retryNever
	}
	i, ok := l.nextUp()
	if !ok {
		return retryNever
	}
	ok, changed := l.r.budget.withdraw()
	if changed {
		l.r.logf("resolver: retry budget exhausted, retries refused", "ratio", l.r.cfg.RetryBudget)
	}
	if !ok {
		l.r.stats.add(cRetriesDenied, 1)
		return retryLater
	}
	l.start(i)
	return retryStarted
}

// nextUp returns the index of the next upstream, in order after the last
// one tried, that is up and has not failed this lookup with a reply.
func (l *lookup) nextUp() (int, bool) {
	for k := range len(l.ups) {
		i := (l.next + k) % len(l.ups)
		if u := l.ups[i]; !u.isDown() && !slices.Contains(l.failedOn, u) {
			return i, true
		}
	}
	return 0, false
}

// start starts an attempt at ups[i]. It paces and queries in its own
// goroutine, so that waiting for a token does not hold up the replies of
// earlier attempts.
func (l *lookup) start(i int) {
	retry := l.started > 0
	until := l.deadline
	if !retry {
		until = l.paceFor
	}
	l.started++
	l.outstanding++
	l.next = i + 1
	a := &attempt{u: l.ups[i], sent: l.sent}
	if !slices.Contains(l.tried, a.u) {
		l.tried = append(l.tried, a.u)
	}
	tried := slices.Clone(l.tried) // the worker's own copy
	l.workers.Add(1)
	go func() {
		defer l.workers.Done()
		u, err := l.pace(i, until, tried)
		if err != nil {
			a.u, a.err = nil, err // paced out: nothing sent
			l.done <- a
			return
		}
		a.u = u
		if l.flight != nil {
			l.flight.sent.Store(true)
		}
		if retry {
			l.r.stats.add(cRetries, 1)
		}
		a.msg, a.err = u.query(l.ctx, l.name, l.qtype, a)
		l.done <- a
	}()
}

// pace takes a pacing token for an attempt preferring ups[i] (see the
// comment at the top), waiting for it no later than until, and returns the
// upstream it is for. tried are the upstreams not to spill over to.
func (l *lookup) pace(i int, until time.Time, tried []*upstream) (*upstream, error) {
	p := l.ups[i]
	if p.tryTake() {
		return p, nil
	}
	now := l.r.clock.Now()
	limit := 2*p.score(now) + minRTO
	for _, u := range l.ups {
		if !slices.Contains(tried, u) && !u.isDown() && u.score(now) <= limit && u.tryTake() {
			return u, nil
		}
	}
	return p, p.take(l.ctx, until)
}
