package resolver

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// The cache maps a key (lower-case FQDN followed by the query type in two
// bytes) to an entry. It is split into shards by the hash of the name
// alone, so that all the types of one name share a shard (Flush needs them
// together) and goroutines hitting different names do not share a lock.
// Each shard evicts with the CLOCK algorithm: a hit sets a reference bit
// without taking the write lock, and the eviction hand skips (and clears)
// referenced entries, which approximates LRU at the cost of one atomic
// load on the hit path.

const (
	numShards = 64
	// keyBufSize holds the longest FQDN in presentation form without
	// escapes (254 octets) and the type.
	keyBufSize = 254 + 2
)

// entry is one cached key. Apart from its atomics an entry is immutable:
// a change replaces it in the shard.
type entry struct {
	key      string
	ans      *Answer // last answer, possibly expired (kept for serve-stale); nil if none
	expires  int64   // unix nanos when ans stops being fresh
	negative bool    // ans.NotFound(), for the hit path's NegativeHits

	failUntil int64 // unix nanos until which failErr answers (RFC 9520)
	failErr   error
	failEpoch uint64 // Resolver.recoveries when the failure was stored

	slot        int         // index in the shard's ring; guarded by the shard's mu
	ref         atomic.Bool // hit since the hand last passed
	prefetching atomic.Bool // a background refresh is under way
}

// answerEntry is the entry holding ans, fresh until ans.Expires.
func answerEntry(ans *Answer) *entry {
	return &entry{ans: ans, expires: ans.Expires.UnixNano(), negative: ans.NotFound()}
}

// freshAt reports whether e holds an answer that is fresh at now (unix
// nanos).
func (e *entry) freshAt(now int64) bool { return e.ans != nil && now < e.expires }

type shard struct {
	mu   sync.RWMutex // protects m, ring and hand
	m    map[string]*entry
	ring []*entry // CLOCK ring, every entry of m once
	hand int
	max  int

	c counters // the hit path's counter stripe for this shard
}

type cache struct {
	seed   maphash.Seed
	shards [numShards]shard
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	per := max(1, (size+numShards-1)/numShards)
	for i := range c.shards {
		c.shards[i].m = make(map[string]*entry)
		c.shards[i].max = per
	}
	return c
}

// shardFor returns the shard for key k (as bytes, from makeKey).
func (c *cache) shardFor(k []byte) *shard {
	return &c.shards[maphash.Bytes(c.seed, k[:len(k)-2])%numShards]
}

func (c *cache) shardForName(name string) *shard {
	return &c.shards[maphash.String(c.seed, name)%numShards]
}

