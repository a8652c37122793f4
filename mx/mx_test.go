package mx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/resolver"
)

// A zone shared by most cases: example.com has two MX hosts of different
// preference, one dual-stack.
const baseZone = `
example.com. MX 10 mx1.example.com.
example.com. MX 20 mx2.example.com.
mx1.example.com. A 192.0.2.1
mx1.example.com. AAAA 2001:db8::1
mx2.example.com. A 192.0.2.2
`

// Four addresses per host, for the family and limit cases.
const wideZone = `
example.com. MX 10 mx1.example.com.
example.com. MX 20 mx2.example.com.
example.com. MX 30 mx3.example.com.
mx1.example.com. A 192.0.2.1
mx1.example.com. A 192.0.2.11
mx1.example.com. AAAA 2001:db8::1
mx1.example.com. AAAA 2001:db8::11
mx2.example.com. A 192.0.2.2
mx2.example.com. A 192.0.2.22
mx2.example.com. AAAA 2001:db8::2
mx2.example.com. AAAA 2001:db8::22
mx3.example.com. A 192.0.2.3
mx3.example.com. AAAA 2001:db8::3
`

func TestLookup(t *testing.T) {
	type setup func(f *fakeResolver)
	cases := []struct {
		name    string
		zone    string
		setup   setup // failures, stale answers, odd answers
		domain  string
		family  AddressFamily
		limit   int // Lookuper.AddressLimit
		hosts   int // Lookuper.MaxHosts
		want    string
		wantErr error  // the *Error's sentinel
		code    string // "550 5.1.2" for errors
		queries int
	}{
		{
			name:    "two hosts by preference, IPv6 and IPv4 interleaved",
			zone:    baseZone,
			domain:  "example.com",
			want:    "10 mx1.example.com. 2001:db8::1 192.0.2.1; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name:    "upper case and final dot",
			zone:    baseZone,
			domain:  "EXAMPLE.Com.",
			want:    "10 mx1.example.com. 2001:db8::1 192.0.2.1; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name:    "MX targets in upper case",
			zone:    "example.com. MX 10 MX1.Example.COM.\nmx1.example.com. A 192.0.2.1",
			domain:  "example.com",
			want:    "10 mx1.example.com. 192.0.2.1",
			queries: 3,
		},
		{
			name:    "null MX",
			zone:    "example.com. MX 0 .\nexample.com. A 192.0.2.1",
			domain:  "example.com",
			wantErr: ErrNullMX,
			code:    "556 5.1.10",
			queries: 1,
		},
		{
			name:    "a dot among other MX records is ignored",
			zone:    "example.com. MX 0 .\nexample.com. MX 10 mx1.example.com.\nmx1.example.com. A 192.0.2.1",
			domain:  "example.com",
			want:    "10 mx1.example.com. 192.0.2.1",
			queries: 3,
		},
		{
			name:    "a lone dot of non-zero preference is no host, not a null MX",
			zone:    "example.com. MX 10 .\nexample.com. A 192.0.2.1",
			domain:  "example.com",
			wantErr: ErrNoMailHost,
			code:    "550 5.1.2",
			queries: 1,
		},
		{
			name:    "implicit MX",
			zone:    "example.com. A 192.0.2.1\nexample.com. AAAA 2001:db8::1",
			domain:  "example.com",
			want:    "implicit; 0 example.com. 2001:db8::1 192.0.2.1",
			queries: 3,
		},
		{
			name:    "no MX and no address",
			zone:    "example.com. TXT \"v=spf1 -all\"",
			domain:  "example.com",
			wantErr: ErrNoMailHost,
			code:    "550 5.1.2",
			queries: 3,
		},
		{
			name:    "no MX, address lookups fail",
			zone:    "example.com. TXT \"v=spf1 -all\"",
			setup:   failAddrs("example.com."),
			domain:  "example.com",
			wantErr: ErrLookupFailed,
			code:    "451 4.4.3",
			queries: 3,
		},
		{
			name:   "no MX, then NXDOMAIN for the addresses",
			zone:   "other.example. A 192.0.2.9",
			domain: "example.com",
			setup: func(f *fakeResolver) {
				f.answers[key{"example.com.", dns.TypeMX}] = &resolver.Answer{Name: "example.com.", Type: dns.TypeMX}
			},
			wantErr: ErrNoSuchDomain,
			code:    "550 5.1.2",
			queries: 3,
		},
		{
			name:    "NXDOMAIN: no implicit MX",
			zone:    "other.example. A 192.0.2.9",
			domain:  "example.com",
			wantErr: ErrNoSuchDomain,
			code:    "550 5.1.2",
			queries: 1,
		},
		{
			name:    "MX lookup times out",
			zone:    baseZone,
			setup:   func(f *fakeResolver) { f.fail[key{"example.com.", dns.TypeMX}] = timeout("example.com.", dns.TypeMX) },
			domain:  "example.com",
			wantErr: ErrLookupFailed,
			code:    "451 4.4.3",
			queries: 1,
		},
		{
			name: "MX lookup: unexpected rcode in the answer",
			zone: baseZone,
			setup: func(f *fakeResolver) {
				f.answers[key{"example.com.", dns.TypeMX}] = &resolver.Answer{Name: "example.com.", Type: dns.TypeMX, Rcode: dns.RcodeServerFailure}
			},
			domain:  "example.com",
			wantErr: ErrLookupFailed,
			code:    "451 4.4.3",
			queries: 1,
		},
		{
			name: "MX lookup: resolver rejects the name",
			zone: baseZone,
			setup: func(f *fakeResolver) {
				f.fail[key{"example.com.", dns.TypeMX}] = &resolver.LookupError{Name: "example.com.", Type: dns.TypeMX, Err: resolver.ErrBadName}
			},
			domain:  "example.com",
			wantErr: ErrBadDomain,
			code:    "553 5.1.3",
			queries: 1,
		},
		{
			name: "CNAME chains followed for MX and addresses",
			zone: `
example.com. CNAME mail.example.net.
mail.example.net. MX 10 mx1.example.com.
mx1.example.com. CNAME mx.provider.example.
mx.provider.example. CNAME mx2.provider.example.
mx2.provider.example. A 192.0.2.7
mx2.provider.example. AAAA 2001:db8::7
`,
			domain:  "example.com",
			want:    "10 mx1.example.com. 2001:db8::7 192.0.2.7",
			queries: 3,
		},
		{
			name:    "address literal target skipped, others planned",
			zone:    "example.com. MX 10 192.0.2.5.\nexample.com. MX 20 mx2.example.com.\nmx2.example.com. A 192.0.2.2",
			domain:  "example.com",
			want:    "10 192.0.2.5. !ErrAddressLiteral; 20 mx2.example.com. 192.0.2.2",
			queries: 3,
		},
		{
			name:    "only address literal targets",
			zone:    "example.com. MX 10 192.0.2.5.\nexample.com. MX 20 2001:db8::5.",
			domain:  "example.com",
			wantErr: ErrNoMailHost,
			code:    "550 5.1.2",
			queries: 1,
		},
		{
			name: "invalid MX target",
			zone: "example.com. MX 20 mx2.example.com.\nmx2.example.com. A 192.0.2.2",
			setup: func(f *fakeResolver) {
				f.add(&dns.MX{Hdr: hdr("example.com.", dns.TypeMX), Preference: 10, Mx: "a..b."})
			},
			domain:  "example.com",
			want:    "10 a..b. !ErrBadDomain; 20 mx2.example.com. 192.0.2.2",
			queries: 3,
		},
		{
			name:    "first host times out, second planned",
			zone:    baseZone,
			setup:   failAddrs("mx1.example.com."),
			domain:  "example.com",
			want:    "10 mx1.example.com. !ErrLookupFailed; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name:    "every host times out",
			zone:    baseZone,
			setup:   failAddrs("mx1.example.com.", "mx2.example.com."),
			domain:  "example.com",
			wantErr: ErrLookupFailed,
			code:    "451 4.4.3",
			queries: 5,
		},
		{
			name:    "one host missing, the other times out: defer",
			zone:    "example.com. MX 10 mx1.example.com.\nexample.com. MX 20 mx2.example.com.\nmx2.example.com. A 192.0.2.2",
			setup:   failAddrs("mx2.example.com."),
			domain:  "example.com",
			wantErr: ErrLookupFailed,
			code:    "451 4.4.3",
			queries: 5,
		},
		{
			name:    "every host missing: bounce",
			zone:    "example.com. MX 10 mx1.example.com.\nexample.com. MX 20 mx2.example.com.",
			domain:  "example.com",
			wantErr: ErrNoMailHost,
			code:    "550 5.1.2",
			queries: 5,
		},
		{
			name:    "host without addresses, host missing: bounce",
			zone:    "example.com. MX 10 mx1.example.com.\nexample.com. MX 20 mx2.example.com.\nmx1.example.com. TXT \"x\"",
			domain:  "example.com",
			wantErr: ErrNoMailHost,
			code:    "550 5.1.2",
			queries: 5,
		},
		{
			name:    "missing host reported before a good one",
			zone:    "example.com. MX 10 mx1.example.com.\nexample.com. MX 20 mx2.example.com.\nmx2.example.com. A 192.0.2.2",
			domain:  "example.com",
			want:    "10 mx1.example.com. !ErrHostNotFound; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name:    "host without addresses reported before a good one",
			zone:    "example.com. MX 10 mx1.example.com.\nexample.com. MX 20 mx2.example.com.\nmx1.example.com. TXT \"x\"\nmx2.example.com. A 192.0.2.2",
			domain:  "example.com",
			want:    "10 mx1.example.com. !ErrNoAddress; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name: "AAAA times out, A answers: planned with IPv4",
			zone: baseZone,
			setup: func(f *fakeResolver) {
				f.fail[key{"mx1.example.com.", dns.TypeAAAA}] = timeout("mx1.example.com.", dns.TypeAAAA)
			},
			domain:  "example.com",
			want:    "10 mx1.example.com. 192.0.2.1; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name:    "same host twice: once, at its lowest preference",
			zone:    "example.com. MX 20 mx1.example.com.\nexample.com. MX 10 mx1.example.com.\nmx1.example.com. A 192.0.2.1",
			domain:  "example.com",
			want:    "10 mx1.example.com. 192.0.2.1",
			queries: 3,
		},
		{
			name:    "same address under two hosts: listed once",
			zone:    "example.com. MX 10 mx1.example.com.\nexample.com. MX 20 mx2.example.com.\nexample.com. MX 30 mx3.example.com.\nmx1.example.com. A 192.0.2.1\nmx2.example.com. A 192.0.2.1\nmx3.example.com. A 192.0.2.1\nmx3.example.com. A 192.0.2.3",
			domain:  "example.com",
			want:    "10 mx1.example.com. 192.0.2.1; 30 mx3.example.com. 192.0.2.3",
			queries: 7,
		},
		{
			name:    "default address limit: 5 in the whole plan",
			zone:    wideZone,
			domain:  "example.com",
			want:    "10 mx1.example.com. 2001:db8::1 192.0.2.1 2001:db8::11 192.0.2.11; 20 mx2.example.com. 2001:db8::2",
			queries: 7,
		},
		{
			name:    "address limit 2",
			zone:    wideZone,
			domain:  "example.com",
			limit:   2,
			want:    "10 mx1.example.com. 2001:db8::1 192.0.2.1",
			queries: 7,
		},
		{
			name:    "no address limit",
			zone:    wideZone,
			domain:  "example.com",
			limit:   -1,
			want:    "10 mx1.example.com. 2001:db8::1 192.0.2.1 2001:db8::11 192.0.2.11; 20 mx2.example.com. 2001:db8::2 192.0.2.2 2001:db8::22 192.0.2.22; 30 mx3.example.com. 2001:db8::3 192.0.2.3",
			queries: 7,
		},
		{
			name:    "hosts without addresses after the limit are left out",
			zone:    wideZone + "example.com. MX 40 mx4.example.com.",
			domain:  "example.com",
			limit:   4,
			want:    "10 mx1.example.com. 2001:db8::1 192.0.2.1 2001:db8::11 192.0.2.11",
			queries: 9,
		},
		{
			name:    "max hosts 2: the third is not looked up",
			zone:    wideZone,
			domain:  "example.com",
			hosts:   2,
			limit:   -1,
			want:    "10 mx1.example.com. 2001:db8::1 192.0.2.1 2001:db8::11 192.0.2.11; 20 mx2.example.com. 2001:db8::2 192.0.2.2 2001:db8::22 192.0.2.22",
			queries: 5,
		},
		{
			name:    "default max hosts: 10",
			zone:    manyHosts(12),
			domain:  "example.com",
			limit:   -1,
			want:    "1 mx01.example.com. 192.0.2.1; 2 mx02.example.com. 192.0.2.2; 3 mx03.example.com. 192.0.2.3; 4 mx04.example.com. 192.0.2.4; 5 mx05.example.com. 192.0.2.5; 6 mx06.example.com. 192.0.2.6; 7 mx07.example.com. 192.0.2.7; 8 mx08.example.com. 192.0.2.8; 9 mx09.example.com. 192.0.2.9; 10 mx10.example.com. 192.0.2.10",
			queries: 21,
		},
		{
			name:    "prefer IPv6",
			zone:    wideZone,
			domain:  "example.com",
			family:  PreferIPv6,
			want:    "10 mx1.example.com. 2001:db8::1 2001:db8::11 192.0.2.1 192.0.2.11; 20 mx2.example.com. 2001:db8::2",
			queries: 7,
		},
		{
			name:    "prefer IPv4",
			zone:    wideZone,
			domain:  "example.com",
			family:  PreferIPv4,
			want:    "10 mx1.example.com. 192.0.2.1 192.0.2.11 2001:db8::1 2001:db8::11; 20 mx2.example.com. 192.0.2.2",
			queries: 7,
		},
		{
			name:    "IPv4 only: A queries only",
			zone:    wideZone,
			domain:  "example.com",
			family:  IPv4Only,
			want:    "10 mx1.example.com. 192.0.2.1 192.0.2.11; 20 mx2.example.com. 192.0.2.2 192.0.2.22; 30 mx3.example.com. 192.0.2.3",
			queries: 4,
		},
		{
			name:    "IPv6 only: AAAA queries only",
			zone:    wideZone,
			domain:  "example.com",
			family:  IPv6Only,
			want:    "10 mx1.example.com. 2001:db8::1 2001:db8::11; 20 mx2.example.com. 2001:db8::2 2001:db8::22; 30 mx3.example.com. 2001:db8::3",
			queries: 4,
		},
		{
			name:    "IPv6 only, IPv4-only hosts",
			zone:    "example.com. MX 10 mx1.example.com.\nmx1.example.com. A 192.0.2.1",
			domain:  "example.com",
			family:  IPv6Only,
			wantErr: ErrNoMailHost,
			code:    "550 5.1.2",
			queries: 2,
		},
		{
			name:    "unknown family behaves as Interleave",
			zone:    baseZone,
			domain:  "example.com",
			family:  AddressFamily(42),
			want:    "10 mx1.example.com. 2001:db8::1 192.0.2.1; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name:    "internationalized domain",
			zone:    "xn--bcher-kva.example. MX 10 mx1.xn--bcher-kva.example.\nmx1.xn--bcher-kva.example. A 192.0.2.1",
			domain:  "Bücher.example",
			want:    "10 mx1.xn--bcher-kva.example. 192.0.2.1",
			queries: 3,
		},
		{
			name:    "internationalized domain, implicit MX",
			zone:    "xn--mnchen-3ya.example. A 192.0.2.1",
			domain:  "münchen.example.",
			want:    "implicit; 0 xn--mnchen-3ya.example. 192.0.2.1",
			queries: 3,
		},
		{
			name:    "stale MX answer",
			zone:    baseZone,
			setup:   func(f *fakeResolver) { f.stale[key{"example.com.", dns.TypeMX}] = true },
			domain:  "example.com",
			want:    "stale; 10 mx1.example.com. 2001:db8::1 192.0.2.1; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name:    "stale address answer",
			zone:    baseZone,
			setup:   func(f *fakeResolver) { f.stale[key{"mx2.example.com.", dns.TypeA}] = true },
			domain:  "example.com",
			want:    "stale; 10 mx1.example.com. 2001:db8::1 192.0.2.1; 20 mx2.example.com. 192.0.2.2",
			queries: 5,
		},
		{
			name: "resolver returns neither answer nor error",
			zone: baseZone,
			setup: func(f *fakeResolver) {
				f.answers[key{"example.com.", dns.TypeMX}] = nil
			},
			domain:  "example.com",
			wantErr: ErrLookupFailed,
			code:    "451 4.4.3",
			queries: 1,
		},
	}
	for _, c := range cases {
		f := newFake(c.zone)
		if c.setup != nil {
			c.setup(f)
		}
		l := &Lookuper{Family: c.family, AddressLimit: c.limit, MaxHosts: c.hosts}
		plan, err := l.Lookup(context.Background(), f, c.domain)
		switch {
		case c.wantErr == nil && err != nil:
			t.Errorf("%s: got error %v, want plan %q", c.name, err, c.want)
		case c.wantErr == nil && render(plan) != c.want:
			t.Errorf("%s: got plan %q, want %q", c.name, render(plan), c.want)
		case c.wantErr != nil:
			checkError(t, c.name, plan, err, c.wantErr, c.code)
		}
		if n, repeated := f.count(); n != c.queries || len(repeated) > 0 {
			t.Errorf("%s: got %d queries (repeated: %v), want %d", c.name, n, repeated, c.queries)
		}
		if plan != nil {
			checkPlan(t, c.name, plan)
		}
	}
}

