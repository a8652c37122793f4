// Package resolver is a caching, coalescing, paced DNS stub resolver for
// programs that make DNS lookups at volume, above all mail transfer agents:
// MX and address lookups for every recipient domain, SPF and DKIM TXT
// records for every message.
//
// A Resolver sends queries to recursive upstreams (Unbound, a cloud VPC
// resolver) and protects them and itself from the failures that hurt large
// senders:
//
//   - identical concurrent lookups are coalesced into one upstream query;
//   - answers are cached for their TTL, negative answers per RFC 2308 and
//     failures per RFC 9520, and expired answers are served when the
//     upstreams fail (RFC 8767);
//   - each upstream is paced by a token bucket whose rate is found below
//     its packet-rate ceiling (the replies per second stop growing with
//     the queries sent), or capped by Config.QPSPerUpstream;
//   - a query with no reply within its upstream's retransmission timeout
//     is hedged on the next upstream, so packet loss costs milliseconds;
//     retries are bounded per lookup and by a process-wide retry budget
//     credited by answers, so an outage does not multiply the load on the
//     upstreams;
//   - upstreams are chosen by smoothed round-trip time, failing ones are
//     avoided and re-probed, and the best one is always still tried.
//
// Lookup returns the full answer (keeping NXDOMAIN and NODATA apart); the
// eleven methods of *net.Resolver (LookupAddr, LookupCNAME, LookupHost,
// LookupIP, LookupIPAddr, LookupMX, LookupNS, LookupNetIP, LookupPort,
// LookupSRV, LookupTXT) are here with its signatures and semantics, so a
// Resolver can be handed to code written for the standard library.
//
// Every failure answers the question an MTA has to ask: bounce or defer?
// See IsTemporary and the error variables.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// Defaults for the zero values of Config fields.
const (
	DefaultQPSPerUpstream = 1000 // where a found rate starts
	DefaultTimeout        = 2 * time.Second
	DefaultAttempts       = 6
	DefaultRetryBudget    = 0.2
	DefaultCacheSize      = 100_000
	DefaultMaxTTL         = 24 * time.Hour
	DefaultNegativeMaxTTL = time.Hour
	DefaultFailureTTL     = 5 * time.Second
	DefaultStaleTTL       = 24 * time.Hour
	DefaultUDPSize        = 1232
)

