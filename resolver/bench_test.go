package resolver

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// The hit path: go test -run '^$' -bench 'Hit' -benchmem ./resolver/
func BenchmarkLookupHit(b *testing.B) {
	r, _, _ := setup(b, realTime)
	ctx := context.Background()
	mustLookup(b, r, "mail.example.", dns.TypeMX)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Lookup(ctx, "mail.example.", dns.TypeMX); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupHitUnnormalised asks without the trailing dot and in
// mixed case, so the key has to be built.
func BenchmarkLookupHitUnnormalised(b *testing.B) {
	r, _, _ := setup(b, realTime)
	ctx := context.Background()
	mustLookup(b, r, "mail.example.", dns.TypeMX)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Lookup(ctx, "Mail.Example", dns.TypeMX); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupHitParallel: every goroutine asks for the same name, the
// worst case for lock contention.
func BenchmarkLookupHitParallel(b *testing.B) {
	r, _, _ := setup(b, realTime)
	ctx := context.Background()
	mustLookup(b, r, "mail.example.", dns.TypeMX)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Lookup(ctx, "mail.example.", dns.TypeMX); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLookupHitParallelMany: goroutines ask for 1,000 different
// names, as a sender's workers do.
func BenchmarkLookupHitParallelMany(b *testing.B) {
	r, srv, _ := setup(b, func(c *Config) { realTime(c); c.QPSPerUpstream = 1e9 }) // the fill is not under test
	srv.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	ctx := context.Background()
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("h%d.wild.example.", i)
		mustLookup(b, r, names[i], dns.TypeA)
	}
	var seq atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(7919))
		for pb.Next() {
			i++
			if _, err := r.Lookup(ctx, names[i%len(names)], dns.TypeA); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLookupMiss: every lookup goes to the dnstest server on
// loopback (a fresh name each time), UDP, through pacing and the exchange.
func BenchmarkLookupMiss(b *testing.B) {
	r, srv, _ := setup(b, func(c *Config) { realTime(c); c.QPSPerUpstream = 1e9 })
	srv.AddRecords("*.wild.example. 300 IN A 192.0.2.99")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := r.Lookup(ctx, fmt.Sprintf("m%d.wild.example.", i), dns.TypeA); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheMemory reports the heap cost of one cached entry holding a
// typical answer (one A record), including the key and the shard's
// bookkeeping: go test -run '^$' -bench CacheMemory ./resolver/
func BenchmarkCacheMemory(b *testing.B) {
	const n = 20_000
	rr, err := dns.NewRR("h.wild.example. 300 IN A 192.0.2.99")
	if err != nil {
		b.Fatal(err)
	}
	var perEntry float64
	for b.Loop() {
		c := newCache(n)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range n {
			name := fmt.Sprintf("h%d.wild.example.", i)
			k := string(mustKey(name, dns.TypeA))
			a := dns.Copy(rr)
			a.Header().Name = name
			c.put(k, answerEntry(&Answer{Name: name, Type: dns.TypeA, Records: []dns.RR{a}}))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perEntry, "B/entry")
}

// realTime sets the wall clock: benchmarks measure the hit path as users
// run it, reading the time, not the tests' fake clock.
func realTime(c *Config) { c.clock = realClock{} }