// checkError checks that a Lookup failed the way it should.
func checkError(t *testing.T, name string, plan *Plan, err, want error, code string) {
	t.Helper()
	if plan != nil {
		t.Errorf("%s: got plan %q with error %v, want nil plan", name, render(plan), err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: got error %v (%T), want an *Error wrapping %v", name, err, err, want)
		return
	}
	if !errors.Is(err, want) || e.Err != want {
		t.Errorf("%s: got error %v, want %v", name, err, want)
	}
	temporary := want == ErrLookupFailed
	if IsTemporary(err) != temporary || e.Temporary != temporary {
		t.Errorf("%s: IsTemporary(%v) = %v, want %v", name, err, IsTemporary(err), temporary)
	}
	if got := fmt.Sprintf("%d %s", e.SMTPCode(), e.EnhancedCode()); got != code {
		t.Errorf("%s: got SMTP status %s, want %s", name, got, code)
	}
	if !strings.HasPrefix(err.Error(), "mx: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: error %q: want one line starting with \"mx: \"", name, err)
	}
}

// checkPlan checks the invariants of every successful plan.
func checkPlan(t *testing.T, name string, plan *Plan) {
	t.Helper()
	usable := false
	for _, h := range plan.Hosts {
		if (len(h.Addrs) > 0) == (h.Err != nil) {
			t.Errorf("%s: host %s: %d addresses and error %v, want exactly one of them", name, h.Name, len(h.Addrs), h.Err)
		}
		usable = usable || len(h.Addrs) > 0
	}
	if !usable {
		t.Errorf("%s: plan %q has no host with addresses", name, render(plan))
	}
	if !slices.IsSortedFunc(plan.Hosts, func(a, b Host) int { return int(a.Preference) - int(b.Preference) }) {
		t.Errorf("%s: plan %q not sorted by preference", name, render(plan))
	}
}