// Config configures a Resolver. The zero value of every field selects the
// documented default, so Config{} is a working configuration that uses the
// nameservers of /etc/resolv.conf.
type Config struct {
	// Upstreams are the recursive resolvers to query, as "ip:port"
	// ("ip" alone means port 53). Empty: the nameservers of
	// /etc/resolv.conf.
	Upstreams []string

	// Forward maps a zone to the upstreams that answer for names in it,
	// instead of Upstreams ("in-addr.arpa." → a resolver that knows the
	// private reverse zones). The longest matching zone wins.
	Forward map[string][]string

	// QPSPerUpstream, if set, is a hard cap on the queries per second sent
	// to one upstream: in any time t, never more than QPSPerUpstream·t +
	// BurstPerUpstream, whatever the upstream does. Every packet counts:
	// first attempts, hedges, retries, TCP fallbacks, probes, prefetches.
	//
	// Default (zero): each upstream's rate is found. It starts at
	// DefaultQPSPerUpstream (1000/s: below the 1024 packets/s per network
	// interface at which cloud VPC resolvers silently drop) and rises
	// quickly while queries wait for it and the upstream answers what it
	// is sent. When the share of queries lost grows with the rate (a
	// plateau in replies per second), the rate settles just below the
	// ceiling that reply rate shows, and probes above it every two seconds
	// in case it moved; it drops within a quarter of a second when the
	// ceiling drops. Loss that does not grow with the rate (packet loss on
	// the path) does not lower it. Stats().Upstreams shows each rate and
	// ceiling; Logger is told when a ceiling is found, moves or lifts.
	QPSPerUpstream float64

	// BurstPerUpstream is how many queries may be sent to one upstream at
	// once above the steady rate. Default a tenth of a second's worth of
	// the rate (with the found rate, following it), at least 1.
	BurstPerUpstream int

	// Timeout bounds one attempt: from its query leaving to its reply,
	// including a TCP retry after a truncated reply. Default 2s. An
	// attempt with no reply within the upstream's retransmission timeout
	// (RTO: SRTT + 4·RTTVAR as RFC 6298 computes it, at least 50ms, 376ms
	// for an upstream never heard from, doubled while queries go
	// unanswered) is hedged: the next attempt starts while the first still
	// waits, and the first real answer wins. A shared resolution starts no
	// retry later than 2·Timeout after its first query left, whatever its
	// callers' deadlines; its first query waits for a pacing token for up
	// to 2·Timeout, or until the first caller's deadline if that is later.
	Timeout time.Duration

	// Attempts is the most queries one lookup may make, the first
	// included; each further attempt goes to the next upstream that is up.
	// Default 6, so that under 20% random packet loss fewer than 1 lookup
	// in 10,000 fails. How many of them a lookup uses is up to the retry
	// budget: all of them under random loss, almost none in an outage.
	Attempts int

	// RetryBudget is the retry budget's ratio: every answered lookup
	// deposits RetryBudget tokens, every retry (hedges included) takes
	// one, a lookup answered after retrying gets one back, and the bucket
	// holds at most RetryBudget × the lookups answered over about the last
	// 10s (at least 20 tokens). Default 0.2: independent loss up to about
	// 35% is retried in full, while in an outage, where nothing is
	// answered, retries stop almost at once; they also stop while every
	// upstream is down. Negative: retries are not budgeted (not
	// recommended).
	RetryBudget float64

	// CacheSize is the number of cache entries (one per name and type).
	// Default 100,000. Least recently used entries are evicted first.
	CacheSize int

	// MinTTL raises record TTLs below it. Default 0: respect the
	// publisher.
	MinTTL time.Duration

	// MaxTTL caps positive TTLs. Default 24h.
	MaxTTL time.Duration

	// NegativeMaxTTL caps the TTL of NXDOMAIN and NODATA answers (RFC 2308
	// §5). Default 1h.
	NegativeMaxTTL time.Duration

	// FailureTTL is how long a failed resolution (SERVFAIL, timeouts,
	// refusals) of a name and type is remembered, answering further
	// lookups without a query (RFC 9520). Default 5s. Failures remembered
	// while an upstream was down are forgotten when it comes back up.
	FailureTTL time.Duration

	// StaleTTL is how long after expiry an answer may still be served
	// when resolution fails (RFC 8767). Default 24h; negative disables
	// serve-stale.
	StaleTTL time.Duration

	// Prefetch refreshes, in the background, entries that are looked up
	// in the last 10% of their TTL, so popular names never expire.
	Prefetch bool

	// UDPSize is the EDNS0 UDP payload size advertised to upstreams.
	// Default 1232 (the DNS Flag Day 2020 size that avoids IP
	// fragmentation). Answers that do not fit come back truncated and are
	// fetched again over TCP.
	UDPSize uint16

	// Logger receives state changes only: an upstream going down or
	// coming back, the retry budget running out or recovering (Warn), an
	// upstream's ceiling found, moved or lifted (Info). Never a line per
	// query. Default: no logging.
	Logger *slog.Logger

	// TrustAD trusts the AD bit (the upstream validated the answer with
	// DNSSEC) from every upstream. Default false: it is trusted only when
	// every upstream, Forward ones included, is on loopback, where no one
	// on the path can set it (glibc's trust-ad, mox's adns do the same).
	// An untrusted AD bit is dropped: Answer.Authenticated is false.
	TrustAD bool

	// clock is the time source of every timer and TTL; tests replace it.
	// Default: the wall clock.
	clock clock
}

