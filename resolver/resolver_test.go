package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maildns/maildns/dnstest"
	"github.com/miekg/dns"
)

const testZone = `
$ORIGIN example.
$TTL 300
@        IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60
@        IN NS  ns.example.
ns       IN A   192.0.2.53
mail     IN MX  10 mx1.mail.example.
mail     IN MX  20 mx2.mail.example.
mx1.mail IN A   192.0.2.1
mx1.mail IN AAAA 2001:db8::1
mx2.mail IN A   192.0.2.2
alias    IN CNAME mx1.mail.example.
short 30 IN A   192.0.2.30
txt      IN TXT "v=spf1 " "ip4:192.0.2.0/24 -all"
big      IN TXT "big"
`

const reverseZone = `
$ORIGIN 2.0.192.in-addr.arpa.
@ 300 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60
1 300 IN PTR mx1.mail.example.
`

// setup starts a dnstest server with testZone and a Resolver in front of
// it, on a fake clock; edit adjusts the Config.
func setup(t testing.TB, edit func(*Config)) (*Resolver, *dnstest.Server, *fakeClock) {
	t.Helper()
	srv := dnstest.NewServer(t, testZone+reverseZone)
	clk := newClock()
	cfg := Config{Upstreams: []string{srv.Addr()}, Timeout: 300 * time.Millisecond, clock: clk}
	if edit != nil {
		edit(&cfg)
	}
	return mustNew(t, cfg), srv, clk
}

// mustNew returns a Resolver for cfg, closed when the test ends.
func mustNew(t testing.TB, cfg Config) *Resolver {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustLookup(t testing.TB, r *Resolver, name string, qtype uint16) *Answer {
	t.Helper()
	ans, err := r.Lookup(context.Background(), name, qtype)
	if err != nil {
		t.Fatalf("Lookup(%q, %s): %v", name, dns.TypeToString[qtype], err)
	}
	return ans
}

func TestLookupPositive(t *testing.T) {
	r, srv, _ := setup(t, nil)
	for _, name := range []string{"mail.example.", "MAIL.Example", "mail.EXAMPLE."} {
		ans := mustLookup(t, r, name, dns.TypeMX)
		if ans.Name != "mail.example." || ans.Type != dns.TypeMX || ans.Rcode != dns.RcodeSuccess {
			t.Errorf("%q: got %s %s rcode %d", name, ans.Name, dns.TypeToString[ans.Type], ans.Rcode)
		}
		if len(ans.Records) != 2 || ans.TTL != 300*time.Second || ans.NotFound() || ans.Stale {
			t.Errorf("%q: got %d records TTL %v NotFound %v", name, len(ans.Records), ans.TTL, ans.NotFound())
		}
	}
	if n := srv.QueryCount("mail.example.", dns.TypeMX); n != 1 {
		t.Errorf("upstream saw %d MX queries for three lookups of one name, want 1", n)
	}
	s := r.Stats()
	if s.Lookups != 3 || s.CacheHits != 2 || s.CacheMisses != 1 || s.UpstreamQueries != 1 {
		t.Errorf("stats: %+v", s)
	}
}

func TestLookupCNAMEChain(t *testing.T) {
	r, _, _ := setup(t, nil)
	ans := mustLookup(t, r, "alias.example", dns.TypeA)
	if len(ans.Records) != 2 {
		t.Fatalf("got %v, want CNAME and A", ans.Records)
	}
	if _, ok := ans.Records[0].(*dns.CNAME); !ok {
		t.Errorf("first record %v, want the CNAME", ans.Records[0])
	}
	if a, ok := ans.Records[1].(*dns.A); !ok || a.A.String() != "192.0.2.1" {
		t.Errorf("second record %v, want A 192.0.2.1", ans.Records[1])
	}
}

func TestCoalescing(t *testing.T) {
	r, srv, _ := setup(t, nil)
	srv.SetFault("mail.example.", dnstest.Fault{Delay: 200 * time.Millisecond})
	const n = 200
	var wg sync.WaitGroup
	var failed atomic.Int32
	// One impatient caller among them must not fail the others.
	ctx, cancel := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := r.Lookup(ctx, "mail.example", dns.TypeMX); err == nil {
			t.Error("cancelled lookup succeeded")
		} else if !IsTemporary(err) {
			t.Errorf("cancelled lookup: %v is not temporary", err)
		}
	}()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := r.Lookup(context.Background(), "mail.example", dns.TypeMX)
			if err != nil || len(ans.Records) != 2 {
				failed.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d coalesced lookups failed", failed.Load(), n)
	}
	if q := srv.QueryCount("mail.example.", dns.TypeMX); q != 1 {
		t.Errorf("upstream saw %d queries for %d concurrent lookups, want 1", q, n+1)
	}
	if s := r.Stats(); s.Coalesced < n-1 {
		t.Errorf("Coalesced = %d, want at least %d", s.Coalesced, n-1)
	}
}

func TestCacheHitNoNetworkNoAlloc(t *testing.T) {
	r, srv, _ := setup(t, nil)
	mustLookup(t, r, "mail.example.", dns.TypeMX)
	mustLookup(t, r, "nope.example.", dns.TypeA) // a negative hit must not allocate either
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		r.Lookup(ctx, "mail.example.", dns.TypeMX)
		r.Lookup(ctx, "mail.example", dns.TypeMX)
		r.Lookup(ctx, "nope.example.", dns.TypeA)
	})
	if allocs != 0 {
		t.Errorf("cache hit allocates %v times, want 0", allocs)
	}
	if q := srv.Queries(); q != 2 {
		t.Errorf("upstream saw %d queries, want 2", q)
	}
}

