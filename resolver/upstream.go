package resolver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Everything about one upstream lives in its upstream value, as in
// CoreDNS's forward.Proxy: its pacer, its exchange (UDP, then TCP after a
// truncated reply, in exchange.go), its round-trip-time estimator and
// retransmission timeout, its health and its counters. The lookup path
// above it (attempts.go) only asks it for a token, a query, its RTO and
// its score, and tells it when a query went unanswered.
//
// Round-trip time and RTO. Every reply is a sample of the time from the
// query leaving to its reply arriving (pacing waits and a TCP retry not
// included); SRTT and RTTVAR are smoothed as RFC 6298 §2 says, and the RTO
// is SRTT + 4·RTTVAR, at least minRTO (Unbound's RTT_MIN_TIMEOUT) and at
// most Config.Timeout. An upstream never heard from has initialRTO
// (Unbound's first RTO: RTTVAR 94ms). A query with no reply within its
// RTO is lost. If no reply at all has come since it left, the RTO backs
// off to twice the one that query used, as Unbound's rtt_lost does
// (doubling the original, not the current one, so that many queries lost
// at once double it once), until the next reply; a query lost while
// others were answered is a lost packet and leaves the RTO alone.
//
// Score. The upstreams of a lookup are tried in order of score: SRTT plus
// a penalty that every lost or timed-out query adds (Config.Timeout each,
// at most eight) and that halves every penaltyHalfLife, so an upstream
// that drops queries falls behind the others at once and is tried again
// once its penalty has faded.
//
// Health. An upstream is down after downAfter consecutive failures
// (timeouts, SERVFAIL, refusals, socket errors; one name failing again and
// again counts once, so a broken domain does not take its upstream out of
// rotation), or when it has been silent: silentAfter queries, of at least
// two names, lost without any reply from it since the first of them left
// (an outage is noticed within a few RTOs, long before any query times
// out; losses among replies, however many at once, are loss, not
// silence). A down upstream is ordered after
// every upstream that is up and gets no retries. Any real answer brings it
// back up: to the first attempts that still go to it when every upstream
// is down, or to a probe (the root NS, then the last question of a lookup
// that was lost or failed there), sent every probeInterval while no other
// query has gone to it for that long, each waiting at most probeInterval
// for its reply. An upstream is never removed: when every one is down, the best
// still gets the first attempt of every lookup.

const (
	minRTO          = 50 * time.Millisecond
	initialRTO      = 376 * time.Millisecond
	maxPenalties    = 8
	penaltyHalfLife = 2 * time.Second
	downAfter       = 3
	silentAfter     = 8
	probeInterval   = 500 * time.Millisecond
)

// upstreamEnv is what the upstreams of one Resolver share with it.
type upstreamEnv struct {
	clock   clock
	timeout time.Duration // Config.Timeout: one attempt, and the largest RTO
	udpSize uint16
	stats   *counters
	// changed is told, outside every lock, that u went down (err says
	// why) or came back up.
	changed func(u *upstream, up bool, err error)
	// ceiling is told, outside every lock, that the pacer found u's
	// ceiling (old zero), moved it, or lifted it (now zero); queries per
	// second.
	ceiling func(u *upstream, old, now float64)
}

// An upstream is one recursive resolver. Its methods are safe for
// simultaneous use.
type upstream struct {
	addr string
	env  *upstreamEnv
	pace *pacer

	mu        sync.Mutex    // protects the fields below
	srtt      time.Duration // smoothed RTT of replies (RFC 6298); 0 until the first
	rttvar    time.Duration
	backoff   time.Duration // RTO after lost queries (rtt_lost); 0 once a reply came
	penalty   time.Duration // as of penaltyAt
	penaltyAt time.Time
	fails     int    // consecutive failures, of distinct names
	failName  string // the name and type of the last failure
	failType  uint16
	probeQ    dns.Question // the last question of a lookup lost or failed here: probes ask it
	lastReply time.Time    // when the last reply came
	losses    int          // queries lost with no reply since they left
	lossName  string       // the name of the first of them
	lossNames bool         // whether they are of more than one name
	down      bool
	nextProbe time.Time

	lastSent atomic.Int64  // clock's unix nanos when a query last left
	queries  atomic.Uint64 // sent, UDP and TCP, probes included
	replies  atomic.Uint64 // replies of any kind to them
	answers  atomic.Uint64 // replies with NOERROR or NXDOMAIN
	lost     atomic.Uint64 // queries with no reply within their RTO
	failures atomic.Uint64
}

// rto is the time to wait for a reply before the query counts as lost.
func (u *upstream) rto() time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rtoLocked()
}

func (u *upstream) rtoLocked() time.Duration {
	d := initialRTO
	if u.srtt > 0 {
		d = u.srtt + 4*u.rttvar
	}
	return min(max(d, minRTO, u.backoff), u.env.timeout)
}