// failAddrs makes the A and AAAA lookups of names time out.
func failAddrs(names ...string) func(f *fakeResolver) {
	return func(f *fakeResolver) {
		for _, n := range names {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
				f.fail[key{n, qt}] = timeout(n, qt)
			}
		}
	}
}

func hdr(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 300}
}

// manyHosts returns a zone where example.com has n MX hosts, mx01 at
// preference 1 to mxNN at preference n, each with one IPv4 address.
func manyHosts(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "example.com. MX %d mx%02d.example.com.\nmx%02d.example.com. A 192.0.2.%d\n", i, i, i, i)
	}
	return b.String()
}

func TestLookupInvalidNames(t *testing.T) {
	cases := []string{
		"",
		".",
		"..",
		"a..example",
		".example.com",
		"-bad.example",
		"bad-.example",
		"ex ample.com",
		"under_score.example",
		"xn--zz.example",
		strings.Repeat("a", 64) + ".example",
		strings.Repeat("abcdefghi.", 24) + "abcdef.example", // 254 octets
		"192.0.2.1",
		"2001:db8::1",
		"[192.0.2.1]",
		"user@example.com",
	}
	for _, domain := range cases {
		f := newFake(baseZone)
		plan, err := Lookup(context.Background(), f, domain)
		checkError(t, fmt.Sprintf("%q", domain), plan, err, ErrBadDomain, "553 5.1.3")
		var e *Error
		if errors.As(err, &e) && e.Domain != domain {
			t.Errorf("%q: got Error.Domain %q, want the name as given", domain, e.Domain)
		}
		if n, _ := f.count(); n != 0 {
			t.Errorf("%q: got %d queries, want none", domain, n)
		}
	}
}