func TestNegativeCaching(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.NegativeMaxTTL = 40 * time.Second })

	// NXDOMAIN: TTL = min(SOA TTL 300, MINIMUM 60), capped at 40s; it
	// answers every type of the name.
	nx := mustLookup(t, r, "nope.example", dns.TypeMX)
	if !nx.NXDomain() || !nx.NotFound() || nx.TTL != 40*time.Second {
		t.Fatalf("got rcode %d TTL %v, want NXDOMAIN with TTL 40s", nx.Rcode, nx.TTL)
	}
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX} {
		if a := mustLookup(t, r, "nope.example.", qt); !a.NXDomain() || a.Type != qt {
			t.Errorf("%s: got rcode %d type %d, want NXDOMAIN", dns.TypeToString[qt], a.Rcode, a.Type)
		}
	}
	if q := srv.Queries(); q != 1 {
		t.Errorf("NXDOMAIN for one type: upstream saw %d queries for 4 types, want 1", q)
	}
	if s := r.Stats(); s.NegativeHits != 4 {
		t.Errorf("NegativeHits = %d, want 4", s.NegativeHits)
	}

	// NODATA is per type.
	nd := mustLookup(t, r, "mx2.mail.example", dns.TypeAAAA)
	if !nd.NoData() || nd.NXDomain() || nd.TTL != 40*time.Second {
		t.Fatalf("got rcode %d records %d TTL %v, want NODATA with TTL 40s", nd.Rcode, len(nd.Records), nd.TTL)
	}
	mustLookup(t, r, "mx2.mail.example", dns.TypeAAAA)
	if q := srv.QueryCount("mx2.mail.example.", dns.TypeAAAA); q != 1 {
		t.Errorf("NODATA not cached: %d queries", q)
	}
	if a := mustLookup(t, r, "mx2.mail.example", dns.TypeA); len(a.Records) != 1 {
		t.Errorf("NODATA for AAAA answered A: %v", a.Records)
	}

	// After the negative TTL, ask again.
	clk.Advance(41 * time.Second)
	mustLookup(t, r, "nope.example", dns.TypeMX)
	if q := srv.QueryCount("nope.example.", dns.TypeMX); q != 2 {
		t.Errorf("expired NXDOMAIN: %d queries, want 2", q)
	}
}

// TestNegativeWithoutSOA checks RFC 2308 §5: a negative answer without an
// SOA is not cached.
func TestNegativeWithoutSOA(t *testing.T) {
	var queries atomic.Int32
	addr := serveFunc(t, func(w dns.ResponseWriter, q *dns.Msg) {
		queries.Add(1)
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNameError)
		w.WriteMsg(m)
	})
	r := mustNew(t, Config{Upstreams: []string{addr}})
	for range 3 {
		if a := mustLookup(t, r, "gone.example", dns.TypeA); !a.NXDomain() || a.TTL != 0 {
			t.Fatalf("got rcode %d TTL %v", a.Rcode, a.TTL)
		}
	}
	if q := queries.Load(); q != 3 {
		t.Errorf("negative answer without SOA was cached: %d queries for 3 lookups", q)
	}
}

// serveFunc runs a miekg/dns UDP server on loopback with handler h.
func serveFunc(t testing.TB, h dns.HandlerFunc) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestFailureCaching(t *testing.T) {
	r, srv, clk := setup(t, nil)
	srv.SetFault("mail.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	for i := range 50 {
		_, err := r.Lookup(context.Background(), "mail.example", dns.TypeMX)
		if !errors.Is(err, ErrServerFailure) || !IsTemporary(err) {
			t.Fatalf("lookup %d: got %v, want a temporary ErrServerFailure", i, err)
		}
	}
	// The only upstream said SERVFAIL: asking it again would not help.
	first := srv.QueryCount("mail.example.", dns.TypeMX)
	if first != 1 {
		t.Errorf("50 lookups of a SERVFAIL name cost %d queries, want 1", first)
	}
	clk.Advance(DefaultFailureTTL + time.Second)
	r.Lookup(context.Background(), "mail.example", dns.TypeMX)
	if q := srv.QueryCount("mail.example.", dns.TypeMX); q == first {
		t.Error("failure remembered past FailureTTL")
	}
	if s := r.Stats(); s.ServFails == 0 {
		t.Errorf("ServFails not counted: %+v", s)
	}
}

func TestTimeoutFailureCaching(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.Timeout = 50 * time.Millisecond })
	srv.SetFault("mail.example.", dnstest.Fault{Drop: true})
	for range 10 {
		var err error
		clk.run(func() { _, err = r.Lookup(context.Background(), "mail.example", dns.TypeMX) })
		var de *LookupError
		if !errors.As(err, &de) || !de.Timeout() || !IsTemporary(err) {
			t.Fatalf("got %v, want a timeout", err)
		}
	}
	if q := srv.QueryCount("mail.example.", dns.TypeMX); q > DefaultAttempts {
		t.Errorf("10 lookups of a dead name cost %d queries", q)
	}
}

func TestServeStale(t *testing.T) {
	r, srv, clk := setup(t, nil)
	fresh := mustLookup(t, r, "short.example", dns.TypeA)
	clk.Advance(31 * time.Second) // TTL 30
	srv.SetFault("short.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	st := mustLookup(t, r, "short.example", dns.TypeA)
	if !st.Stale || len(st.Records) != 1 {
		t.Fatalf("got stale=%v records %v, want the stale answer", st.Stale, st.Records)
	}
	if fresh.Stale {
		t.Error("serving stale modified the shared answer")
	}
	before := srv.QueryCount("short.example.", dns.TypeA)
	for range 20 {
		if a := mustLookup(t, r, "short.example", dns.TypeA); !a.Stale {
			t.Fatal("not stale")
		}
	}
	if q := srv.QueryCount("short.example.", dns.TypeA); q != before {
		t.Errorf("failed refresh retried on every query: %d more queries", q-before)
	}
	if s := r.Stats(); s.StaleServed != 21 {
		t.Errorf("StaleServed = %d, want 21", s.StaleServed)
	}
	// Past StaleTTL, the failure shows.
	clk.Advance(DefaultStaleTTL)
	if _, err := r.Lookup(context.Background(), "short.example", dns.TypeA); !errors.Is(err, ErrServerFailure) {
		t.Errorf("past StaleTTL: got %v, want ErrServerFailure", err)
	}
}

func TestServeStaleDisabled(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.StaleTTL = -1 })
	mustLookup(t, r, "short.example", dns.TypeA)
	clk.Advance(31 * time.Second)
	srv.SetFault("short.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	if _, err := r.Lookup(context.Background(), "short.example", dns.TypeA); !errors.Is(err, ErrServerFailure) {
		t.Errorf("got %v, want ErrServerFailure", err)
	}
}

