package resolver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maildns/maildns/dnstest"
	"github.com/miekg/dns"
)

// testUpstream returns an upstream on clk that no Resolver owns.
func testUpstream(clk clock, timeout time.Duration) *upstream {
	return newUpstream("192.0.2.1:53", &upstreamEnv{
		clock: clk, timeout: timeout, stats: new(counters),
		changed: func(*upstream, bool, error) {},
	}, 0, 0)
}

// TestRTO checks the retransmission timeout: Unbound's first RTO for an
// upstream never heard from, RFC 6298 smoothing, the 50ms floor, the
// Timeout cap, and rtt_lost's backoff (the original RTO doubles, so many
// queries lost at once double it once) until the next reply.
func TestRTO(t *testing.T) {
	clk := newClock()
	u := testUpstream(clk, 2*time.Second)
	ms := time.Millisecond
	steps := []struct {
		what string
		do   func()
		want time.Duration
	}{
		{"never heard from", func() {}, initialRTO},
		{"first sample 100ms", func() { u.replied(100 * ms) }, 300 * ms}, // SRTT 100, RTTVAR 50
		{"steady 1ms replies", func() {
			for range 100 {
				u.replied(ms)
			}
		}, minRTO},
		{"one loss", func() { u.lostQuery(clk.Now(), minRTO, "a.example.", dns.TypeA) }, 100 * ms},
		{"a second query lost with the same RTO", func() { u.lostQuery(clk.Now(), minRTO, "b.example.", dns.TypeA) }, 100 * ms},
		{"a query lost at 100ms", func() { u.lostQuery(clk.Now(), 100*ms, "c.example.", dns.TypeA) }, 200 * ms},
		{"lost at 1.6s", func() { u.lostQuery(clk.Now(), 1600*ms, "d.example.", dns.TypeA) }, 2 * time.Second},
		{"a reply", func() { u.replied(ms) }, minRTO},
		{"a query sent before that reply lost", func() { u.lostQuery(clk.Now().Add(-time.Second), minRTO, "e.example.", dns.TypeA) }, minRTO},
	}
	for _, s := range steps {
		s.do()
		if got := u.rto(); got != s.want {
			t.Errorf("%s: RTO %v, want %v", s.what, got, s.want)
		}
	}
	st := u.stats()
	if st.SRTT > 2*ms || st.Score <= st.SRTT || st.Lost != 5 {
		t.Errorf("stats %+v: want SRTT of the replies only, losses in the score", st)
	}
	clk.Advance(time.Minute)
	if st := u.stats(); st.Score-st.SRTT > ms {
		t.Errorf("penalty left after a minute: score %v, SRTT %v", st.Score, st.SRTT)
	}
}

// simulateBudget runs n lookups through the retry budget alone, each
// attempt lost with probability p, 1,000 lookups per second on clk, up to
// DefaultAttempts attempts each. It returns the lookups that failed and
// the retries made and refused.
func simulateBudget(b *retryBudget, clk *fakeClock, rng *rand.Rand, n int, p float64) (failed, retries, refused int) {
	for range n {
		clk.Advance(time.Millisecond)
		answered, retried := false, false
		for attempt := range DefaultAttempts {
			if attempt > 0 {
				if ok, _ := b.withdraw(); !ok {
					refused++
					break
				}
				retries++
				retried = true
			}
			if rng.Float64() >= p {
				answered = true
				break
			}
		}
		if answered {
			b.answered(retried)
		} else {
			failed++
		}
	}
	return failed, retries, refused
}