// TestLookupLongNames checks the length limits from the valid side.
func TestLookupLongNames(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat("abcdefghi.", 24) + "abcde.example" // 253 octets
	for _, domain := range []string{label63 + ".example", name253} {
		f := newFake(strings.ToLower(domain) + ". A 192.0.2.1")
		plan, err := Lookup(context.Background(), f, domain)
		if err != nil {
			t.Errorf("%d octets: got error %v, want plan", len(domain), err)
			continue
		}
		if want := domain + "."; plan.Domain != want {
			t.Errorf("got Domain %q, want %q", plan.Domain, want)
		}
	}
}

func TestLookupIDNDomain(t *testing.T) {
	f := newFake("xn--bcher-kva.example. MX 10 mx.example.net.\nmx.example.net. A 192.0.2.1")
	plan, err := Lookup(context.Background(), f, "bücher.example")
	if err != nil {
		t.Fatalf("got error %v", err)
	}
	if want := "xn--bcher-kva.example."; plan.Domain != want {
		t.Errorf("got Domain %q, want %q", plan.Domain, want)
	}
	if f.queries[key{"xn--bcher-kva.example.", dns.TypeMX}] != 1 {
		t.Errorf("got queries %v, want MX for xn--bcher-kva.example.", f.queries)
	}
}