func TestPacing(t *testing.T) {
	const qps, burst = 200, 20
	r, srv, _ := setup(t, func(c *Config) {
		c.QPSPerUpstream, c.BurstPerUpstream = qps, burst
		c.Timeout = 5 * time.Second
		c.clock = realClock{} // pacing against the server's own count per second
	})
	srv.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	const n = 300
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Lookup(context.Background(), fmt.Sprintf("h%d.wild.example", i), dns.TypeA); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() != 0 {
		t.Errorf("%d lookups failed", failed.Load())
	}
	// The upstream never sees more than QPS·t + Burst in any window. The
	// server counts when it receives, so a query delayed on its way by
	// the scheduler can land in the next second: allow 50ms of that.
	for i, c := range srv.PerSecond() {
		if limit := int64(qps + burst + qps/20); c > limit {
			t.Errorf("second %d: upstream saw %d queries, limit %d", i, c, limit)
		}
	}
	// Demand above the limit achieves close to the limit: the ideal is
	// (n-burst)/qps = 2.9s. The bound is loose because machines are noisy.
	if ideal := time.Duration(float64(n-burst) / qps * float64(time.Second)); elapsed > 2*ideal {
		t.Errorf("%d lookups took %v, ideal %v", n, elapsed, ideal)
	}
	if s := r.Stats(); s.RateLimitWaits == 0 {
		t.Error("RateLimitWaits not counted")
	}
}

// TestPacingRespectsDeadline: a caller whose deadline passes while the
// shared resolution still waits for a pacing token gets ErrRateLimited
// (nothing was sent for it); the resolution goes on and its answer is
// cached. A token that cannot come within the resolution's own time is not
// waited for, and neither case is remembered as a failure.
func TestPacingRespectsDeadline(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.QPSPerUpstream, c.BurstPerUpstream = 2, 1 })
	srv.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	mustLookup(t, r, "a.wild.example", dns.TypeA) // takes the one token
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// The next token comes in 500ms on the clock, which stands still.
	if _, err := r.Lookup(ctx, "b.wild.example", dns.TypeA); !errors.Is(err, ErrRateLimited) || !IsTemporary(err) {
		t.Errorf("got %v, want a temporary ErrRateLimited", err)
	}
	if q := srv.QueryCount("b.wild.example.", dns.TypeA); q != 0 {
		t.Fatalf("%d queries sent before the token came", q)
	}
	// The resolution waits outside the limiter's line until 50ms before
	// its token, then in it: the token comes, the resolution queries.
	clk.Advance(450 * time.Millisecond)
	inLine := clk.waitFor(10*time.Second, func() bool {
		return slices.ContainsFunc(clk.timers, func(t *fakeTimer) bool { return t.d <= pacerLineAhead })
	})
	if !inLine {
		t.Fatal("the resolution did not join the line 50ms before its token")
	}
	clk.Advance(time.Second)
	if _, err := r.Lookup(context.Background(), "b.wild.example", dns.TypeA); err != nil {
		t.Errorf("after the caller gave up: %v", err)
	}
	if q := srv.QueryCount("b.wild.example.", dns.TypeA); q != 1 {
		t.Errorf("%d queries, want 1", q)
	}

	// At 1 query/s the token is further away than the resolution's own
	// time (2·Timeout = 600ms): nothing waits for it.
	r, srv, clk = setup(t, func(c *Config) { c.QPSPerUpstream, c.BurstPerUpstream = 1, 1 })
	srv.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	mustLookup(t, r, "a.wild.example", dns.TypeA)
	if _, err := r.Lookup(context.Background(), "b.wild.example", dns.TypeA); !errors.Is(err, ErrRateLimited) {
		t.Errorf("got %v, want ErrRateLimited", err)
	}
	clk.Advance(time.Second)
	if _, err := r.Lookup(context.Background(), "b.wild.example", dns.TypeA); err != nil {
		t.Errorf("after a paced-out lookup: %v", err)
	}
}

// TestUpstreamChoice: an upstream that drops queries loses its place at
// once, and lookups go to the one that answers.
func TestUpstreamChoice(t *testing.T) {
	good := dnstest.NewServer(t, testZone)
	bad := dnstest.NewServer(t, testZone)
	bad.SetFault("*", dnstest.Fault{Drop: true})
	good.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	r := mustNew(t, Config{Upstreams: []string{bad.Addr(), good.Addr()}, Timeout: 50 * time.Millisecond})
	for i := range 50 {
		if _, err := r.Lookup(context.Background(), fmt.Sprintf("h%d.wild.example", i), dns.TypeA); err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	if q := bad.Queries(); q > 3 {
		t.Errorf("the dead upstream got %d of 50 lookups' queries", q)
	}
	st := r.Stats().Upstreams
	if st[0].Lost+st[0].Failures == 0 || st[0].Score <= st[1].Score || st[1].Lost+st[1].Failures != 0 {
		t.Errorf("upstream states: %+v", st)
	}
}

func TestUpstreamRecovery(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.Timeout = 30 * time.Millisecond })
	srv.SetFault("*", dnstest.Fault{Drop: true})
	clk.run(func() {
		for i := range 5 {
			r.Lookup(context.Background(), fmt.Sprintf("h%d.example", i), dns.TypeA)
		}
	})
	if !r.Stats().Upstreams[0].Down {
		t.Fatalf("upstream not down after 5 failed lookups: %+v", r.Stats().Upstreams)
	}
	// Recovery is noticed within a second, without user traffic.
	srv.ClearFaults()
	waitUp(t, r, clk)
}