// A Resolver is a caching DNS stub resolver. It is safe for concurrent use
// by multiple goroutines. Create one with New, share it across the
// process, and Close it when done.
type Resolver struct {
	cfg       Config
	clock     clock
	cache     *cache
	upstreams *upstreamSet
	budget    *retryBudget
	stats     *counters
	log       *slog.Logger
	group     singleflight.Group
	flights   sync.Map // key → *flight, while its shared resolution runs
	// prefetching counts background refreshes under way.
	prefetching atomic.Int32
	// recoveries counts upstreams coming back up; it voids the failures
	// remembered before.
	recoveries atomic.Uint64
	// trustAD: Config.TrustAD, or every upstream on loopback.
	trustAD bool

	base   context.Context // cancelled by Close; parent of all work
	cancel context.CancelFunc

	mu     sync.Mutex // protects closed and the Add side of wg
	closed bool
	wg     sync.WaitGroup // every goroutine the Resolver starts
}

// New returns a Resolver for cfg. It fails if an upstream address is
// invalid or, when cfg.Upstreams is empty, /etc/resolv.conf cannot be read.
func New(cfg Config) (*Resolver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	clk := cfg.clock
	if clk == nil {
		clk = realClock{}
	}
	r := &Resolver{
		cfg:    cfg,
		clock:  clk,
		stats:  new(counters),
		log:    cfg.Logger,
		budget: newRetryBudget(cfg.RetryBudget, clk),
	}
	r.cache = newCache(cfg.CacheSize)
	env := &upstreamEnv{clock: clk, timeout: cfg.Timeout, udpSize: cfg.UDPSize, stats: r.stats,
		changed: r.upstreamChanged, ceiling: r.ceilingMoved}
	r.upstreams, err = newUpstreamSet(cfg, env)
	if err != nil {
		return nil, err
	}
	r.trustAD = cfg.TrustAD || r.upstreams.allLoopback()
	r.base, r.cancel = context.WithCancel(context.Background())
	r.goFunc(r.probeLoop)
	return r, nil
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Upstreams) == 0 {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return c, fmt.Errorf("resolver: no Upstreams configured and /etc/resolv.conf unusable: %w", err)
		}
		for _, s := range cc.Servers {
			c.Upstreams = append(c.Upstreams, net.JoinHostPort(s, cc.Port))
		}
		if len(c.Upstreams) == 0 {
			return c, errors.New("resolver: no Upstreams configured and none in /etc/resolv.conf")
		}
	}
	if c.QPSPerUpstream < 0 {
		c.QPSPerUpstream = 0
	}
	if c.BurstPerUpstream < 0 {
		c.BurstPerUpstream = 0
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.RetryBudget == 0 {
		c.RetryBudget = DefaultRetryBudget
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.MinTTL > c.MaxTTL {
		c.MinTTL = c.MaxTTL
	}
	if c.NegativeMaxTTL <= 0 {
		c.NegativeMaxTTL = DefaultNegativeMaxTTL
	}
	if c.FailureTTL <= 0 {
		c.FailureTTL = DefaultFailureTTL
	}
	if c.StaleTTL == 0 {
		c.StaleTTL = DefaultStaleTTL
	}
	if c.UDPSize == 0 {
		c.UDPSize = DefaultUDPSize
	}
	if c.UDPSize < 512 {
		c.UDPSize = 512
	}
	return c, nil
}

// goFunc runs f in a goroutine owned by r, unless r is closed.
func (r *Resolver) goFunc(f func()) bool {
	if !r.enter() {
		return false
	}
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// Close stops every goroutine the Resolver started, cancelling queries in
// flight, and waits for them. Lookups after Close fail with ErrClosed.
// Close is idempotent.
func (r *Resolver) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// Lookup resolves name (with or without the trailing dot, in any case) for
// records of type qtype, in class IN.
//
// Special-use names never reach an upstream: localhost and the names under
// it answer the loopback address for A and AAAA and NODATA for other types
// (RFC 6761 §6.3); invalid and onion and the names under them are NXDOMAIN
// (RFC 6761 §6.4, RFC 7686).
//
// NXDOMAIN and NODATA are answers: err is nil and the Answer says which
// (Rcode, NoData). err is non-nil only when no answer could be had; it is
// then a *LookupError wrapping one of the package's error variables. When
// resolution fails but an expired answer is still within Config.StaleTTL,
// that answer is returned with Stale set, and err is nil.
//
// The returned Answer may be shared with other callers and the cache: it
// is read-only.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	var buf [keyBufSize]byte
	k, err := makeKey(buf[:0], name, qtype)
	if err != nil || qtype == 0 {
		err = ErrBadName
	}
	// Counted here, once, in the stripe of the key's cache shard (bad
	// names in the Resolver's own).
	c := r.stats
	var sh *shard
	if err == nil {
		sh = r.cache.shardFor(k)
		c = &sh.c
	}
	c.add(cLookups, 1)
	if err != nil {
		return nil, &LookupError{Name: name, Type: qtype, Err: err}
	}
	now := r.clock.Now()
	if e := sh.fresh(k, now.UnixNano()); e != nil {
		c.add(cCacheHits, 1)
		if e.negative {
			c.add(cNegativeHits, 1)
		}
		if r.cfg.Prefetch {
			r.maybePrefetch(e, now)
		}
		return e.ans, nil
	}
	return r.lookupSlow(ctx, string(k), qtype, now)
}

// lookupSlow handles everything but a fresh hit: a name-wide NXDOMAIN, a
// remembered failure, and the coalesced upstream resolution.
func (r *Resolver) lookupSlow(ctx context.Context, k string, qtype uint16, now time.Time) (*Answer, error) {
	name := keyName(k)
	if r.isClosed() {
		return nil, &LookupError{Name: name, Type: qtype, Err: ErrClosed}
	}
	if ans := specialUse(name, qtype, now); ans != nil {
		return ans, nil
	}
	// An NXDOMAIN learned for another type answers this one too.
	if nx := r.cache.nxdomain(name, now.UnixNano()); nx != nil {
		r.stats.add(cCacheHits, 1)
		r.stats.add(cNegativeHits, 1)
		ans := *nx
		ans.Type = qtype
		r.cache.put(k, answerEntry(&ans))
		return &ans, nil
	}
	// A remembered failure (RFC 9520): answer from it, stale or error.
	if e := r.cache.get(k); e != nil && r.failing(e, now) {
		r.stats.add(cCacheHits, 1)
		if st := r.staleAnswer(e, now); st != nil {
			if st.NotFound() {
				r.stats.add(cNegativeHits, 1)
			}
			return st, nil
		}
		return nil, e.failErr
	}
	r.stats.add(cCacheMisses, 1)

	leader := false // set only if this call's function runs
	ch := r.group.DoChan(k, func() (any, error) {
		leader = true
		// A lookup that missed the cache just before another stored
		// the answer and left the group must not query again.
		if e := r.cache.get(k); e != nil && e.freshAt(r.clock.Now().UnixNano()) {
			return e.ans, nil
		}
		waitUntil, _ := ctx.Deadline()
		return r.resolveAndStore(k, qtype, waitUntil)
	})
	select {
	case res := <-ch:
		if !leader { // the channel receive orders this after the write
			r.stats.add(cCoalesced, 1)
		}
		if res.Err != nil {
			if st := r.staleFor(k, r.clock.Now()); st != nil {
				return st, nil
			}
			return nil, res.Err
		}
		return res.Val.(*Answer), nil
	case <-ctx.Done():
		// The caller gives up; the shared resolution carries on for the
		// others and for the cache. Rather than nothing, serve stale.
		if st := r.staleFor(k, r.clock.Now()); st != nil {
			return st, nil
		}
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			why := ErrTimeout
			if f, ok := r.flights.Load(k); ok && !f.(*flight).sent.Load() {
				why = ErrRateLimited // still waiting for a pacing token
			}
			err = fmt.Errorf("%w: %w", why, err)
		}
		return nil, &LookupError{Name: name, Type: qtype, Err: err}
	}
}