// TestRetryBudgetLossVsOutage: random loss up to about 35% is retried in
// full, and in an outage retries stop almost at once, also right after a
// busy healthy period; then the budget recovers with the answers.
func TestRetryBudgetLossVsOutage(t *testing.T) {
	cases := []struct {
		loss         float64
		maxFailed    float64 // of the lookups
		maxRetries   float64 // per lookup
		allowRefused bool
	}{
		{0, 0, 0, false},
		{0.1, 0.0001, 0.12, false},
		{0.2, 0.0005, 0.26, false},
		{0.3, 0.002, 0.44, false},
		{0.5, 1, 0.27, true}, // beyond the budget: throttled to about RetryBudget
		{1, 1, 0.001, true},  // an outage: the starting tokens, then nothing
	}
	const n = 100_000
	for _, c := range cases {
		clk := newClock()
		b := newRetryBudget(DefaultRetryBudget, clk)
		failed, retries, refused := simulateBudget(b, clk, rand.New(rand.NewPCG(1, 2)), n, c.loss)
		t.Logf("loss %.0f%%: %d of %d failed, %.3f retries per lookup, %d refused", c.loss*100, failed, n, float64(retries)/n, refused)
		if float64(failed) > c.maxFailed*n || float64(retries) > c.maxRetries*n || refused > 0 && !c.allowRefused {
			t.Errorf("loss %.0f%%: %d failed, %d retries, %d refused; want at most %.0f, %.0f, and none refused unless throttled",
				c.loss*100, failed, retries, refused, c.maxFailed*n, c.maxRetries*n)
		}
	}

	// After 10s of busy healthy traffic, the bucket holds what the
	// busy seconds earned; an outage spends it and then retries stop.
	clk := newClock()
	b := newRetryBudget(DefaultRetryBudget, clk)
	simulateBudget(b, clk, rand.New(rand.NewPCG(1, 2)), 10_000, 0)
	_, early, _ := simulateBudget(b, clk, rand.New(rand.NewPCG(1, 2)), 5_000, 1)
	_, late, _ := simulateBudget(b, clk, rand.New(rand.NewPCG(1, 2)), 5_000, 1)
	if limit := DefaultRetryBudget * 10_000; float64(early) > limit || late != 0 {
		t.Errorf("outage after busy traffic: %d retries, then %d; want at most %.0f, then none", early, late, limit)
	}
	// The answers that come back refill it.
	if _, retries, refused := simulateBudget(b, clk, rand.New(rand.NewPCG(1, 2)), 10_000, 0.2); refused > 100 || retries < 2000 {
		t.Errorf("after the outage, 20%% loss: %d retries, %d refused", retries, refused)
	}
}

// TestRetryBudgetLogsStateChanges: running out and recovering are each
// reported once, not on every refusal.
func TestRetryBudgetLogsStateChanges(t *testing.T) {
	clk := newClock()
	b := newRetryBudget(DefaultRetryBudget, clk)
	changes := 0
	for range 100 {
		if _, changed := b.withdraw(); changed {
			changes++
		}
	}
	if changes != 1 {
		t.Errorf("running out reported %d times, want 1", changes)
	}
	changes = 0
	for range 1000 {
		if b.answered(false) {
			changes++
		}
	}
	if changes != 1 {
		t.Errorf("recovering reported %d times, want 1", changes)
	}
}

// TestOutageCost: in a total outage the upstream sees about one query per
// lookup (Retries stop almost at once), also right after busy healthy
// traffic and when the lookups during the outage are few and far
// between; and it is seen back within a second.
func TestOutageCost(t *testing.T) {
	cases := []struct{ workers, each int }{{1, 100}, {4, 25}, {64, 5}}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d", c.workers, c.each), func(t *testing.T) {
			r, srv, clk := setup(t, func(c *Config) { c.QPSPerUpstream = 1e6 })
			srv.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
			// Busy: 2,000 lookups answered in a second.
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Go(func() {
					for i := range 125 {
						mustLookup(t, r, fmt.Sprintf("b%d-%d.wild.example", w, i), dns.TypeA)
					}
				})
			}
			wg.Wait()
			clk.Advance(time.Second)

			srv.SetFault("*", dnstest.Fault{Drop: true})
			before := r.Stats()
			clk.run(func() {
				var wg sync.WaitGroup
				for w := range c.workers {
					wg.Go(func() {
						for i := range c.each {
							if _, err := r.Lookup(context.Background(), fmt.Sprintf("o%d-%d.wild.example", w, i), dns.TypeA); !errors.Is(err, ErrTimeout) {
								t.Errorf("during the outage: %v", err)
							}
						}
					})
				}
				wg.Wait()
			})
			s := r.Stats()
			// Wait for the server to have counted every query sent.
			for deadline := time.Now().Add(5 * time.Second); srv.Queries() < int64(s.UpstreamQueries) && time.Now().Before(deadline); {
				runtime.Gosched()
			}
			n := c.workers * c.each
			var lookupQueries int64
			for w := range c.workers {
				for i := range c.each {
					lookupQueries += srv.QueryCount(fmt.Sprintf("o%d-%d.wild.example.", w, i), dns.TypeA)
				}
			}
			perLookup := float64(lookupQueries) / float64(n)
			probes := int64(s.UpstreamQueries-before.UpstreamQueries) - lookupQueries
			t.Logf("%d lookups: %.3f queries each; retries %d, refused %d; %d probes", n, perLookup,
				s.Retries-before.Retries, s.RetriesDenied-before.RetriesDenied, probes)
			if perLookup > 1.10 {
				t.Errorf("the outage costs %.3f queries per lookup, want at most 1.10", perLookup)
			}
			srv.ClearFaults()
			waitUp(t, r, clk)
		})
	}
}