func TestAllUpstreamsFailingStillTried(t *testing.T) {
	a := dnstest.NewServer(t, testZone)
	b := dnstest.NewServer(t, testZone)
	a.SetFault("*", dnstest.Fault{Drop: true})
	b.SetFault("*", dnstest.Fault{Drop: true})
	clk := newClock()
	r := mustNew(t, Config{Upstreams: []string{a.Addr(), b.Addr()}, Timeout: 30 * time.Millisecond, clock: clk})
	clk.run(func() {
		for i := range 10 {
			r.Lookup(context.Background(), fmt.Sprintf("h%d.example", i), dns.TypeA)
		}
	})
	for _, u := range r.Stats().Upstreams {
		if !u.Down {
			t.Errorf("%s not down", u.Addr)
		}
	}
	// With everything down, every lookup still sends its first query
	// (no retries: they would help no one), and once one upstream
	// answers again it is back within a second and lookups succeed.
	// The driver may fire the probe timers while the lookup runs (a busy
	// machine leaves goroutines unscheduled for longer than it waits),
	// so the probes the fake time allowed are counted out of the total.
	before, start := r.Stats(), clk.Now()
	clk.run(func() { r.Lookup(context.Background(), "h10.example", dns.TypeA) })
	after := r.Stats()
	probes := uint64(len(after.Upstreams)) * uint64(clk.Now().Sub(start)/probeInterval+1)
	if sent := after.UpstreamQueries - before.UpstreamQueries; sent < 1 || sent > 1+probes {
		t.Errorf("with every upstream down a lookup sent %d queries, want 1 (and at most %d probes)", sent, probes)
	}
	if n := after.Retries - before.Retries; n != 0 {
		t.Errorf("with every upstream down a lookup retried %d times, want 0", n)
	}
	b.ClearFaults()
	waitUp(t, r, clk, 1)
	if _, err := r.Lookup(context.Background(), "mail.example", dns.TypeMX); err != nil {
		t.Errorf("with one upstream back: %v", err)
	}
}

func TestTruncatedFallsBackToTCP(t *testing.T) {
	r, srv, _ := setup(t, nil)
	srv.SetFault("txt.example.", dnstest.Fault{Truncate: true})
	ans := mustLookup(t, r, "txt.example", dns.TypeTXT)
	if len(ans.Records) != 1 {
		t.Fatalf("got %v", ans.Records)
	}
	if srv.TCPQueries() != 1 || r.Stats().TCPFallbacks != 1 {
		t.Errorf("TCP queries %d, TCPFallbacks %d; want 1, 1", srv.TCPQueries(), r.Stats().TCPFallbacks)
	}
}

func TestLargeAnswer(t *testing.T) {
	r, srv, _ := setup(t, nil)
	srv.SetFault("big.example.", dnstest.Fault{Oversize: 200})
	ans := mustLookup(t, r, "big.example", dns.TypeTXT)
	if len(ans.Records) != 201 {
		t.Errorf("got %d records, want 201", len(ans.Records))
	}
	if srv.TCPQueries() != 1 {
		t.Errorf("TCP queries %d, want 1", srv.TCPQueries())
	}
}

func TestSpoofedRepliesIgnored(t *testing.T) {
	for _, f := range []dnstest.Fault{{SpoofID: true}, {SpoofQuestion: true}} {
		r, srv, _ := setup(t, nil)
		srv.SetFault("mx1.mail.example.", f)
		ans := mustLookup(t, r, "mx1.mail.example", dns.TypeA)
		if len(ans.Records) != 1 || ans.Records[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("%+v: got %v, want the real answer", f, ans.Records)
		}
		// Nothing spoofed reached the cache.
		again := mustLookup(t, r, "mx1.mail.example", dns.TypeA)
		if again != ans {
			t.Errorf("%+v: second lookup not the cached real answer", f)
		}
	}
}