func TestLookupErrorsOfHosts(t *testing.T) {
	// The error for a domain whose hosts all failed names each of them and
	// wraps their errors, resolver errors included.
	f := newFake("example.com. MX 10 mx1.example.com.\nexample.com. MX 20 mx2.example.com.\nmx2.example.com. A 192.0.2.2")
	failAddrs("mx2.example.com.")(f)
	_, err := Lookup(context.Background(), f, "example.com")
	want := "mx: example.com.: DNS lookup failed: mx1.example.com.: mail host does not exist; " +
		"mx2.example.com.: DNS lookup failed: resolver: lookup mx2.example.com. AAAA via 192.0.2.53:53: timeout"
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
	for _, target := range []error{ErrLookupFailed, ErrHostNotFound, resolver.ErrTimeout} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false, want true", err, target)
		}
	}
	var le *resolver.LookupError
	if !errors.As(err, &le) || le.Name != "mx2.example.com." {
		t.Errorf("errors.As(%v, *resolver.LookupError) = %v, want the error of mx2", err, le)
	}
	if errors.Is(err, ErrNoSuchDomain) || errors.Is(err, ErrNoMailHost) {
		t.Errorf("error %v wraps a permanent sentinel of the domain", err)
	}
}

func TestLookupContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Lookup(ctx, newFake(baseZone), "example.com")
	if !IsTemporary(err) || !errors.Is(err, context.Canceled) || !errors.Is(err, ErrLookupFailed) {
		t.Errorf("got error %v, want a temporary one wrapping context.Canceled", err)
	}
}