// fresh returns the entry at k if its answer is fresh at now, marking it
// referenced. It allocates nothing.
func (s *shard) fresh(k []byte, now int64) *entry {
	s.mu.RLock()
	e := s.m[string(k)]
	s.mu.RUnlock()
	if e == nil || !e.freshAt(now) {
		return nil
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	return e
}

func (c *cache) get(k string) *entry {
	s := c.shardForName(keyName(k))
	s.mu.RLock()
	e := s.m[k]
	s.mu.RUnlock()
	return e
}

// nxdomain returns a fresh NXDOMAIN answer cached for name, whatever type
// learned it (RFC 2308 §5: NXDOMAIN is about the name).
func (c *cache) nxdomain(name string, now int64) *Answer {
	e := c.get(nxKey(name))
	if e == nil || !e.freshAt(now) {
		return nil
	}
	return e.ans
}

// put stores e at k, replacing any entry there.
func (c *cache) put(k string, e *entry) {
	e.key = k
	s := c.shardForName(keyName(k))
	s.mu.Lock()
	s.insertLocked(e)
	s.mu.Unlock()
}

// putFailure remembers err for k until now+ttl, keeping the previous
// answer for serve-stale.
func (c *cache) putFailure(k string, err error, now, ttl int64, epoch uint64) {
	s := c.shardForName(keyName(k))
	s.mu.Lock()
	e := &entry{key: k, failUntil: now + ttl, failErr: err, failEpoch: epoch}
	if old := s.m[k]; old != nil {
		e.ans, e.expires, e.negative = old.ans, old.expires, old.negative
	}
	s.insertLocked(e)
	s.mu.Unlock()
}

// insertLocked puts e in the shard, evicting if it is full. s.mu is held.
func (s *shard) insertLocked(e *entry) {
	if old, ok := s.m[e.key]; ok {
		e.slot = old.slot
		s.ring[e.slot] = e
		s.m[e.key] = e
		return
	}
	if len(s.ring) < s.max {
		e.slot = len(s.ring)
		s.ring = append(s.ring, e)
		s.m[e.key] = e
		return
	}
	// CLOCK: the first entry not referenced since the hand last passed
	// goes. Each pass clears bits, so this ends within two turns.
	for {
		v := s.ring[s.hand]
		if v.ref.Load() {
			v.ref.Store(false)
			s.hand = (s.hand + 1) % len(s.ring)
			continue
		}
		delete(s.m, v.key)
		e.slot = s.hand
		s.ring[s.hand] = e
		s.m[e.key] = e
		s.hand = (s.hand + 1) % len(s.ring)
		s.c.add(cEvictions, 1)
		return
	}
}

// removeLocked deletes e from the shard. s.mu is held.
func (s *shard) removeLocked(e *entry) {
	delete(s.m, e.key)
	last := len(s.ring) - 1
	if e.slot != last {
		moved := s.ring[last]
		moved.slot = e.slot
		s.ring[e.slot] = moved
	}
	s.ring[last] = nil
	s.ring = s.ring[:last]
	if s.hand >= len(s.ring) {
		s.hand = 0
	}
}

// removeIf deletes every entry of the shard whose name satisfies match,
// and returns how many it deleted.
func (s *shard) removeIf(match func(name string) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var victims []*entry
	for k, e := range s.m {
		if match(keyName(k)) {
			victims = append(victims, e)
		}
	}
	for _, e := range victims {
		s.removeLocked(e)
	}
	return len(victims)
}

// Flush removes every cached answer and remembered failure for name, of
// every type, including answers kept for serve-stale. The next lookup of
// name goes to an upstream. It returns the number of entries removed.
func (r *Resolver) Flush(name string) int {
	var buf [keyBufSize]byte
	k, err := makeKey(buf[:0], name, 0)
	if err != nil {
		return 0
	}
	fq := string(k[:len(k)-2])
	return r.cache.shardForName(fq).removeIf(func(n string) bool { return n == fq })
}

// FlushZone removes every cached entry for zone and the names below it.
// It returns the number of entries removed. There is deliberately no way
// to flush everything: an empty cache in front of a busy sender is a query
// storm.
func (r *Resolver) FlushZone(zone string) int {
	var buf [keyBufSize]byte
	k, err := makeKey(buf[:0], zone, 0)
	if err != nil {
		return 0
	}
	z := string(k[:len(k)-2])
	if z == "." {
		return 0
	}
	n := 0
	for i := range r.cache.shards {
		n += r.cache.shards[i].removeIf(func(name string) bool { return inZone(name, z) })
	}
	return n
}

// inZone reports whether the lower-case FQDN name is zone or below it.
func inZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// makeKey appends to dst the cache key for name and qtype: the name
// lower-cased with a trailing dot, then qtype big-endian. It rejects names
// that are not valid domain names (ErrBadName). It allocates nothing when
// dst has room for the key.
func makeKey(dst []byte, name string, qtype uint16) ([]byte, error) {
	if name == "" || len(name) > 254 || (len(name) == 254 && name[253] != '.') {
		return nil, ErrBadName
	}
	if name == "." {
		return append(dst, '.', byte(qtype>>8), byte(qtype)), nil
	}
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return nil, ErrBadName // empty label
			}
			label = 0
		case c < 0x21 || c > 0x7e || c == '\\':
			// Control characters, spaces, non-ASCII (use A-labels) and
			// the master-file escape character.
			return nil, ErrBadName
		default:
			label++
			if label > 63 {
				return nil, ErrBadName
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
		}
		dst = append(dst, c)
	}
	if label != 0 {
		dst = append(dst, '.')
	}
	return append(dst, byte(qtype>>8), byte(qtype)), nil
}

// keyName returns the name part of a key.
func keyName(k string) string { return k[:len(k)-2] }

// nxKey is the key under which an NXDOMAIN for name is cached whatever the
// type that learned it (type 0 is reserved and never queried).
func nxKey(name string) string { return name + "\x00\x00" }