func TestBadReplies(t *testing.T) {
	cases := []struct {
		fault dnstest.Fault
		want  error
	}{
		{dnstest.Fault{Malformed: true}, ErrMalformed},
		{dnstest.Fault{Rcode: dns.RcodeRefused}, ErrRefused},
		{dnstest.Fault{Rcode: dns.RcodeFormatError}, ErrFormat},
		{dnstest.Fault{Rcode: dns.RcodeNotImplemented}, ErrNotImplemented},
		{dnstest.Fault{Rcode: dns.RcodeServerFailure}, ErrServerFailure},
		{dnstest.Fault{Rcode: dns.RcodeYXDomain}, ErrUnexpectedRcode},
	}
	for _, c := range cases {
		r, srv, _ := setup(t, func(cfg *Config) {
			cfg.Timeout = 100 * time.Millisecond
			if c.fault.Malformed {
				// The junk is ignored and the wait for a real reply
				// times out: after the junk has arrived.
				cfg.clock = realClock{}
			}
		})
		srv.SetFault("mail.example.", c.fault)
		_, err := r.Lookup(context.Background(), "mail.example", dns.TypeMX)
		if !errors.Is(err, c.want) || !IsTemporary(err) {
			t.Errorf("%+v: got %v, want temporary %v", c.fault, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "resolver: ") {
			t.Errorf("error %q does not start with the package name", err)
		}
	}
}

func TestBadNames(t *testing.T) {
	r, srv, _ := setup(t, nil)
	long := strings.Repeat("a", 64)
	names := []string{"", "a..example", ".example", long + ".example",
		strings.Repeat("abcdefghi.", 26) + "com", "sp ace.example", "tab\t.example", "bäd.example", `esc\046aped.example`}
	for _, name := range names {
		_, err := r.Lookup(context.Background(), name, dns.TypeA)
		if !errors.Is(err, ErrBadName) || IsTemporary(err) {
			t.Errorf("%q: got %v, want permanent ErrBadName", name, err)
		}
	}
	if q := srv.Queries(); q != 0 {
		t.Errorf("bad names sent %d queries", q)
	}
	// The longest valid names pass.
	ok := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	if len(ok) != 253 {
		t.Fatal(len(ok))
	}
	for _, name := range []string{ok, ok + ".", "_dmarc.mail.example", "."} {
		if _, err := r.Lookup(context.Background(), name, dns.TypeTXT); errors.Is(err, ErrBadName) {
			t.Errorf("%q rejected", name)
		}
	}
}

func TestFlush(t *testing.T) {
	r, srv, _ := setup(t, nil)
	mustLookup(t, r, "mail.example", dns.TypeMX)
	mustLookup(t, r, "mx1.mail.example", dns.TypeA)
	mustLookup(t, r, "mx1.mail.example", dns.TypeAAAA)
	mustLookup(t, r, "ns.example", dns.TypeA)
	if n := r.Flush("MX1.mail.example"); n != 2 {
		t.Errorf("Flush removed %d entries, want 2", n)
	}
	mustLookup(t, r, "mx1.mail.example", dns.TypeA)
	mustLookup(t, r, "mail.example", dns.TypeMX)
	if q := srv.QueryCount("mx1.mail.example.", dns.TypeA); q != 2 {
		t.Errorf("after Flush: %d queries, want 2", q)
	}
	if q := srv.QueryCount("mail.example.", dns.TypeMX); q != 1 {
		t.Errorf("Flush of a name flushed another: %d queries", q)
	}
	if n := r.FlushZone("mail.example."); n != 2 {
		t.Errorf("FlushZone removed %d, want 2 (mail MX, mx1 A)", n)
	}
	mustLookup(t, r, "ns.example", dns.TypeA)
	if q := srv.QueryCount("ns.example.", dns.TypeA); q != 1 {
		t.Errorf("FlushZone flushed outside its zone")
	}
	if n := r.FlushZone("."); n != 0 {
		t.Errorf("FlushZone(.) removed %d: there is no flush-all", n)
	}
}

func TestForward(t *testing.T) {
	def := dnstest.NewServer(t, testZone)
	rev := dnstest.NewServer(t, reverseZone)
	r, err := New(Config{
		Upstreams: []string{def.Addr()},
		Forward:   map[string][]string{"in-addr.arpa": {def.Addr()}, "2.0.192.IN-ADDR.ARPA.": {rev.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	names, err := r.LookupAddr(context.Background(), "192.0.2.1")
	if err != nil || len(names) != 1 || names[0] != "mx1.mail.example." {
		t.Errorf("LookupAddr: %v, %v", names, err)
	}
	if def.Queries() != 0 || rev.Queries() != 1 {
		t.Errorf("longest Forward zone not used: default %d, reverse %d queries", def.Queries(), rev.Queries())
	}
}

func TestPrefetch(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.Prefetch = true })
	mustLookup(t, r, "mail.example", dns.TypeMX) // TTL 300
	clk.Advance(280 * time.Second)               // last 10%
	mustLookup(t, r, "mail.example", dns.TypeMX)
	deadline := time.Now().Add(2 * time.Second)
	for srv.QueryCount("mail.example.", dns.TypeMX) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no prefetch")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Wait for the refreshed entry, then check it outlives the old one.
	for r.cache.get(string(mustKey("mail.example.", dns.TypeMX))).expires <= clk.Now().Add(30*time.Second).UnixNano() {
		if time.Now().After(deadline) {
			t.Fatal("prefetched answer not stored")
		}
		time.Sleep(5 * time.Millisecond)
	}
	clk.Advance(30 * time.Second) // the original answer has expired
	a := mustLookup(t, r, "mail.example", dns.TypeMX)
	if a.Stale || srv.QueryCount("mail.example.", dns.TypeMX) != 2 {
		t.Errorf("prefetched answer not used")
	}
}

// waitUp moves the clock on, probe by probe, until r's upstream i (the
// first if not given) is back up: recovery must be seen within a second.
func waitUp(t *testing.T, r *Resolver, clk *fakeClock, i ...int) {
	t.Helper()
	u := append(i, 0)[0]
	start := clk.Now()
	probeRounds(clk, func() bool { return !r.Stats().Upstreams[u].Down || clk.Now().Sub(start) > time.Second })
	if r.Stats().Upstreams[u].Down {
		t.Fatalf("recovered upstream still down after %v: %+v", clk.Now().Sub(start), r.Stats().Upstreams[u])
	}
}

// probeRounds moves the clock on, probe by probe, until done holds.
// Lookups must be over: the probe loop is then the only thing waiting on
// the clock.
func probeRounds(clk *fakeClock, done func() bool) {
	for !done() {
		gen, idle := clk.state(probeInterval / 2)
		switch {
		case idle: // the probe loop sleeps: wake it
			clk.fireNext(time.Time{})
		case !clk.waitChange(gen, 2*time.Second):
			// It waits for a probe, and nothing has happened for 2s
			// of real time, far longer than an answer takes: the
			// probe was dropped. Its timeout is the earliest timer.
			clk.fireNext(time.Time{})
		}
	}
}

func mustKey(name string, qtype uint16) []byte {
	k, err := makeKey(nil, name, qtype)
	if err != nil {
		panic(err)
	}
	return k
}

func TestTTLClamp(t *testing.T) {
	r, _, _ := setup(t, func(c *Config) { c.MinTTL = time.Minute; c.MaxTTL = 2 * time.Minute })
	if a := mustLookup(t, r, "short.example", dns.TypeA); a.TTL != time.Minute {
		t.Errorf("TTL 30s with MinTTL 1m: got %v", a.TTL)
	}
	if a := mustLookup(t, r, "ns.example", dns.TypeA); a.TTL != 2*time.Minute {
		t.Errorf("TTL 300s with MaxTTL 2m: got %v", a.TTL)
	}
}

func TestEviction(t *testing.T) {
	r, srv, _ := setup(t, func(c *Config) { c.CacheSize = 64; c.QPSPerUpstream = 1e9 })
	srv.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	for i := range 1000 {
		mustLookup(t, r, fmt.Sprintf("h%d.wild.example", i), dns.TypeA)
	}
	n := 0
	for i := range r.cache.shards {
		s := &r.cache.shards[i]
		s.mu.RLock()
		n += len(s.m)
		if len(s.m) != len(s.ring) {
			t.Errorf("shard %d: map %d, ring %d", i, len(s.m), len(s.ring))
		}
		s.mu.RUnlock()
	}
	if n > 64 {
		t.Errorf("cache holds %d entries, CacheSize 64", n)
	}
	if r.Stats().Evictions == 0 {
		t.Error("Evictions not counted")
	}
}

func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := dnstest.NewServer(t, testZone)
	srv.SetFault("slow.example.", dnstest.Fault{Drop: true})
	r, err := New(Config{Upstreams: []string{srv.Addr()}, Prefetch: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := r.Lookup(context.Background(), "slow.example", dns.TypeA)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	r.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("lookup in flight at Close: got %v, want ErrClosed", err)
	}
	if _, err := r.Lookup(context.Background(), "mail.example", dns.TypeMX); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v", err)
	}
	r.Close()
	srv.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAuthenticatedBit(t *testing.T) {
	addr := serveFunc(t, func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.AuthenticatedData = q.AuthenticatedData // AD asked for, AD given
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.7")
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	})
	r := mustNew(t, Config{Upstreams: []string{addr}})
	if a := mustLookup(t, r, "signed.example", dns.TypeA); !a.Authenticated {
		t.Error("AD bit not reported (or not asked for)")
	}
	// An upstream off loopback (here a Forward one) makes the AD bit
	// untrusted, from every upstream, unless TrustAD says otherwise.
	fwd := map[string][]string{"other.example.": {"192.0.2.1:53"}}
	r = mustNew(t, Config{Upstreams: []string{addr}, Forward: fwd})
	if a := mustLookup(t, r, "signed.example", dns.TypeA); a.Authenticated {
		t.Error("AD bit trusted with an upstream off loopback")
	}
	r = mustNew(t, Config{Upstreams: []string{addr}, Forward: fwd, TrustAD: true})
	if a := mustLookup(t, r, "signed.example", dns.TypeA); !a.Authenticated {
		t.Error("AD bit not trusted with TrustAD")
	}
}

// TestProbeDNSSEC: validating upstreams are told apart from the others,
// with a log line for the operator.
func TestProbeDNSSEC(t *testing.T) {
	addr := serveFunc(t, func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.AuthenticatedData = true
		rr, _ := dns.NewRR(". 60 IN NS a.root-servers.net.")
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	})
	var buf lockedBuffer
	r := mustNew(t, Config{Upstreams: []string{addr}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if ok, err := r.ProbeDNSSEC(context.Background()); !ok || err != nil {
		t.Errorf("validating upstream: %v, %v", ok, err)
	}
	srv := dnstest.NewServer(t, ". 60 IN SOA a. b. 1 2 3 4 5\n. 60 IN NS a.root-servers.net.")
	buf = lockedBuffer{}
	r = mustNew(t, Config{Upstreams: []string{srv.Addr()}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if ok, err := r.ProbeDNSSEC(context.Background()); ok || err != nil {
		t.Errorf("upstream without AD: %v, %v", ok, err)
	}
	if !strings.Contains(buf.String(), "do not validate DNSSEC") {
		t.Errorf("log: %q", buf.String())
	}
}

// TestExtendedError: a SERVFAIL with an Extended DNS Error (RFC 8914)
// carries it, also when the failure is remembered.
func TestExtendedError(t *testing.T) {
	r, srv, _ := setup(t, nil)
	srv.SetFault("bogus.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure,
		ExtendedError: &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus, ExtraText: "signature expired"}})
	for i := range 2 { // the second from the remembered failure
		_, err := r.Lookup(context.Background(), "bogus.example", dns.TypeTLSA)
		var ede *ExtendedError
		if !errors.Is(err, ErrServerFailure) || !errors.As(err, &ede) || ede.Code != 6 || !ede.DNSSEC() || !IsTemporary(err) {
			t.Errorf("lookup %d: %v; want a temporary SERVFAIL with DNSSEC Bogus", i, err)
		}
		if err != nil && !strings.Contains(err.Error(), "DNSSEC Bogus") {
			t.Errorf("lookup %d: %q does not say it", i, err)
		}
	}
	if n := srv.QueryCount("bogus.example.", dns.TypeTLSA); n != 1 {
		t.Errorf("%d queries, want 1 (the failure remembered)", n)
	}
	if (&ExtendedError{Code: 3}).DNSSEC() {
		t.Error("Stale Answer (3) taken for a DNSSEC failure")
	}
}

// TestForeignRecordsDropped checks that answer-section records outside the
// CNAME chain of the question never reach the cache.
func TestForeignRecordsDropped(t *testing.T) {
	addr := serveFunc(t, func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, s := range []string{
			q.Question[0].Name + " 60 IN CNAME target.example.",
			"target.example. 60 IN A 192.0.2.7",
			"victim.example. 60 IN A 6.6.6.6",
			"target.example. 60 IN MX 10 evil.example.",
		} {
			rr, _ := dns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	r := mustNew(t, Config{Upstreams: []string{addr}})
	a := mustLookup(t, r, "www.example", dns.TypeA)
	if len(a.Records) != 2 {
		t.Errorf("got %v, want the CNAME and its A only", a.Records)
	}
}

// lockedBuffer is an io.Writer safe for the Resolver's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLoggerStateChangesOnly(t *testing.T) {
	var buf lockedBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	r, srv, clk := setup(t, func(c *Config) { c.Logger = logger; c.Timeout = 20 * time.Millisecond })
	for range 50 {
		mustLookup(t, r, "mail.example", dns.TypeMX)
	}
	if buf.String() != "" {
		t.Fatalf("healthy lookups logged: %s", buf.String())
	}
	srv.SetFault("*", dnstest.Fault{Drop: true})
	clk.run(func() {
		for i := range 40 {
			r.Lookup(context.Background(), fmt.Sprintf("h%d.example", i), dns.TypeA)
		}
	})
	srv.ClearFaults()
	waitUp(t, r, clk)
	out := buf.String()
	for _, want := range []string{"upstream down", "upstream up"} {
		if strings.Count(out, want) != 1 {
			t.Errorf("log has %d lines with %q, want 1:\n%s", strings.Count(out, want), want, out)
		}
	}
	if n := strings.Count(out, "\n"); n > 4 {
		t.Errorf("%d log lines for one outage:\n%s", n, out)
	}
}

// TestBrokenNameKeepsUpstreamUp: one name whose servers time out behind
// the upstream must not take the upstream out of rotation.
func TestBrokenNameKeepsUpstreamUp(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.Timeout = 20 * time.Millisecond })
	srv.SetFault("slow.example.", dnstest.Fault{Drop: true})
	for range 5 {
		clk.run(func() { r.Lookup(context.Background(), "slow.example", dns.TypeMX) })
		clk.Advance(DefaultFailureTTL + time.Second)
	}
	if u := r.Stats().Upstreams[0]; u.Down || u.Failures < 5 {
		t.Errorf("after timeouts of one name: %+v, want up with failures counted", u)
	}
}

// TestRecoveryVoidsRememberedFailures: failures remembered during an
// outage are forgotten as soon as the upstream is back, not FailureTTL
// later.
func TestRecoveryVoidsRememberedFailures(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.Timeout = 20 * time.Millisecond; c.FailureTTL = time.Hour })
	srv.SetFault("*", dnstest.Fault{Drop: true})
	var err error
	clk.run(func() {
		for i := range 5 {
			r.Lookup(context.Background(), fmt.Sprintf("h%d.example", i), dns.TypeA)
		}
		_, err = r.Lookup(context.Background(), "h0.example", dns.TypeA)
	})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("during the outage: %v", err)
	}
	srv.ClearFaults()
	waitUp(t, r, clk)
	if a, err := r.Lookup(context.Background(), "h0.example", dns.TypeA); err != nil || !a.NXDomain() {
		t.Errorf("after recovery: %v, %v; want the real answer", a, err)
	}
}