// failing reports whether e holds a failure that still answers at now: it
// is within FailureTTL, and no upstream has come back up since (failures
// stored while an upstream was down say nothing once it is up again).
func (r *Resolver) failing(e *entry, now time.Time) bool {
	return e.failUntil > now.UnixNano() && e.failEpoch == r.recoveries.Load()
}

func (r *Resolver) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// staleFor returns a stale copy of the entry at k, if serve-stale allows.
func (r *Resolver) staleFor(k string, now time.Time) *Answer {
	e := r.cache.get(k)
	if e == nil {
		return nil
	}
	return r.staleAnswer(e, now)
}

// staleAnswer returns e's answer marked stale if it is within StaleTTL of
// its expiry, and counts it.
func (r *Resolver) staleAnswer(e *entry, now time.Time) *Answer {
	if e.ans == nil || r.cfg.StaleTTL < 0 {
		return nil
	}
	if now.UnixNano() > e.expires+int64(r.cfg.StaleTTL) {
		return nil
	}
	if now.UnixNano() < e.expires {
		// Still fresh (a failure was recorded for a refresh): serve it
		// as it is.
		return e.ans
	}
	st := *e.ans
	st.Stale = true
	r.stats.add(cStaleServed, 1)
	return &st
}

// resolveAndStore is the shared work for one key: resolve on the
// Resolver's own time, never cut short by any one caller's deadline (a
// caller that gives up returns alone), and store the outcome. waitUntil,
// the first caller's deadline, may only let the first query wait longer
// for its pacing token (see resolve).
func (r *Resolver) resolveAndStore(k string, qtype uint16, waitUntil time.Time) (*Answer, error) {
	if !r.enter() {
		return nil, &LookupError{Name: keyName(k), Type: qtype, Err: ErrClosed}
	}
	defer r.wg.Done()
	f := new(flight)
	r.flights.Store(k, f)
	defer r.flights.CompareAndDelete(k, f)
	name := keyName(k)
	msg, upstream, err := r.resolve(r.base, name, qtype, f, waitUntil)
	now := r.clock.Now()
	if err != nil {
		// Remember what the upstreams said (RFC 9520), not our own
		// pacing or shutdown.
		if !errors.Is(err, ErrRateLimited) && !errors.Is(err, ErrClosed) {
			r.cache.putFailure(k, err, now.UnixNano(), int64(r.cfg.FailureTTL), r.recoveries.Load())
		}
		return nil, err
	}
	ans := r.makeAnswer(name, qtype, msg, now)
	ans.Upstream = upstream
	// Stored even with TTL 0: it is not fresh, but it clears a remembered
	// failure and can be served stale.
	r.cache.put(k, answerEntry(ans))
	// NXDOMAIN at the end of a CNAME chain is about the target, not name.
	if ans.Rcode == dns.RcodeNameError && ans.TTL > 0 && len(ans.Records) == 0 {
		r.cache.put(nxKey(name), answerEntry(ans))
	}
	return ans, nil
}