// TestImpatientFirstCaller: a caller that gives up takes nothing from the
// others waiting for the same name. Its query was lost; the shared
// resolution, on the Resolver's own time, retries after the RTO, and the
// patient callers get the answer; no failure is remembered.
func TestImpatientFirstCaller(t *testing.T) {
	var asked atomic.Int32
	arrived := make(chan struct{}, 10)
	addr := serveFunc(t, func(w dns.ResponseWriter, q *dns.Msg) {
		name := q.Question[0].Name
		if name == "slow.example." && asked.Add(1) == 1 {
			arrived <- struct{}{}
			return // the first query is lost
		}
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = append(m.Answer, mustRR(t, name+" 60 IN A 192.0.2.7"))
		w.WriteMsg(m)
	})
	clk := newClock()
	r := mustNew(t, Config{Upstreams: []string{addr}, clock: clk})
	mustLookup(t, r, "warm.example", dns.TypeA) // the upstream has an RTT now
	rto := r.Stats().Upstreams[0].RTO

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Lookup(ctx, "slow.example", dns.TypeA); !errors.Is(err, ErrTimeout) || !IsTemporary(err) {
		t.Fatalf("impatient caller: %v, want a temporary ErrTimeout", err)
	}
	<-arrived
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := r.Lookup(ctx, "slow.example", dns.TypeA)
			errs <- err
		}()
	}
	for r.Stats().CacheMisses < 6 { // warm, the impatient one, the 4 patient
		runtime.Gosched()
	}
	clk.waitTimer(t, rto) // the shared resolution waits for its RTO
	clk.Advance(rto)
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("patient caller: %v", err)
		}
	}
	if a := mustLookup(t, r, "slow.example", dns.TypeA); len(a.Records) != 1 {
		t.Errorf("after: %v", a.Records)
	}
	if s := r.Stats(); s.Timeouts != 0 || s.Coalesced < 4 || asked.Load() != 2 {
		t.Errorf("Timeouts %d, Coalesced %d, queries %d; want 0, at least 4, 2", s.Timeouts, s.Coalesced, asked.Load())
	}
}

// TestLossRetriedInFull: under 20% random packet loss lookups succeed, a
// lost query costing one RTO.
func TestLossRetriedInFull(t *testing.T) {
	srv := dnstest.NewServer(t, testZone)
	srv.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	r := mustNew(t, Config{Upstreams: []string{srv.Addr()}, Timeout: time.Second, QPSPerUpstream: 1e6})
	for i := range 20 {
		mustLookup(t, r, fmt.Sprintf("w%d.wild.example", i), dns.TypeA)
	}
	srv.SetFault("*", dnstest.Fault{DropRate: 0.2})
	const workers, each = 64, 16
	failed := lookupMany(t, r, workers, each)
	s := r.Stats()
	t.Logf("%d lookups, %d failed; retries %d, refused %d; %+v", workers*each, failed, s.Retries, s.RetriesDenied, s.Upstreams[0])
	// 0.2^6 of the lookups lose every attempt: 0.07 expected here.
	if failed > 1 {
		t.Errorf("%d of %d lookups failed under 20%% loss", failed, workers*each)
	}
	if s.Upstreams[0].Down {
		t.Error("random loss took the upstream down")
	}
}