// score orders upstreams: SRTT plus the decayed penalty; lower is better.
func (u *upstream) score(now time.Time) time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.scoreLocked(now)
}

func (u *upstream) scoreLocked(now time.Time) time.Duration {
	return u.srtt + decay(u.penalty, now.Sub(u.penaltyAt))
}

func decay(p, age time.Duration) time.Duration {
	if p == 0 || age <= 0 {
		return p
	}
	return time.Duration(float64(p) * math.Exp2(-float64(age)/float64(penaltyHalfLife)))
}

// penalizeLocked adds one penalty to the score.
func (u *upstream) penalizeLocked(now time.Time) {
	p := u.env.timeout
	u.penalty = min(decay(u.penalty, now.Sub(u.penaltyAt))+p, maxPenalties*p)
	u.penaltyAt = now
}

// replied records a reply (any reply to our question, SERVFAIL and
// truncated ones included) that came rtt after its query left.
func (u *upstream) replied(rtt time.Duration) {
	u.replies.Add(1)
	u.mu.Lock()
	if u.srtt == 0 {
		u.srtt, u.rttvar = rtt, rtt/2 // RFC 6298 §2.2
	} else {
		u.rttvar += (abs(u.srtt-rtt) - u.rttvar) / 4 // β = 1/4
		u.srtt += (rtt - u.srtt) / 8                 // α = 1/8
	}
	u.srtt = max(u.srtt, time.Microsecond) // 0 means "no sample"
	u.backoff = 0
	u.lastReply = u.env.clock.Now()
	u.losses, u.lossName, u.lossNames = 0, "", false
	u.mu.Unlock()
	u.pace.outcome(false)
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// answered records a real answer (NOERROR or NXDOMAIN): the upstream is
// healthy.
func (u *upstream) answered() {
	u.answers.Add(1)
	u.mu.Lock()
	u.fails = 0
	cameUp := u.down
	u.down = false
	u.mu.Unlock()
	if cameUp {
		u.env.changed(u, true, nil)
	}
}

// lostQuery records that a query for name and qtype, sent at sent with
// the RTO orig, had no reply within it.
func (u *upstream) lostQuery(sent time.Time, orig time.Duration, name string, qtype uint16) {
	u.lost.Add(1)
	u.pace.outcome(true)
	now := u.env.clock.Now()
	u.mu.Lock()
	u.probeQ = dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
	u.penalizeLocked(now)
	if u.lastReply.After(sent) {
		// Replies came while it was out: the packet was lost, the
		// upstream is neither slow nor silent.
		u.mu.Unlock()
		return
	}
	if u.backoff <= 2*orig {
		u.backoff = min(2*orig, u.env.timeout)
	}
	switch {
	case u.losses == 0:
		u.lossName = name
	case name != u.lossName:
		u.lossNames = true
	}
	u.losses++
	wentDown := u.losses >= silentAfter && u.lossNames && u.markDownLocked(now)
	u.mu.Unlock()
	if wentDown {
		u.env.changed(u, false, fmt.Errorf("%w: %d queries lost in a row", ErrTimeout, silentAfter))
	}
}

// failed records a failed query for name and qtype; err says why
// (ErrTimeout: no reply within Config.Timeout).
func (u *upstream) failed(name string, qtype uint16, err error) {
	u.failures.Add(1)
	now := u.env.clock.Now()
	u.mu.Lock()
	if errors.Is(err, ErrTimeout) {
		u.penalizeLocked(now)
	}
	if name != u.failName || u.failType != qtype || u.fails == 0 {
		u.fails++
	}
	u.failName, u.failType = name, qtype
	u.probeQ = dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
	wentDown := u.fails >= downAfter && u.markDownLocked(now)
	u.mu.Unlock()
	if wentDown {
		u.env.changed(u, false, err)
	}
}

// markDownLocked marks u down and reports whether it was up.
func (u *upstream) markDownLocked(now time.Time) bool {
	if u.down {
		return false
	}
	u.down = true
	u.nextProbe = now.Add(probeInterval)
	return true
}

func (u *upstream) isDown() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.down
}