// maxPrefetches bounds the background refreshes under way at once.
const maxPrefetches = 32

// maybePrefetch starts a background refresh of e if its answer is in the
// last tenth of its TTL and no refresh is under way already.
func (r *Resolver) maybePrefetch(e *entry, now time.Time) {
	ans := e.ans
	if ans.TTL <= 0 || ans.Expires.Sub(now) > ans.TTL/10 || e.prefetching.Load() || r.failing(e, now) {
		return
	}
	if r.prefetching.Add(1) > maxPrefetches {
		r.prefetching.Add(-1)
		return
	}
	if !e.prefetching.CompareAndSwap(false, true) {
		r.prefetching.Add(-1)
		return
	}
	k := e.key
	started := r.goFunc(func() {
		defer r.prefetching.Add(-1)
		r.group.Do(k, func() (any, error) { return r.resolveAndStore(k, ans.Type, time.Time{}) })
	})
	if !started {
		r.prefetching.Add(-1)
	}
}

// enter registers a unit of work with the WaitGroup unless r is closed.
func (r *Resolver) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	return true
}

// makeAnswer turns a validated NOERROR or NXDOMAIN reply into an Answer,
// keeping only the chain from name and computing the cache TTL.
func (r *Resolver) makeAnswer(name string, qtype uint16, msg *dns.Msg, now time.Time) *Answer {
	recs := chain(name, qtype, msg.Answer)
	ans := &Answer{
		Name:          name,
		Type:          qtype,
		Rcode:         msg.Rcode,
		Records:       recs,
		Authenticated: msg.AuthenticatedData && r.trustAD,
	}
	var ttl time.Duration
	if ans.NotFound() {
		// RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM); no
		// SOA, no caching. A CNAME chain caps it too.
		ttl = -1
		for _, rr := range msg.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
				break
			}
		}
		for _, rr := range recs {
			ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
		if ttl >= 0 {
			ttl = min(max(ttl, r.cfg.MinTTL), r.cfg.NegativeMaxTTL)
		}
	} else {
		ttl = time.Duration(recs[0].Header().Ttl) * time.Second
		for _, rr := range recs[1:] {
			ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
		ttl = min(max(ttl, r.cfg.MinTTL), r.cfg.MaxTTL)
	}
	ans.TTL = max(ttl, 0)
	ans.Expires = now.Add(ans.TTL)
	return ans
}