// TestServFailBurst: an upstream that answers SERVFAIL for every name goes
// down, and when it recovers the failures it caused are forgotten at once.
func TestServFailBurst(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.FailureTTL = time.Hour })
	srv.SetFault("*", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	for i := range 5 {
		r.Lookup(context.Background(), fmt.Sprintf("h%d.example", i), dns.TypeA)
	}
	if !r.Stats().Upstreams[0].Down {
		t.Fatalf("upstream answering SERVFAIL for everything not down: %+v", r.Stats().Upstreams[0])
	}
	srv.ClearFaults()
	waitUp(t, r, clk)
	if a, err := r.Lookup(context.Background(), "h0.example", dns.TypeA); err != nil || !a.NXDomain() {
		t.Errorf("after the burst: %v, %v; want the real answer", a, err)
	}
}

// TestAttemptsGoToNextUpstream: each attempt of one lookup goes to the
// next upstream, and there are at most Attempts of them.
func TestAttemptsGoToNextUpstream(t *testing.T) {
	var srvs []*dnstest.Server
	var addrs []string
	for range 4 {
		s := dnstest.NewServer(t, testZone)
		s.SetFault("mail.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
		srvs = append(srvs, s)
		addrs = append(addrs, s.Addr())
	}
	r := mustNew(t, Config{Upstreams: addrs, Attempts: 3})
	if _, err := r.Lookup(context.Background(), "mail.example", dns.TypeMX); !errors.Is(err, ErrServerFailure) {
		t.Fatalf("got %v", err)
	}
	total, used := int64(0), 0
	for _, s := range srvs {
		n := s.QueryCount("mail.example.", dns.TypeMX)
		total += n
		if n > 1 {
			t.Errorf("upstream %s asked %d times in one lookup", s.Addr(), n)
		}
		if n == 1 {
			used++
		}
	}
	if total != 3 || used != 3 {
		t.Errorf("%d queries over %d upstreams, want 3 over 3", total, used)
	}
}

// TestQueryOnTheWire checks what each query looks like: RD and AD set,
// EDNS0 at UDPSize, a fresh ID and source port each time.
func TestQueryOnTheWire(t *testing.T) {
	type seen struct {
		id      uint16
		port    string
		udpSize uint16
		rd, ad  bool
	}
	var mu sync.Mutex
	var queries []seen
	addr := serveFunc(t, func(w dns.ResponseWriter, q *dns.Msg) {
		s := seen{id: q.Id, rd: q.RecursionDesired, ad: q.AuthenticatedData}
		_, s.port, _ = net.SplitHostPort(w.RemoteAddr().String())
		if opt := q.IsEdns0(); opt != nil {
			s.udpSize = opt.UDPSize()
		}
		mu.Lock()
		queries = append(queries, s)
		mu.Unlock()
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNameError)
		m.Ns = []dns.RR{mustRR(t, "example. 60 IN SOA ns.example. h.example. 1 1 1 1 60")}
		w.WriteMsg(m)
	})
	r := mustNew(t, Config{Upstreams: []string{addr}, UDPSize: 1400})
	for i := range 20 {
		mustLookup(t, r, fmt.Sprintf("q%d.example", i), dns.TypeA)
	}
	ids, ports := map[uint16]bool{}, map[string]bool{}
	mu.Lock()
	defer mu.Unlock()
	for _, q := range queries {
		if !q.rd || !q.ad || q.udpSize != 1400 {
			t.Errorf("query %+v: want RD, AD and EDNS0 size 1400", q)
		}
		ids[q.id], ports[q.port] = true, true
	}
	// 20 random 16-bit IDs collide with probability ~0.3%; ports are
	// fresh sockets from the kernel's randomised ephemeral range.
	if len(ids) < 19 || len(ports) < 19 {
		t.Errorf("%d distinct IDs and %d distinct ports in %d queries", len(ids), len(ports), len(queries))
	}
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// TestHedgeKeepsFirstAttempt: when an attempt has had no reply for its
// upstream's RTO, a second one starts, and the first is not abandoned:
// whichever reply comes first wins.
func TestHedgeKeepsFirstAttempt(t *testing.T) {
	r, srv, _ := setup(t, func(c *Config) { c.Timeout = 2 * time.Second; c.clock = realClock{} })
	for range 5 { // measure the upstream: loopback, so RTO = minRTO
		mustLookup(t, r, "ns.example", dns.TypeA)
		r.Flush("ns.example")
	}
	if rto := r.Stats().Upstreams[0].RTO; rto != minRTO {
		t.Fatalf("RTO on loopback %v, want %v", rto, minRTO)
	}
	// The hedge leaves at 50ms with an RTO of 100ms (doubled after the
	// loss): the first reply, at 120ms, comes before a third query.
	srv.SetFault("mail.example.", dnstest.Fault{Delay: 120 * time.Millisecond})
	ans := mustLookup(t, r, "mail.example", dns.TypeMX)
	if len(ans.Records) != 2 {
		t.Fatalf("got %v", ans.Records)
	}
	if q := srv.QueryCount("mail.example.", dns.TypeMX); q != 2 {
		t.Errorf("upstream saw %d queries, want 2 (the first and one hedge)", q)
	}
	if s := r.Stats(); s.Retries != 1 || s.Timeouts != 0 {
		t.Errorf("Retries %d, Timeouts %d; want 1 hedge and no timeout", s.Retries, s.Timeouts)
	}
}

// TestHedgeOnLoss: a query lost on the way costs about one RTO, not a
// whole Timeout, when another upstream can answer.
func TestHedgeOnLoss(t *testing.T) {
	lossy := dnstest.NewServer(t, testZone)
	good := dnstest.NewServer(t, testZone)
	r := mustNew(t, Config{Upstreams: []string{lossy.Addr(), good.Addr()}, Timeout: 3 * time.Second})
	for range 10 { // measure both upstreams
		mustLookup(t, r, "ns.example", dns.TypeA)
		r.Flush("ns.example")
	}
	lossy.SetFault("*", dnstest.Fault{Drop: true})
	for i := range 5 {
		start := time.Now()
		if _, err := r.Lookup(context.Background(), fmt.Sprintf("n%d.example", i), dns.TypeA); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("lookup %d took %v with one lossy upstream of two (Timeout 3s)", i, d)
		}
	}
}