// take takes one pacing token, waiting for it on the clock unless the
// wait would end after deadline (if not zero): then it returns
// ErrRateLimited and takes nothing.
//
// A token once reserved is never handed back (Reservation.Cancel can
// restore more than it took when reservations interleave): take looks
// before it reserves, and a query given up while waiting costs its token.
// That can only keep the rate below the limit, never above it.
//
// A reservation's time is fixed at the rate of the moment it is made, so
// a query joins the limiter's line only when its turn is at most
// 2·pacerLineAhead away; until pacerLineAhead before that it waits
// outside, behind the others waiting there. A cut of the rate then takes
// effect within 2·pacerLineAhead, not after a line of a whole deadline's
// worth has left at the old rate.
func (u *upstream) take(ctx context.Context, deadline time.Time) error {
	p, c := u.pace, u.env.clock
	now := c.Now()
	if p.lim.AllowN(now, 1) {
		return nil
	}
	p.waiting()
	ahead := p.outside.Add(1) - 1
	outside := true
	defer func() {
		if outside {
			p.outside.Add(-1)
		}
	}()
	counted := false
	for {
		// The wait for a token reserved now, behind ahead more: tokens
		// are negative while others wait in line.
		lack := 1 - p.lim.TokensAt(now) + float64(ahead)
		wait := time.Duration(lack / float64(p.lim.Limit()) * float64(time.Second))
		if !deadline.IsZero() && now.Add(wait).After(deadline) {
			return ErrRateLimited
		}
		if !counted {
			counted = true
			u.env.stats.add(cRateLimitWaits, 1)
		}
		if wait <= 2*pacerLineAhead {
			break // (twice: a wait a hair over, woken, would sleep again)
		}
		if err := sleep(ctx, c, wait-pacerLineAhead); err != nil {
			return ErrRateLimited
		}
		// Those ahead have joined the line by now, or are about to.
		now, ahead = c.Now(), 0
	}
	outside = false
	p.outside.Add(-1)
	res := p.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if !res.OK() || !deadline.IsZero() && now.Add(delay).After(deadline) {
		return ErrRateLimited // another took the place in line
	}
	if err := sleep(ctx, c, delay); err != nil {
		return ErrRateLimited
	}
	return nil
}

// tryTake takes a pacing token if one is there now.
func (u *upstream) tryTake() bool {
	if u.pace.lim.AllowN(u.env.clock.Now(), 1) {
		return true
	}
	u.pace.waiting()
	return false
}

// probeDue reports whether u is down and due for a probe, and if so
// schedules the next one and returns the questions to probe with: the
// root NS, then the last question of a lookup that was lost or failed
// here (an upstream that only serves a Forward zone may refuse the root). A query sent within the
// last probeInterval, a lookup's, is as good as a probe.
func (u *upstream) probeDue(now time.Time) []dns.Question {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.down || now.Before(u.nextProbe) {
		return nil
	}
	if sent := time.Unix(0, u.lastSent.Load()); now.Sub(sent) < probeInterval {
		u.nextProbe = sent.Add(probeInterval)
		return nil
	}
	u.nextProbe = now.Add(probeInterval)
	qs := []dns.Question{{Name: ".", Qtype: dns.TypeNS}}
	if u.probeQ.Name != "" && u.probeQ.Name != "." {
		qs = append(qs, u.probeQ)
	}
	return qs
}

// probe queries u, if it is down and due, and brings it back up when it
// gives a real answer (NOERROR or NXDOMAIN; SERVFAIL and REFUSED do not
// count). The second question is only asked when the first got a reply.
// Probes are paced like any query but never wait for a token.
func (u *upstream) probe(ctx context.Context) {
	for _, q := range u.probeDue(u.env.clock.Now()) {
		if !u.tryTake() {
			return
		}
		_, err := u.query(ctx, q.Name, q.Qtype, nil)
		if err == nil || errors.Is(err, ErrTimeout) || errors.Is(err, ErrClosed) {
			return
		}
	}
}

func (u *upstream) stats() UpstreamStats {
	now := u.env.clock.Now()
	rate, ceiling := u.pace.limits() // before u.mu: the pacer takes it, under its own lock (rto)
	u.mu.Lock()
	defer u.mu.Unlock()
	return UpstreamStats{
		Addr:     u.addr,
		Rate:     rate,
		Ceiling:  ceiling,
		Replies:  u.replies.Load(),
		SRTT:     u.srtt,
		RTO:      u.rtoLocked(),
		Score:    u.scoreLocked(now),
		Queries:  u.queries.Load(),
		Answers:  u.answers.Load(),
		Lost:     u.lost.Load(),
		Failures: u.failures.Load(),
		Down:     u.down,
	}
}

// newUpstream returns the upstream at addr, paced at qps with burst (0:
// found, see pacer.go).
func newUpstream(addr string, env *upstreamEnv, qps float64, burst int) *upstream {
	u := &upstream{addr: addr, env: env}
	u.pace = newPacer(qps, burst, env.clock)
	u.pace.settle = u.rto
	u.pace.moved = func(old, now float64) {
		if env.ceiling != nil {
			env.ceiling(u, old, now)
		}
	}
	return u
}

type forwardRule struct {
	zone string // lower-case FQDN
	ups  []*upstream
}

// upstreamSet holds every upstream once, and which serve which names.
type upstreamSet struct {
	all []*upstream
	def []*upstream
	fwd []forwardRule // longest zone first
}