// chain keeps the records of rrs that belong to the answer for name: the
// CNAME chain from name and the records of qtype at its end. Anything else
// an upstream put in the answer section is dropped, so it is never cached.
func chain(name string, qtype uint16, rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, 0, len(rrs))
	cur := name
	for hops := 0; hops <= len(rrs); hops++ {
		next := ""
		for _, rr := range rrs {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, cur) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				out = append(out, rr)
			case h.Rrtype == dns.TypeCNAME && next == "":
				out = append(out, rr)
				next = rr.(*dns.CNAME).Target
			}
		}
		if next == "" || qtype == dns.TypeCNAME {
			break
		}
		cur = next
	}
	return slices.Clip(out)
}

// specialUse answers, without a query, the special-use names that must
// never reach an upstream: localhost and the names under it are the
// loopback addresses, with no record of any other type (RFC 6761 §6.3);
// invalid (§6.4) and onion (RFC 7686 §2) and the names under them do not
// exist. name is a lower-case FQDN. It returns nil for every other name.
func specialUse(name string, qtype uint16, now time.Time) *Answer {
	under := func(zone string) bool { return name == zone || strings.HasSuffix(name, "."+zone) }
	ans := &Answer{Name: name, Type: qtype, Expires: now}
	switch {
	case under("localhost."):
		hdr := dns.RR_Header{Name: name, Rrtype: qtype, Class: dns.ClassINET}
		switch qtype {
		case dns.TypeA:
			ans.Records = []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1).To4()}}
		case dns.TypeAAAA:
			ans.Records = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.IPv6loopback}}
		}
	case under("invalid."), under("onion."):
		ans.Rcode = dns.RcodeNameError
	default:
		return nil
	}
	return ans
}

// ProbeDNSSEC tells whether the upstreams validate DNSSEC, as Postfix's
// dnssec_probe does at start: it looks up the root's NS records (the root
// zone is signed) and reports whether the answer is Authenticated, which
// also needs the AD bit to be trusted (Config.TrustAD). Call it at start:
// an operator learns then, not from deferred mail, that DANE cannot work.
// The outcome goes to the Logger too (Warn when they do not validate). err
// is the lookup's: the probe says nothing then.
func (r *Resolver) ProbeDNSSEC(ctx context.Context) (validating bool, err error) {
	ans, err := r.Lookup(ctx, ".", dns.TypeNS)
	if err != nil {
		return false, err
	}
	switch {
	case ans.Authenticated:
		if r.log != nil {
			r.log.Info("resolver: upstreams validate DNSSEC")
		}
	case !r.trustAD:
		r.logf("resolver: AD bit not trusted (an upstream is off loopback and TrustAD is off): DNSSEC status unknown, DANE cannot work")
	default:
		r.logf("resolver: upstreams do not validate DNSSEC (no AD bit for . NS): DANE cannot work")
	}
	return ans.Authenticated, nil
}