// TestSpecialUseNames: localhost (RFC 6761 §6.3), invalid (§6.4) and onion
// (RFC 7686) are answered without a query.
func TestSpecialUseNames(t *testing.T) {
	r, srv, _ := setup(t, nil)
	for _, c := range []struct {
		name  string
		qtype uint16
		want  string // the record's data; "NXDOMAIN"; "NODATA"
	}{
		{"localhost", dns.TypeA, "127.0.0.1"},
		{"LocalHost.", dns.TypeAAAA, "::1"},
		{"mail.localhost", dns.TypeA, "127.0.0.1"},
		{"localhost", dns.TypeMX, "NODATA"},
		{"invalid", dns.TypeA, "NXDOMAIN"},
		{"x.invalid", dns.TypeMX, "NXDOMAIN"},
		{"duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion", dns.TypeA, "NXDOMAIN"},
		{"onion", dns.TypeTXT, "NXDOMAIN"},
	} {
		ans, err := r.Lookup(context.Background(), c.name, c.qtype)
		if err != nil {
			t.Errorf("%s %s: %v", c.name, dns.TypeToString[c.qtype], err)
			continue
		}
		got := "NODATA"
		switch {
		case ans.NXDomain():
			got = "NXDOMAIN"
		case len(ans.Records) == 1:
			got = strings.Fields(ans.Records[0].String())[4]
		}
		if got != c.want {
			t.Errorf("%s %s: %s, want %s", c.name, dns.TypeToString[c.qtype], got, c.want)
		}
	}
	if n := srv.Queries(); n != 0 {
		t.Errorf("%d queries sent for special-use names", n)
	}
	// Names that merely look alike are resolved as usual.
	if _, err := r.Lookup(context.Background(), "notlocalhost.example", dns.TypeA); err != nil {
		t.Error(err)
	}
	if srv.Queries() != 1 {
		t.Errorf("notlocalhost.example: %d queries, want 1", srv.Queries())
	}
	ips, err := r.LookupNetIP(context.Background(), "ip", "localhost")
	if want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}; err != nil || !slices.Equal(ips, want) {
		t.Errorf("LookupNetIP localhost: %v, %v", ips, err)
	}
}
