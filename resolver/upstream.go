package resolver

import (
	"cmp"
	"context"
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
	"golang.org/x/time/rate"
)

// Upstream choice. Every upstream has a smoothed round-trip time (SRTT,
// an exponentially weighted moving average of measured RTTs, with its
// variation, as RFC 6298 computes them) and a timeout penalty that is added on every timeout and
// halves every penaltyHalfLife, so a lossy upstream is avoided at once
// and tried again when the penalty has faded. After downAfter consecutive
// failures an upstream is marked down: it is ordered after every upstream
// that is up, and a background probe queries it every probeInterval until
// it answers. An upstream is never removed: when all are down, the one
// with the best score is still tried first.

const (
	penaltyHalfLife = 2 * time.Second
	downAfter       = 3 // consecutive failures that mark an upstream down
	probeInterval   = 500 * time.Millisecond
)

type upstream struct {
	addr string
	lim  *rate.Limiter

	mu        sync.Mutex    // protects the fields below
	srtt      time.Duration // of replies (RFC 6298)
	rttvar    time.Duration
	penalty   time.Duration // timeout penalty as of penaltyAt
	penaltyAt time.Time
	fails     int    // consecutive failures, of distinct names
	failName  string // the name and type of the last failure
	failType  uint16
	down      bool
	nextProbe time.Time

	queries  atomic.Uint64
	failures atomic.Uint64
}

// score is the upstream's SRTT plus its decayed timeout penalty: lower is
// better. u.mu is held.
func (u *upstream) scoreLocked(now time.Time) time.Duration {
	return u.srtt + decay(u.penalty, now.Sub(u.penaltyAt))
}

func decay(p, age time.Duration) time.Duration {
	if p == 0 || age <= 0 {
		return p
	}
	return time.Duration(float64(p) * math.Exp2(-float64(age)/float64(penaltyHalfLife)))
}

// success records an answer after rtt. It reports whether the upstream
// came back up.
func (u *upstream) success(rtt time.Duration) (cameUp bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srtt == 0 {
		u.srtt, u.rttvar = rtt, rtt/2
	} else {
		u.rttvar += (abs(u.srtt-rtt) - u.rttvar) / 4
		u.srtt += (rtt - u.srtt) / 8
	}
	u.fails = 0
	cameUp = u.down
	u.down = false
	return cameUp
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// rto is u's retransmission timeout (RFC 6298 §2: SRTT + 4·RTTVAR), at
// least minRTO and at most limit; limit until u has answered once.
func (u *upstream) rto(limit time.Duration) time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srtt == 0 {
		return limit
	}
	return min(max(u.srtt+4*u.rttvar, minRTO), limit)
}

// failure records a failed attempt; timeouts add penalty to the score. It
// reports whether the upstream just went down.
//
// One broken name (its authoritative servers time out behind the
// upstream) must not take the upstream out of rotation, so repeated
// failures of the same name count once towards going down.
func (u *upstream) failure(now time.Time, penalty time.Duration, name string, qtype uint16) (wentDown bool) {
	u.failures.Add(1)
	u.mu.Lock()
	defer u.mu.Unlock()
	if penalty > 0 {
		u.penalty = min(decay(u.penalty, now.Sub(u.penaltyAt))+penalty, 8*penalty)
		u.penaltyAt = now
	}
	if name != u.failName || u.fails == 0 {
		u.fails++
	}
	u.failName, u.failType = name, qtype
	if u.fails >= downAfter && !u.down {
		u.down = true
		u.nextProbe = now.Add(probeInterval)
		return true
	}
	return false
}

// probeDue reports whether u is down and due for a probe, and if so
// schedules the next one and returns the questions to probe with: the
// root NS, then the last question that failed (an upstream that only
// serves a Forward zone may refuse the root).
func (u *upstream) probeDue(now time.Time) []dns.Question {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.down || now.Before(u.nextProbe) {
		return nil
	}
	u.nextProbe = now.Add(probeInterval)
	qs := []dns.Question{{Name: ".", Qtype: dns.TypeNS}}
	if u.failName != "" && u.failName != "." {
		qs = append(qs, dns.Question{Name: u.failName, Qtype: u.failType})
	}
	return qs
}