func newUpstreamSet(cfg Config, env *upstreamEnv) (*upstreamSet, error) {
	s := &upstreamSet{}
	byAddr := map[string]*upstream{}
	get := func(a string) (*upstream, error) {
		addr, err := normAddr(a)
		if err != nil {
			return nil, err
		}
		if u, ok := byAddr[addr]; ok {
			return u, nil
		}
		u := newUpstream(addr, env, cfg.QPSPerUpstream, cfg.BurstPerUpstream)
		byAddr[addr] = u
		s.all = append(s.all, u)
		return u, nil
	}
	list := func(addrs []string) ([]*upstream, error) {
		var out []*upstream
		for _, a := range addrs {
			u, err := get(a)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
		return out, nil
	}
	var err error
	if s.def, err = list(cfg.Upstreams); err != nil {
		return nil, err
	}
	for zone, addrs := range cfg.Forward {
		var buf [keyBufSize]byte
		k, kerr := makeKey(buf[:0], zone, 0)
		if kerr != nil {
			return nil, fmt.Errorf("resolver: Forward zone %q: %w", zone, kerr)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("resolver: Forward zone %q has no upstreams", zone)
		}
		ups, err := list(addrs)
		if err != nil {
			return nil, err
		}
		s.fwd = append(s.fwd, forwardRule{zone: string(k[:len(k)-2]), ups: ups})
	}
	sort.Slice(s.fwd, func(i, j int) bool { return len(s.fwd[i].zone) > len(s.fwd[j].zone) })
	return s, nil
}

// allLoopback reports whether every upstream is on a loopback address.
func (s *upstreamSet) allLoopback() bool {
	for _, u := range s.all {
		if ap, err := netip.ParseAddrPort(u.addr); err != nil || !ap.Addr().Unmap().IsLoopback() {
			return false
		}
	}
	return true
}

// normAddr checks an "ip:port" or "ip" upstream address.
func normAddr(a string) (string, error) {
	if ap, err := netip.ParseAddrPort(a); err == nil {
		return ap.String(), nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	return "", fmt.Errorf("resolver: upstream %q is not ip:port", a)
}

// forName returns the upstreams that serve name: the longest Forward
// zone containing it, else the default upstreams.
func (s *upstreamSet) forName(name string) []*upstream {
	for _, f := range s.fwd {
		if inZone(name, f.zone) {
			return f.ups
		}
	}
	return s.def
}

// order returns ups ordered for one lookup: upstreams that are up before
// those that are down, each by score at now.
func order(ups []*upstream, now time.Time) []*upstream {
	type ranked struct {
		u     *upstream
		down  bool
		score time.Duration
	}
	rs := make([]ranked, 0, len(ups))
	for _, u := range ups {
		u.mu.Lock()
		rs = append(rs, ranked{u, u.down, u.scoreLocked(now)})
		u.mu.Unlock()
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if a.down != b.down {
			if a.down {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.score, b.score)
	})
	out := make([]*upstream, len(rs))
	for i, r := range rs {
		out[i] = r.u
	}
	return out
}

// probeLoop re-probes upstreams that are down, so that their recovery is
// noticed within a second even when no lookup goes their way. Upstreams
// are probed side by side: one that drops the probe does not hold up the
// others'.
func (r *Resolver) probeLoop() {
	var wg sync.WaitGroup
	for sleep(r.base, r.clock, probeInterval/2) == nil {
		for _, u := range r.upstreams.all {
			if u.isDown() {
				wg.Go(func() { u.probe(r.base) })
			}
		}
		wg.Wait()
	}
}

// upstreamChanged logs an upstream going down or coming back up; its
// recovery voids the failures remembered before.
func (r *Resolver) upstreamChanged(u *upstream, up bool, err error) {
	if up {
		r.recoveries.Add(1)
		r.logf("resolver: upstream up", "upstream", u.addr)
		return
	}
	r.logf("resolver: upstream down", "upstream", u.addr, "err", err)
}

// ceilingMoved logs a ceiling the pacer found, moved or lifted.
func (r *Resolver) ceilingMoved(u *upstream, old, now float64) {
	if r.log == nil {
		return
	}
	switch {
	case old == 0:
		r.log.Info("resolver: upstream ceiling found", "upstream", u.addr, "qps", math.Round(now))
	case now == 0:
		r.log.Info("resolver: upstream ceiling lifted", "upstream", u.addr, "was", math.Round(old))
	default:
		r.log.Info("resolver: upstream ceiling moved", "upstream", u.addr, "qps", math.Round(now), "was", math.Round(old))
	}
}

func (r *Resolver) logf(msg string, args ...any) {
	if r.log != nil {
		r.log.Warn(msg, args...)
	}
}
