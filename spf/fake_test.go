package spf

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeResolver is an in-memory Resolver for tests. It answers the way
// *net.Resolver does: a *net.DNSError with IsNotFound for NXDOMAIN and
// NODATA, IsTimeout for names marked TIMEOUT, IsTemporary for SERVFAIL;
// CNAMEs are followed; the strings of one TXT record are joined; MX and
// PTR names come back absolute. It records every query.
type fakeResolver struct {
	zone  map[string]*fakeName // lower-case names, no trailing dot
	quiet bool                 // do not record queries (benchmarks)

	mu      sync.Mutex // protects queries
	queries []string   // "TYPE name", in order
}

// fakeName holds the records of one name.
type fakeName struct {
	rrs      []fakeRR
	timeout  bool // queries for types without records time out
	servfail bool // every query fails with SERVFAIL
}

type fakeRR struct {
	typ  string   // TXT, A, AAAA, MX, PTR, CNAME
	txt  []string // TXT: the strings of the record
	val  string   // A, AAAA, PTR, CNAME, MX host
	pref uint16   // MX
}

var _ Resolver = (*fakeResolver)(nil)

// newFake builds a resolver from lines per name: "TXT s1|s2" (the strings
// of one record), "A 192.0.2.1", "AAAA 2001:db8::1", "MX 10 host",
// "PTR host", "CNAME target", "TIMEOUT", "SERVFAIL".
func newFake(t testing.TB, zone map[string][]string) *fakeResolver {
	t.Helper()
	f := &fakeResolver{zone: make(map[string]*fakeName)}
	for name, lines := range zone {
		n := f.name(name)
		for _, line := range lines {
			typ, data, _ := strings.Cut(line, " ")
			switch typ {
			case "TIMEOUT":
				n.timeout = true
			case "SERVFAIL":
				n.servfail = true
			case "TXT":
				n.rrs = append(n.rrs, fakeRR{typ: typ, txt: strings.Split(data, "|")})
			case "A", "AAAA", "PTR", "CNAME":
				n.rrs = append(n.rrs, fakeRR{typ: typ, val: data})
			case "MX":
				p, host, _ := strings.Cut(data, " ")
				pref, err := strconv.ParseUint(p, 10, 16)
				if err != nil {
					t.Fatalf("bad MX line %q", line)
				}
				n.rrs = append(n.rrs, fakeRR{typ: typ, val: host, pref: uint16(pref)})
			default:
				t.Fatalf("bad zone line %q", line)
			}
		}
	}
	return f
}

func (f *fakeResolver) name(name string) *fakeName {
	key := strings.ToLower(strings.TrimSuffix(name, "."))
	n := f.zone[key]
	if n == nil {
		n = &fakeName{}
		f.zone[key] = n
	}
	return n
}

// Queries returns the queries made so far and forgets them.
func (f *fakeResolver) Queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queries
	f.queries = nil
	return q
}

func (f *fakeResolver) lookup(ctx context.Context, qtype, name string) ([]fakeRR, error) {
	if !f.quiet {
		f.mu.Lock()
		f.queries = append(f.queries, qtype+" "+name)
		f.mu.Unlock()
	}
	if err := ctx.Err(); err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: name, IsTimeout: true}
	}
	key := strings.ToLower(strings.TrimSuffix(name, "."))
	for hops := 0; ; hops++ {
		if hops > 8 {
			// A CNAME loop: a real resolver answers SERVFAIL.
			return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
		}
		n := f.zone[key]
		if n == nil {
			return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
		}
		if n.servfail {
			return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
		}
		var out []fakeRR
		cname := ""
		for _, rr := range n.rrs {
			switch rr.typ {
			case qtype:
				out = append(out, rr)
			case "CNAME":
				cname = rr.val
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if cname != "" {
			key = strings.ToLower(strings.TrimSuffix(cname, "."))
			continue
		}
		if n.timeout {
			return nil, &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true, IsTemporary: true}
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
}

func (f *fakeResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := f.lookup(ctx, "TXT", name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.txt, ""))
	}
	return out, nil
}

func (f *fakeResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := f.lookup(ctx, "MX", name)
	if err != nil {
		return nil, err
	}
	var out []*net.MX
	for _, rr := range rrs {
		out = append(out, &net.MX{Host: absolute(rr.val), Pref: rr.pref})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	return out, nil
}

func (f *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var types []string
	switch network {
	case "ip4":
		types = []string{"A"}
	case "ip6":
		types = []string{"AAAA"}
	case "ip":
		types = []string{"A", "AAAA"}
	default:
		return nil, &net.DNSError{Err: "bad network " + network, Name: host}
	}
	var out []netip.Addr
	var firstErr error
	for _, typ := range types {
		rrs, err := f.lookup(ctx, typ, host)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, rr := range rrs {
			a, err := netip.ParseAddr(rr.val)
			if err != nil {
				return nil, fmt.Errorf("fake zone: %v", err)
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, firstErr
	}
	return out, nil
}

func (f *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	rrs, err := f.lookup(ctx, "PTR", reverseName(ip))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		out = append(out, absolute(rr.val))
	}
	return out, nil
}

// absolute adds the trailing dot *net.Resolver puts on the names it
// returns; an empty name (a null MX) becomes ".".
func absolute(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// reverseName is the in-addr.arpa or ip6.arpa name of ip.
func reverseName(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa", b[3], b[2], b[1], b[0])
	}
	var sb strings.Builder
	b := ip.As16()
	for i := len(b) - 1; i >= 0; i-- {
		fmt.Fprintf(&sb, "%x.%x.", b[i]&0xf, b[i]>>4)
	}
	sb.WriteString("ip6.arpa")
	return sb.String()
}