func TestIsTemporary(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("something else"), false},
		{&Error{Domain: "example.com.", Err: ErrNoMailHost}, false},
		{&Error{Domain: "example.com.", Temporary: true, Err: ErrLookupFailed}, true},
		{fmt.Errorf("deliver: %w", &Error{Domain: "example.com.", Temporary: true, Err: ErrLookupFailed}), true},
		{timeout("example.com.", dns.TypeMX), true},
		{&resolver.LookupError{Name: "example.com.", Type: dns.TypeMX, Err: resolver.ErrBadName}, false},
		{context.DeadlineExceeded, true},
	}
	for _, c := range cases {
		if got := IsTemporary(c.err); got != c.want {
			t.Errorf("IsTemporary(%v): got %v, want %v", c.err, got, c.want)
		}
	}
}

func TestShuffle(t *testing.T) {
	const zone = `
example.com. MX 10 a.example.com.
example.com. MX 10 b.example.com.
example.com. MX 10 c.example.com.
example.com. MX 20 d.example.com.
example.com. MX 20 e.example.com.
a.example.com. A 192.0.2.1
b.example.com. A 192.0.2.2
c.example.com. A 192.0.2.3
d.example.com. A 192.0.2.4
e.example.com. A 192.0.2.5
`
	f := newFake(zone)
	order := func(seed uint64) string {
		l := &Lookuper{Rand: rand.New(rand.NewPCG(seed, 0))}
		plan, err := l.Lookup(context.Background(), f, "example.com")
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		var names []string
		for _, h := range plan.Hosts {
			names = append(names, strings.TrimSuffix(h.Name, ".example.com."))
		}
		return strings.Join(names, "")
	}
	first := make(map[string]int)
	fourth := make(map[string]int)
	for seed := range uint64(300) {
		got := order(seed)
		if again := order(seed); again != got {
			t.Errorf("seed %d: got %s then %s, want the same order", seed, got, again)
		}
		if !strings.ContainsRune("abc", rune(got[0])) || !strings.ContainsRune("abc", rune(got[1])) ||
			!strings.ContainsRune("abc", rune(got[2])) || !strings.ContainsRune("de", rune(got[3])) {
			t.Errorf("seed %d: got order %s, want a, b, c (shuffled) before d, e (shuffled)", seed, got)
		}
		first[got[:1]]++
		fourth[got[3:4]]++
	}
	// 300 draws: each host should come first about 100 times.
	for _, h := range []string{"a", "b", "c"} {
		if first[h] < 60 {
			t.Errorf("host %s first %d times out of 300, want about 100", h, first[h])
		}
	}
	for _, h := range []string{"d", "e"} {
		if fourth[h] < 100 {
			t.Errorf("host %s fourth %d times out of 300, want about 150", h, fourth[h])
		}
	}
}

