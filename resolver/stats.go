package resolver

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Resolver's counters since New. Counters only
// grow; rates come from subtracting two snapshots.
type Stats struct {
	Lookups         uint64 // calls to Lookup, directly or through the net-compatible methods
	CacheHits       uint64 // lookups answered from the cache (fresh, negative or remembered failure)
	CacheMisses     uint64 // lookups that needed an upstream resolution (their own or a coalesced one)
	NegativeHits    uint64 // cache hits whose answer is NXDOMAIN or NODATA (Answer.NotFound)
	Coalesced       uint64 // lookups that shared another lookup's upstream resolution
	StaleServed     uint64 // expired answers served because resolution failed (RFC 8767)
	UpstreamQueries uint64 // queries sent to upstreams (UDP and TCP), probes included
	Retries         uint64 // attempts after the first within one lookup (hedges included) that were sent
	RetriesDenied   uint64 // retries the retry budget refused (a refused hedge may be asked for again later)
	RateLimitWaits  uint64 // queries that had to wait for an upstream's pacing
	Timeouts        uint64 // attempts with no reply within Config.Timeout
	ServFails       uint64 // SERVFAIL replies
	TCPFallbacks    uint64 // truncated UDP replies fetched again over TCP
	Evictions       uint64 // cache entries evicted to make room
	Upstreams       []UpstreamStats
}

// UpstreamStats describes one upstream.
type UpstreamStats struct {
	Addr     string        // "ip:port"
	SRTT     time.Duration // smoothed round-trip time of its replies (RFC 6298); 0 before the first
	RTO      time.Duration // how long a query waits for a reply before it counts as lost and is hedged
	Score    time.Duration // SRTT plus the decaying penalty of lost and timed-out queries: upstreams are tried lowest first
	Rate     float64       // queries per second its pacer allows now (Config.QPSPerUpstream if set)
	Ceiling  float64       // the packet rate above which it was found to drop queries, per second; 0: none found
	Queries  uint64        // queries sent to it, UDP and TCP, probes included
	Replies  uint64        // replies of any kind it sent back; Queries − Replies were lost (or are on their way)
	Answers  uint64        // NOERROR and NXDOMAIN replies
	Lost     uint64        // queries with no reply within their RTO (most are answered by a hedge)
	Failures uint64        // timeouts, network errors, malformed replies, SERVFAIL and refusals
	Down     bool          // after consecutive failures or lost queries: no retries go to it, probes do
}

// Stats returns a snapshot of the counters.
func (r *Resolver) Stats() Stats {
	var v [numCounters]uint64
	r.stats.sum(&v)
	for i := range r.cache.shards {
		r.cache.shards[i].c.sum(&v)
	}
	s := Stats{
		Lookups:         v[cLookups],
		CacheHits:       v[cCacheHits],
		CacheMisses:     v[cCacheMisses],
		NegativeHits:    v[cNegativeHits],
		Coalesced:       v[cCoalesced],
		StaleServed:     v[cStaleServed],
		UpstreamQueries: v[cUpstreamQueries],
		Retries:         v[cRetries],
		RetriesDenied:   v[cRetriesDenied],
		RateLimitWaits:  v[cRateLimitWaits],
		Timeouts:        v[cTimeouts],
		ServFails:       v[cServFails],
		TCPFallbacks:    v[cTCPFallbacks],
		Evictions:       v[cEvictions],
	}
	for _, u := range r.upstreams.all {
		s.Upstreams = append(s.Upstreams, u.stats())
	}
	return s
}

const (
	cLookups = iota
	cCacheHits
	cCacheMisses
	cNegativeHits
	cCoalesced
	cStaleServed
	cUpstreamQueries
	cRetries
	cRetriesDenied
	cRateLimitWaits
	cTimeouts
	cServFails
	cTCPFallbacks
	cEvictions
	numCounters
)

// counters is one stripe of counters. The hit path counts in the stripe of
// its cache shard, so goroutines hitting different shards do not contend
// on one cache line.
type counters struct {
	v [numCounters]atomic.Uint64
	_ [64]byte // keep neighbouring stripes off this cache line
}

func (c *counters) add(i int, n uint64) { c.v[i].Add(n) }

func (c *counters) sum(into *[numCounters]uint64) {
	for i := range c.v {
		into[i] += c.v[i].Load()
	}
}