func (u *upstream) stats() UpstreamStats {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	return UpstreamStats{
		Addr:     u.addr,
		SRTT:     u.scoreLocked(now),
		Queries:  u.queries.Load(),
		Failures: u.failures.Load(),
		Down:     u.down,
	}
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

func newUpstreamSet(cfg Config) (*upstreamSet, error) {
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
		u := &upstream{
			addr: addr,
			lim:  rate.NewLimiter(rate.Limit(cfg.QPSPerUpstream), cfg.BurstPerUpstream),
		}
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
// those that are down, each by score.
func order(ups []*upstream, now time.Time) []*upstream {
	type scored struct {
		u     *upstream
		down  bool
		score time.Duration
	}
	var arr [8]scored
	sc := arr[:0]
	for _, u := range ups {
		u.mu.Lock()
		sc = append(sc, scored{u, u.down, u.scoreLocked(now)})
		u.mu.Unlock()
	}
	slices.SortStableFunc(sc, func(a, b scored) int {
		if a.down != b.down {
			if a.down {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.score, b.score)
	})
	out := make([]*upstream, len(sc))
	for i := range sc {
		out[i] = sc[i].u
	}
	return out
}

// pace takes one query token from u, spilling over to another upstream
// that is up and has a token right now when u has none. It waits for u's
// token otherwise, unless that wait would pass ctx's deadline or
// waitUntil (if not zero).
//
// A token once reserved is never handed back (Reservation.Cancel can
// restore more than it took when reservations interleave): pace looks
// before it reserves, and a query given up while waiting costs its token.
// That can only keep the rate below the limit, never above it.
func (r *Resolver) pace(ctx context.Context, u *upstream, others []*upstream, waitUntil time.Time) (*upstream, error) {
	now := time.Now()
	if u.lim.AllowN(now, 1) {
		return u, nil
	}
	for _, o := range others {
		if o == u {
			continue
		}
		o.mu.Lock()
		down := o.down
		o.mu.Unlock()
		if !down && o.lim.AllowN(now, 1) {
			return o, nil
		}
	}
	if dl, ok := ctx.Deadline(); ok && (waitUntil.IsZero() || dl.Before(waitUntil)) {
		waitUntil = dl
	}
	// The wait for a token reserved now: (1 - tokens) / rate, tokens
	// negative while others wait in line.
	lack := 1 - u.lim.TokensAt(now)
	if !waitUntil.IsZero() && now.Add(time.Duration(lack/float64(u.lim.Limit())*float64(time.Second))).After(waitUntil) {
		return nil, ErrRateLimited
	}
	res := u.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if !res.OK() || !waitUntil.IsZero() && now.Add(delay).After(waitUntil) {
		return nil, ErrRateLimited // another took the place in line
	}
	r.stats.add(cRateLimitWaits, 1)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return u, nil
	case <-ctx.Done():
		return nil, ErrRateLimited
	}
}

// probeLoop re-probes upstreams that are down, so that their recovery is
// noticed within a second even when no lookup goes their way.
func (r *Resolver) probeLoop() {
	tick := time.NewTicker(probeInterval / 2)
	defer tick.Stop()
	for {
		select {
		case <-r.base.Done():
			return
		case <-tick.C:
		}
		for _, u := range r.upstreams.all {
			r.probe(u)
		}
	}
}

// probe queries a down upstream, if it is due, and marks it up when it
// gives a real answer (NOERROR or NXDOMAIN; SERVFAIL and REFUSED do not
// count).
func (r *Resolver) probe(u *upstream) {
	for _, q := range u.probeDue(time.Now()) {
		if !u.lim.Allow() {
			return
		}
		ctx, cancel := context.WithTimeout(r.base, min(r.cfg.Timeout, time.Second))
		msg, rtt, err := r.exchange(ctx, u, q.Name, q.Qtype, nil)
		cancel()
		if err == nil && (msg.Rcode == dns.RcodeSuccess || msg.Rcode == dns.RcodeNameError) {
			r.upstreamSucceeded(u, rtt)
			return
		}
	}
}

func (r *Resolver) upstreamSucceeded(u *upstream, rtt time.Duration) {
	if u.success(rtt) {
		r.recoveries.Add(1)
		r.logf("resolver: upstream up", "upstream", u.addr)
	}
}

func (r *Resolver) upstreamFailed(u *upstream, penalty time.Duration, name string, qtype uint16, err error) {
	if u.failure(time.Now(), penalty, name, qtype) {
		r.logf("resolver: upstream down", "upstream", u.addr, "failures", downAfter, "err", err)
	}
}

func (r *Resolver) logf(msg string, args ...any) {
	if r.log != nil {
		r.log.Warn(msg, args...)
	}
}