// TestShuffleDefaultSource checks that the zero Lookuper shuffles too.
func TestShuffleDefaultSource(t *testing.T) {
	f := newFake("example.com. MX 10 a.example.com.\nexample.com. MX 10 b.example.com.\na.example.com. A 192.0.2.1\nb.example.com. A 192.0.2.2")
	seen := make(map[string]bool)
	for range 200 {
		plan, err := Lookup(context.Background(), f, "example.com")
		if err != nil {
			t.Fatal(err)
		}
		seen[plan.Hosts[0].Name] = true
	}
	if len(seen) != 2 {
		t.Errorf("first hosts over 200 plans: %v, want both", seen)
	}
}

// TestConcurrentLookups shares one Lookuper, with a seeded Rand, between
// goroutines; run with -race.
func TestConcurrentLookups(t *testing.T) {
	f := newFake(wideZone + "example.com. MX 10 mx4.example.com.\nmx4.example.com. A 192.0.2.4")
	l := &Lookuper{Rand: rand.New(rand.NewPCG(1, 2))}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := l.Lookup(context.Background(), f, "example.com"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func TestAddressFamilyString(t *testing.T) {
	cases := []struct {
		f    AddressFamily
		want string
	}{
		{Interleave, "interleave"},
		{PreferIPv6, "prefer-ipv6"},
		{PreferIPv4, "prefer-ipv4"},
		{IPv4Only, "ipv4-only"},
		{IPv6Only, "ipv6-only"},
		{AddressFamily(-1), "AddressFamily(-1)"},
	}
	for _, c := range cases {
		if got := c.f.String(); got != c.want {
			t.Errorf("%d: got %q, want %q", int(c.f), got, c.want)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	cases := []struct {
		err  *Error
		code int
		enh  string
		msg  string
	}{
		{&Error{Domain: "example.com.", Err: ErrNullMX}, 556, "5.1.10", "mx: example.com.: domain accepts no mail (null MX)"},
		{&Error{Domain: "example.com.", Err: ErrNoSuchDomain}, 550, "5.1.2", "mx: example.com.: no such domain"},
		{&Error{Domain: "example.com.", Err: ErrNoMailHost}, 550, "5.1.2", "mx: example.com.: no mail host with an address"},
		{&Error{Domain: "ex ample", Err: ErrBadDomain, Cause: errors.New("idna: disallowed rune U+0020")}, 553, "5.1.3", "mx: ex ample: invalid domain name: idna: disallowed rune U+0020"},
		{&Error{Domain: "example.com.", Temporary: true, Err: ErrLookupFailed, Cause: timeout("example.com.", dns.TypeMX)}, 451, "4.4.3",
			"mx: example.com.: DNS lookup failed: resolver: lookup example.com. MX via 192.0.2.53:53: timeout"},
		{&Error{Domain: "mx1.example.com.", Err: ErrAddressLiteral}, 550, "5.1.2", "mx: mx1.example.com.: MX target is an IP address, not a host name"},
	}
	for _, c := range cases {
		if c.err.SMTPCode() != c.code || c.err.EnhancedCode() != c.enh || c.err.Error() != c.msg {
			t.Errorf("%v: got %d %s %q, want %d %s %q", c.err.Err, c.err.SMTPCode(), c.err.EnhancedCode(), c.err.Error(), c.code, c.enh, c.msg)
		}
	}
}

func TestHostErrAddrs(t *testing.T) {
	// Addresses are parsed into netip.Addr of the right family.
	f := newFake("example.com. MX 10 mx1.example.com.\nmx1.example.com. A 192.0.2.1\nmx1.example.com. AAAA ::ffff:192.0.2.9")
	plan, err := (&Lookuper{Family: PreferIPv4}).Lookup(context.Background(), f, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan.Hosts[0].Addrs, addrList("192.0.2.1", "::ffff:192.0.2.9"); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if !plan.Hosts[0].Addrs[0].Is4() {
		t.Errorf("%v: want a 4-byte address", plan.Hosts[0].Addrs[0])
	}
}

// securing marks the answers for some names DNSSEC-validated.
type securing struct {
	r      Resolver
	secure map[string]bool
}

func (s securing) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	ans, err := s.r.Lookup(ctx, name, qtype)
	if ans != nil && s.secure[name] {
		c := *ans
		c.Authenticated = true
		return &c, err
	}
	return ans, err
}

// TestLookupAuthenticated: the plan says which answers were validated,
// and each host's canonical name (RFC 7672 §2.2).
func TestLookupAuthenticated(t *testing.T) {
	f := newFake(`
example.com. MX 10 mx1.example.com.
example.com. MX 20 mx2.example.com.
mx1.example.com. CNAME real.example.net.
real.example.net. A 192.0.2.1
mx2.example.com. A 192.0.2.2
`)
	r := securing{f, map[string]bool{"example.com.": true, "mx1.example.com.": true}}
	plan, err := Lookup(context.Background(), r, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Authenticated {
		t.Error("MX answer not reported authenticated")
	}
	for _, h := range plan.Hosts {
		switch h.Name {
		case "mx1.example.com.":
			if !h.Authenticated || h.Canonical != "real.example.net." {
				t.Errorf("mx1: authenticated %v, canonical %q", h.Authenticated, h.Canonical)
			}
		case "mx2.example.com.":
			if h.Authenticated || h.Canonical != "mx2.example.com." {
				t.Errorf("mx2: authenticated %v, canonical %q", h.Authenticated, h.Canonical)
			}
		}
	}
	plan, err = Lookup(context.Background(), f, "example.com")
	if err != nil || plan.Authenticated || plan.Hosts[0].Authenticated {
		t.Errorf("nothing validated: plan %v, first host %v, %v", plan.Authenticated, plan.Hosts[0].Authenticated, err)
	}
}
