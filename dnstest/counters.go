package dnstest

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Queries returns the number of queries received over UDP and TCP since
// Start or the last ResetCounts, including those dropped by a fault or the
// rate limit and those that could not be parsed.
func (s *Server) Queries() int64 { return s.cnt.total.Load() }

// TCPQueries returns how many of Queries came over TCP.
func (s *Server) TCPQueries() int64 { return s.cnt.tcp.Load() }

// Dropped returns how many of Queries were never answered: dropped by a
// Drop or DropRate fault or over the rate limit.
func (s *Server) Dropped() int64 { return s.cnt.dropped.Load() }

// RateLimited returns how many of Queries were dropped over the rate limit
// (SetRateLimit).
func (s *Server) RateLimited() int64 { return s.cnt.limited.Load() }

// QueryCount returns the number of queries received for name (a domain
// name, case-insensitive, the trailing dot optional) and qtype, or for name
// and any type when qtype is 0.
func (s *Server) QueryCount(name string, qtype uint16) int64 {
	return s.cnt.get(dns.CanonicalName(name), qtype)
}

// PerSecond returns the number of queries received in each second since
// Start or the last ResetCounts: index 0 is the first second. The last
// element is the second in progress, so its count is still growing.
func (s *Server) PerSecond() []int64 { return s.cnt.secs.Load().snapshot(time.Now()) }

// ResetCounts sets every counter to zero and restarts PerSecond's clock.
// Queries that arrive while it runs may be counted before or after.
func (s *Server) ResetCounts() { s.cnt.reset() }

// countShards is the number of independently locked maps the per-name
// counts are spread over, so that concurrent handlers rarely contend.
const countShards = 64

type countKey struct {
	name  string // lower-case FQDN
	qtype uint16 // 0: any type
}

type countShard struct {
	mu sync.Mutex // protects m
	m  map[countKey]int64
	_  [48]byte // keep shards on separate cache lines
}

// counters counts queries; it is safe for simultaneous use.
type counters struct {
	seed    maphash.Seed
	total   atomic.Int64
	tcp     atomic.Int64
	dropped atomic.Int64 // by a fault or the rate limit
	limited atomic.Int64 // by the rate limit
	shards  [countShards]countShard
	secs    atomic.Pointer[perSecond]
}

func newCounters() *counters {
	c := &counters{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[countKey]int64)
	}
	c.secs.Store(newPerSecond(time.Now()))
	return c
}

// add counts one query. name is the lower-case FQDN; named is false when
// the query had no question that could be read.
func (c *counters) add(name string, qtype uint16, named, tcp bool) {
	c.total.Add(1)
	if tcp {
		c.tcp.Add(1)
	}
	c.secs.Load().add(time.Now())
	if !named {
		return
	}
	sh := c.shard(name)
	sh.mu.Lock()
	sh.m[countKey{name, qtype}]++
	if qtype != 0 {
		sh.m[countKey{name, 0}]++
	}
	sh.mu.Unlock()
}

func (c *counters) get(name string, qtype uint16) int64 {
	sh := c.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[countKey{name, qtype}]
}

// shard returns the shard for name; all types of a name share one, so that
// the "any type" count is updated under the same lock.
func (c *counters) shard(name string) *countShard {
	return &c.shards[maphash.String(c.seed, name)%countShards]
}

func (c *counters) reset() {
	c.total.Store(0)
	c.tcp.Store(0)
	c.dropped.Store(0)
	c.limited.Store(0)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.m = make(map[countKey]int64)
		sh.mu.Unlock()
	}
	c.secs.Store(newPerSecond(time.Now()))
}

// secondsPerChunk is how many per-second counters are allocated at a time.
const secondsPerChunk = 256

type secondsChunk [secondsPerChunk]atomic.Int64

// perSecond counts queries per second since start. Counting is lock-free;
// the list of chunks grows by copy-on-write.
type perSecond struct {
	start  time.Time
	mu     sync.Mutex // serialises growth of chunks
	chunks atomic.Pointer[[]*secondsChunk]
}

func newPerSecond(start time.Time) *perSecond {
	p := &perSecond{start: start}
	chunks := []*secondsChunk{new(secondsChunk)}
	p.chunks.Store(&chunks)
	return p
}

func (p *perSecond) index(now time.Time) int {
	return max(int(now.Sub(p.start)/time.Second), 0)
}

func (p *perSecond) add(now time.Time) {
	i := p.index(now)
	c := i / secondsPerChunk
	chunks := *p.chunks.Load()
	if c >= len(chunks) {
		chunks = p.grow(c)
	}
	chunks[c][i%secondsPerChunk].Add(1)
}

// grow makes sure chunk c exists and returns the chunks.
func (p *perSecond) grow(c int) []*secondsChunk {
	p.mu.Lock()
	defer p.mu.Unlock()
	chunks := *p.chunks.Load()
	if c < len(chunks) {
		return chunks
	}
	grown := make([]*secondsChunk, c+1)
	copy(grown, chunks)
	for i := len(chunks); i <= c; i++ {
		grown[i] = new(secondsChunk)
	}
	p.chunks.Store(&grown)
	return grown
}

func (p *perSecond) snapshot(now time.Time) []int64 {
	n := p.index(now) + 1
	chunks := *p.chunks.Load()
	out := make([]int64, n)
	for i := range out {
		if c := i / secondsPerChunk; c < len(chunks) {
			out[i] = chunks[c][i%secondsPerChunk].Load()
		}
	}
	return out
}
