package resolver

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// The hit path: go test -run '^$' -bench 'Hit' -benchmem ./resolver/
func BenchmarkLookupHit(b *testing.B) {
	r, _, _ := setup(b, nil)
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
	r, _, _ := setup(b, nil)
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
	r, _, _ := setup(b, nil)
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
	r, srv, _ := setup(b, nil)
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
	r, srv, _ := setup(b, func(c *Config) { c.QPSPerUpstream = 1e9 })
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