// TestLossyUpstreamAvoided: of three upstreams one loses half its
// queries; no lookup fails, and the lossy one gets few queries, pacing
// spills included.
func TestLossyUpstreamAvoided(t *testing.T) {
	var srvs []*dnstest.Server
	var addrs []string
	for range 3 {
		s := dnstest.NewServer(t, testZone)
		s.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
		srvs = append(srvs, s)
		addrs = append(addrs, s.Addr())
	}
	lossy := srvs[0] // listed first: it would be tried first
	lossy.SetFault("*", dnstest.Fault{DropRate: 0.5})
	r := mustNew(t, Config{Upstreams: addrs, Timeout: time.Second})
	const workers, each = 16, 125
	failed := lookupMany(t, r, workers, each)
	var total int64
	for _, s := range srvs {
		total += s.Queries()
	}
	t.Logf("queries: lossy %d of %d; %+v", lossy.Queries(), total, r.Stats().Upstreams)
	if failed != 0 {
		t.Errorf("%d of %d lookups failed", failed, workers*each)
	}
	if share := float64(lossy.Queries()) / float64(total); share > 0.05 {
		t.Errorf("the lossy upstream got %.1f%% of the queries", share*100)
	}
}

// lookupMany looks up workers×each names below wild.example, workers at a
// time, and returns how many lookups failed (each failure is logged).
func lookupMany(t *testing.T, r *Resolver, workers, each int) int {
	var failed atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := r.Lookup(context.Background(), fmt.Sprintf("l%d-%d.wild.example", w, i), dns.TypeA); err != nil {
					t.Log(err)
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// TestProbeKeepsItsQuestion: an upstream that refuses the root (it only
// serves some zones) is probed with the last question that failed, every
// round, however often the root is refused.
func TestProbeKeepsItsQuestion(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.Timeout = 20 * time.Millisecond }) // the root is outside its zones: REFUSED
	srv.SetFault("*", dnstest.Fault{Drop: true})
	clk.run(func() {
		for i := range 5 {
			r.Lookup(context.Background(), fmt.Sprintf("h%d.example", i), dns.TypeA)
		}
	})
	// Rounds of probes that fail, the root refused, the question dropped.
	srv.SetFault("*", dnstest.Fault{Drop: true})
	srv.SetFault(".", dnstest.Fault{Rcode: dns.RcodeRefused})
	end := clk.Now().Add(2 * time.Second)
	clk.run(func() {
		for clk.Now().Before(end) {
			runtime.Gosched()
		}
	})
	srv.ClearFaults()
	waitUp(t, r, clk)
}

// TestFailedHedgeRetriesAtOnce: when the newest attempt fails with a reply
// while an earlier one is still out (lost), the next upstream is asked at
// once, not when the lost query times out.
func TestFailedHedgeRetriesAtOnce(t *testing.T) {
	dropping := dnstest.NewServer(t, testZone)
	failing := dnstest.NewServer(t, testZone)
	good := dnstest.NewServer(t, testZone)
	dropping.SetFault("*", dnstest.Fault{Drop: true})
	failing.SetFault("*", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	clk := newClock()
	r := mustNew(t, Config{Upstreams: []string{dropping.Addr(), failing.Addr(), good.Addr()}, clock: clk})
	done := make(chan error, 1)
	go func() {
		_, err := r.Lookup(context.Background(), "mail.example", dns.TypeMX)
		done <- err
	}()
	clk.waitTimer(t, initialRTO) // the first query, to the dropping upstream, waits
	clk.Advance(initialRTO)      // the hedge goes to the failing one, then at once to the good one
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("lookup: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("after a hedge failed, the lookup waited for the lost query's timeout")
	}
}

// TestForwardUpstreamRecovers: an upstream that only serves a Forward
// zone (it refuses the root) and went down because it fell silent comes
// back: probes ask a question of the zone a lookup lost there.
func TestForwardUpstreamRecovers(t *testing.T) {
	a := dnstest.NewServer(t, testZone)
	b := dnstest.NewServer(t, testZone)
	a.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	b.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	clk := newClock()
	r := mustNew(t, Config{
		Upstreams: []string{b.Addr()},
		Forward:   map[string][]string{"example.": {a.Addr(), b.Addr()}},
		Timeout:   time.Second,
		clock:     clk,
	})
	const ia = 1 // Stats lists b first, as Upstreams does
	a.SetFault("*", dnstest.Fault{Drop: true})
	// Lookups at once: their first queries all go to a, before any of
	// them is seen lost.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() { r.Lookup(context.Background(), fmt.Sprintf("h%d.wild.example", i), dns.TypeA) })
	}
	for deadline := time.Now().Add(5 * time.Second); a.Queries() < 16 && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	clk.run(wg.Wait)
	if !r.Stats().Upstreams[ia].Down {
		t.Fatalf("silent upstream not down: %+v", r.Stats().Upstreams)
	}
	a.ClearFaults()
	waitUp(t, r, clk, ia)
}
