package resolver

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Pacing. Every packet sent to an upstream (first attempts, hedges,
// retries, TCP fallbacks, probes, prefetches) first takes a token from its
// pacer, a token bucket (golang.org/x/time/rate) with a burst of a tenth
// of a second's worth unless Config.BurstPerUpstream says otherwise.
//
// With Config.QPSPerUpstream set, the bucket's rate is that figure and
// never moves: a hard cap. Otherwise a controller moves it. Upstreams such
// as cloud VPC resolvers drop silently above a packet rate no one
// publishes (1024/s per network interface for one large cloud), and the
// sign of such a ceiling is a plateau: the replies per second stop growing
// with the queries sent, and the share of queries lost grows with the
// rate. Loss that does not grow with the rate (packet loss on the path)
// says nothing about the ceiling and must not lower the rate.
//
// The controller works in rounds of pacerRound (longer if fewer than
// pacerMinOutcomes queries were answered or lost in it; rounds in which
// nothing was answered are the health checks' business, not pacing's).
// It keeps the loss that does not depend on the rate, base, and judges
// each round's loss against it: excess loss is loss above base by more
// than chance explains (three standard deviations of a binomial share,
// plus two points; twice that in a round in which no query waited, when
// demand, which may have just jumped, set the rate). A round with less
// loss than base pulls base down (by pacerBaseWeight of the difference);
// only verify raises it, so that a rate a little over a ceiling cannot
// make its own excess loss look normal. Its states:
//
//   - climb: from pacerStart (1000/s, below the cloud ceiling). A round
//     without excess loss in which queries waited for tokens raises the
//     rate by step, which starts at pacerFirstStep and doubles every round
//     up to pacerMaxStep: 1000/s reaches 28,000/s in about two seconds, yet
//     the first steps above 1000/s are small, where cloud ceilings are.
//     Rounds without waiting leave the rate alone: demand, not the
//     upstream, set it.
//   - a round with excess loss, climbing or settled, cuts the rate at once to
//     pacerBelow × the ceiling it implies: the replies per second of that
//     round over (1 − base), the rate at which the upstream sends back all
//     it is allowed to. Then verify.
//   - verify: one round at the lower rate. If its loss is back within
//     chance of base, the ceiling is found: settled. If the loss fell, but
//     not that far, the ceiling is lower still (a burst the upstream
//     allowed made the round look better): cut again from this round; so
//     too if the replies fell by more than the rate did (the ceiling fell
//     while the round that cut was under way). If the loss did not fall
//     with the rate, it is not the rate's doing, unless a burst the
//     upstream allowed hid the ceiling in the round that cut: confirm.
//   - confirm: one round back at the rate from before the cut. The same
//     loss as in verify: random loss, which base takes, and the state
//     from before the cut comes back. More loss: a ceiling after all, cut
//     from this round. So random loss costs one round at a lower rate
//     when it first appears or changes, and never lowers the rate for
//     good.
//   - settled: at pacerBelow of the ceiling, judged on each round and on
//     the rounds since settling summed (with pacerSumSlack instead of
//     pacerSlack), so that a rate a few percent over the ceiling, within
//     one round's chance, is cut within a second. Every
//     pacerProbeEvery, while queries wait for tokens, probe: pacerProbeStep above the ceiling (at
//     least pacerProbeMin queries per second more) for pacerProbeHold. A
//     probe that meets excess loss is over: settled again. It is judged
//     as each loss comes in, on counts alone (three standard deviations
//     over base, without the two points), so a failed probe costs the
//     upstream a few queries more than its ceiling, once a second and a
//     half. A probe held without excess loss lifts the ceiling: climb
//     again, from the probe's rate by pacerLiftStep, or straight back to
//     just below the ceiling found before the last fall, if that is
//     higher (a ceiling shared with neighbours on one network interface
//     falls while they are busy and comes back when they are done); the
//     next round tells if it is not there. The hold sends an eighth of a
//     second's worth above the ceiling (at least 125 queries): enough to
//     use up a burst of a tenth of a second's worth, or of 100 queries,
//     that the upstream may allow above its rate (the simulated VPC
//     resolver of the tests and the benchmark's allow that much), so that
//     the burst does not pass for a lifted ceiling.
//   - silence (rounds with losses and no reply) is an outage, the health
//     checks' business (upstream.go): a cut followed by silence is undone,
//     and the round after silence starts once the losses of the queries
//     sent into it are in.
//
// Every change of rate waits before its outcomes count: until the queries
// already in line for a token at the old rate have left and an RTO more,
// and until every query sent before it is answered or lost, since their
// replies and losses arrive until then. Queries join the token bucket's
// line only shortly before their turn (upstream.take), so that line is
// short and a cut takes effect at once. Judged this way, the medium benchmark's upstream that drops above
// 1024 queries/s drops 1% or less of what maildns sends it, and a ceiling
// that falls to 400/s and comes back is followed within three seconds
// each way (README, Measured).
const (
	pacerStart       = DefaultQPSPerUpstream
	pacerMin         = 10
	pacerMax         = 1e6
	pacerRound       = 250 * time.Millisecond
	pacerMaxRound    = 4 * time.Second
	pacerMinOutcomes = 32
	pacerFirstStep   = 0.05
	pacerMaxStep     = 1.0
	pacerBelow       = 0.95
	pacerProbeEvery  = 1500 * time.Millisecond
	pacerProbeStep   = 0.1
	pacerProbeMin    = 100 // queries per second above the ceiling, at least
	pacerProbeHold   = 1250 * time.Millisecond
	pacerLiftStep    = 0.25
	pacerLineAhead   = 50 * time.Millisecond // see upstream.take
	pacerBaseWeight  = 0.25                  // of a round in the average loss
	pacerSlack       = 0.02                  // excess loss: this much over base, and more than chance explains
	pacerSumSlack    = 0.005                 // the same, over the rounds since settling
	// pacerMoved is how far a ceiling found again must be from the last
	// to be logged as moved.
	pacerMoved = 0.1
)

type pacerState uint8

const (
	paceClimb pacerState = iota
	paceVerify
	paceSettled
	paceProbe
	paceConfirm
)

// A pacer paces the queries to one upstream. Its methods are safe for
// simultaneous use.
type pacer struct {
	lim       *rate.Limiter
	adaptive  bool // Config.QPSPerUpstream zero: the controller moves the rate
	autoBurst bool // Config.BurstPerUpstream zero: a tenth of the rate
	clock     clock
	// settle is how long after a change of rate outcomes still belong to
	// the old one: the upstream's RTO. It is called with mu held, so it
	// takes the upstream's lock after the pacer's: never call the pacer
	// with the upstream's lock held.
	settle func() time.Duration
	// moved is told, outside the lock, that the ceiling changed from old
	// to now (either zero: none).
	moved func(old, now float64)

	outside atomic.Int64 // queries waiting for a token, not yet in the limiter's line (upstream.take)

	mu      sync.Mutex // protects the fields below
	state   pacerState
	rate    float64
	ceiling float64 // queries per second; 0: none known
	found   float64 // the ceiling last settled on (shown in Stats); 0: none
	high    float64 // the ceiling before found fell below it; 0: none
	told    float64 // the ceiling moved was last told of
	base    float64 // the share of queries lost whatever the rate
	step    float64 // the next climb, as a share of the rate
	// The round: outcomes from from on.
	from                time.Time
	sent, replies, lost int
	waited              bool      // a query waited for a token, or went elsewhere for want of one
	silent              bool      // the last round had losses and no reply
	pending             time.Time // when the last query sent so far is due to be counted lost
	// What a cut was based on, for verify.
	before      float64
	beforeState pacerState
	cutLoss     float64
	cutSent     float64 // queries sent per second in the round that cut
	cutReplies  float64 // and replies per second
	verifyLoss  float64 // the loss verify found at the lower rate (confirm)
	// The rounds since settling, summed: a rate a little over the
	// ceiling shows in them before it shows in one round.
	setReplies, setLost int
	setTime             time.Duration
	probeEnd            time.Time
	nextProbe           time.Time
}

func newPacer(qps float64, burst int, c clock) *pacer {
	p := &pacer{adaptive: qps <= 0, autoBurst: burst <= 0, clock: c, step: pacerFirstStep}
	p.rate = qps
	if p.adaptive {
		p.rate = pacerStart
	}
	if p.autoBurst {
		burst = autoBurst(p.rate)
	}
	p.lim = rate.NewLimiter(rate.Limit(p.rate), burst)
	p.from = c.Now()
	return p
}

func autoBurst(r float64) int { return max(1, int(r/10)) }

// waiting records that a query had to wait for a token, or could not get
// one: demand is above the rate.
func (p *pacer) waiting() {
	p.mu.Lock()
	p.waited = true
	p.mu.Unlock()
}

// sentQuery records a UDP query leaving at now, to be counted lost if no
// reply comes within rto.
func (p *pacer) sentQuery(now time.Time, rto time.Duration) {
	if !p.adaptive {
		return
	}
	p.mu.Lock()
	if !now.Before(p.from) {
		p.sent++
	}
	if end := now.Add(rto); end.After(p.pending) {
		p.pending = end
	}
	p.mu.Unlock()
}

// outcome records a reply to a UDP query, or (lost) a query with no reply
// within its RTO.
func (p *pacer) outcome(lost bool) {
	if !p.adaptive {
		return
	}
	now := p.clock.Now()
	p.mu.Lock()
	if now.Before(p.from) {
		p.mu.Unlock()
		return
	}
	switch {
	case lost:
		p.lost++
	case p.silent:
		// The first reply after silence: the losses of the queries
		// sent into it are still to come; the next round starts after
		// them.
		p.silent = false
		p.newRoundLocked(now, p.settle())
	default:
		p.replies++
	}
	p.stepLocked(now, lost)
	// Tell of a ceiling found or moved, once settled on it, and of one
	// lifted.
	old, cur := p.told, p.found
	tell := cur != 0 && math.Abs(cur-old) > pacerMoved*old || cur == 0 && old != 0
	if tell {
		p.told = cur
	}
	p.mu.Unlock()
	if tell && p.moved != nil {
		p.moved(old, cur)
	}
}

// stepLocked runs the controller after an outcome.
func (p *pacer) stepLocked(now time.Time, lost bool) {
	n := p.replies + p.lost
	if p.state == paceProbe && lost && p.lost >= 3 && p.excessCount(p.lost, n) {
		// The probe found the ceiling where it was.
		p.settleLocked(now)
		return
	}
	d := now.Sub(p.from)
	if d < pacerRound || n < pacerMinOutcomes && d < pacerMaxRound {
		return
	}
	if p.replies == 0 && n >= pacerMinOutcomes && (p.state == paceVerify || p.state == paceConfirm) {
		// Silence after a cut: an outage (the health checks' business),
		// not a ceiling, which answers at its rate.
		p.restoreLocked(now)
		return
	}
	if p.replies == 0 || n < pacerMinOutcomes {
		// Silence, or too little traffic to tell anything.
		p.silent = p.replies == 0 && n > 0
		p.newRoundLocked(now, 0)
		return
	}
	loss := float64(p.lost) / float64(n)
	replyRate := float64(p.replies) / d.Seconds()
	excess := p.excess(p.lost, n)
	sentRate := float64(p.sent) / d.Seconds()
	waited := p.waited
	switch p.state {
	case paceClimb, paceSettled:
		// A round in which no query waited was paced by demand, which
		// may have just risen: its loss must be twice as far out to
		// count (it is more often chance than a ceiling below demand).
		if excess && (waited || float64(p.lost)/float64(n) > p.base+2*margin(p.base, n)) {
			p.before, p.beforeState = p.rate, p.state
			p.cutLocked(now, loss, replyRate, sentRate)
			break
		}
		if p.state == paceSettled {
			p.setReplies, p.setLost, p.setTime = p.setReplies+p.replies, p.setLost+p.lost, p.setTime+d
			if m := p.setReplies + p.setLost; float64(p.setLost)/float64(m) > p.base+pacerSumSlack+margin(p.base, m)-pacerSlack {
				p.before, p.beforeState = p.rate, p.state
				p.cutLocked(now, float64(p.setLost)/float64(m), float64(p.setReplies)/p.setTime.Seconds(), p.rate)
				break
			}
		}
		p.learnLocked(loss)
		switch {
		case p.state == paceClimb && waited:
			p.setRateLocked(now, p.rate*(1+p.step))
			p.step = min(2*p.step, pacerMaxStep)
		case p.state == paceSettled && waited && !now.Before(p.nextProbe):
			p.state = paceProbe
			p.setRateLocked(now, p.ceiling+max(pacerProbeStep*p.ceiling, pacerProbeMin))
			p.probeEnd = p.from.Add(pacerProbeHold)
		default:
			p.newRoundLocked(now, 0)
		}
	case paceProbe:
		switch {
		case excess:
			p.settleLocked(now)
		case now.Before(p.probeEnd):
			p.newRoundLocked(now, 0) // the probe goes on
		case sentRate < p.ceiling:
			// Too few queries to test the ceiling: try later.
			p.settleLocked(now)
		default:
			// Held above the ceiling without loss: it has gone up,
			// perhaps back to where it was before it fell.
			r := max(p.rate*(1+pacerLiftStep), pacerBelow*p.high)
			p.ceiling, p.found, p.high = 0, 0, 0
			p.state = paceClimb
			p.step = 2 * pacerLiftStep
			p.setRateLocked(now, r)
		}
	case paceVerify:
		switch {
		case !excess:
			// The loss went with the rate: a ceiling.
			p.learnLocked(loss)
			p.settleLocked(now)
		case loss < p.cutLoss-margin(p.cutLoss, n):
			// Less loss, not yet none: lower still.
			p.cutLocked(now, loss, replyRate, sentRate)
		case replyRate < 0.9*p.cutReplies*sentRate/p.cutSent:
			// As much loss, but fewer replies than the same loss at
			// the lower rate would leave: the ceiling fell while the
			// round that cut was under way. Lower still.
			p.cutLocked(now, loss, replyRate, sentRate)
		default:
			// The same loss at a lower rate: not the rate's doing,
			// unless a burst the upstream allowed hid the ceiling in
			// the round that cut. Back to the rate from before, to
			// confirm.
			p.verifyLoss = loss
			p.state = paceConfirm
			p.setRateLocked(now, p.before)
		}
	case paceConfirm:
		if loss > p.verifyLoss+margin(p.verifyLoss, n) {
			// More loss at the higher rate after all: a ceiling.
			p.cutLocked(now, loss, replyRate, sentRate)
			break
		}
		// The same loss at both rates: random loss, the new normal.
		p.base = (loss + p.verifyLoss) / 2
		p.restoreLocked(now)
	}
}

// restoreLocked undoes a cut: the rate (if not already back) and state
// from before it.
func (p *pacer) restoreLocked(now time.Time) {
	p.state, p.ceiling = p.beforeState, 0
	if p.state == paceSettled {
		p.ceiling = p.found
	}
	if p.rate != p.before {
		p.setRateLocked(now, p.before)
	} else {
		p.newRoundLocked(now, 0)
	}
}

// excess reports whether lost of n queries is more loss than base
// explains.
func (p *pacer) excess(lost, n int) bool {
	return float64(lost)/float64(n) > p.base+margin(p.base, n)
}

// excessCount is excess without the two points: a probe's test, on every
// loss, where stopping early saves queries and a wrong verdict costs only
// the next probe's time.
func (p *pacer) excessCount(lost, n int) bool {
	q := max(p.base, 0.01)
	return float64(lost)-p.base*float64(n) > 3*math.Sqrt(float64(n)*q*(1-q))+2
}

// margin is how far above a loss share p the share lost of n queries may
// be by chance: three binomial standard deviations (of p at least 1%),
// plus pacerSlack (two points).
func margin(p float64, n int) float64 {
	q := max(p, 0.01)
	return pacerSlack + 3*math.Sqrt(q*(1-q)/float64(n))
}

// learnLocked folds a round's loss, one without excess, into base if it
// is lower. Only verify raises base: loss just below the margin, folded
// in, would raise the margin, and a rate a little over the ceiling would
// ratchet base up until the excess loss it causes counted as none.
func (p *pacer) learnLocked(loss float64) {
	if loss < p.base {
		p.base += (loss - p.base) * pacerBaseWeight
	}
}

// cutLocked sets the rate just below the ceiling that a round with loss,
// replyRate replies and sentRate queries per second implies, and verifies
// it.
func (p *pacer) cutLocked(now time.Time, loss, replyRate, sentRate float64) {
	c := replyRate / (1 - min(p.base, 0.9))
	p.ceiling = c
	p.cutLoss, p.cutReplies, p.cutSent = loss, replyRate, sentRate
	p.state = paceVerify
	p.setRateLocked(now, min(pacerBelow*c, p.rate))
}

// settleLocked goes back to just below the ceiling, probing again later.
func (p *pacer) settleLocked(now time.Time) {
	p.state = paceSettled
	p.setReplies, p.setLost, p.setTime = 0, 0, 0
	if p.found > p.ceiling*(1+pacerMoved) {
		p.high = max(p.high, p.found)
	}
	p.found = p.ceiling
	p.step = pacerFirstStep
	p.nextProbe = now.Add(pacerProbeEvery)
	p.setRateLocked(now, pacerBelow*p.ceiling)
}

// setRateLocked sets the rate and starts a round once the outcomes of the
// old rate are in: after the queries already waiting in line for a token
// (their times were fixed at the old rate) have left and an RTO more, and
// after every query already sent is answered or lost (the first queries
// to an upstream wait for the initial RTO, 376ms).
func (p *pacer) setRateLocked(now time.Time, r float64) {
	r = min(max(r, pacerMin), pacerMax)
	queued := time.Duration(max(0, -p.lim.TokensAt(now)) / p.rate * float64(time.Second))
	if r != p.rate {
		p.rate = r
		p.lim.SetLimitAt(now, rate.Limit(r))
		if p.autoBurst {
			p.lim.SetBurstAt(now, autoBurst(r))
		}
	}
	p.newRoundLocked(now, max(queued+p.settle(), p.pending.Sub(now)))
}

func (p *pacer) newRoundLocked(now time.Time, after time.Duration) {
	p.from = now.Add(after)
	p.sent, p.replies, p.lost, p.waited = 0, 0, 0, false
}

// limits returns the current rate and the ceiling found (0: none).
func (p *pacer) limits() (rate, ceiling float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate, p.found
}
