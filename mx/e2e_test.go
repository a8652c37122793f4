package mx_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/dnstest"
	"github.com/maildns/maildns/mx"
	"github.com/maildns/maildns/resolver"
)

const e2eZone = `
$ORIGIN example.
$TTL 300
@               SOA   ns.example. hostmaster.example. 1 3600 600 86400 60
shop            MX    10 mx1.mail
shop            MX    20 mx2.mail
shop            MX    30 192.0.2.50.
mx1.mail        A     192.0.2.1
mx1.mail        AAAA  2001:db8::1
mx2.mail        CNAME relay.mail
relay.mail      A     192.0.2.2
nullmx          MX    0 .
nullmx          A     192.0.2.3
implicit        A     192.0.2.4
implicit        AAAA  2001:db8::4
nomail          TXT   "v=spf1 -all"
xn--bcher-kva   MX    10 mx1.mail
broken          MX    10 mx1.mail
flaky           MX    10 slow.mail
flaky           MX    20 mx1.mail
slow.mail       A     192.0.2.9
gone            MX    10 nohost.mail
empty           MX    10 noaddr.mail
noaddr.mail     TXT   "not a mail host"
`

// TestEndToEnd builds plans through a real *resolver.Resolver talking to
// a loopback DNS server, and checks the queries that reached the server.
func TestEndToEnd(t *testing.T) {
	srv := dnstest.NewServer(t, e2eZone)
	srv.SetFault("broken.example", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	srv.SetFault("slow.mail.example", dnstest.Fault{Drop: true})
	r, err := resolver.New(resolver.Config{
		Upstreams: []string{srv.Addr()},
		Timeout:   200 * time.Millisecond,
		Attempts:  1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()

	cases := []struct {
		domain  string
		want    string // the plan, or the error's SMTP status and sentinel
		queries int64  // reaching the server, the first time
		orFewer bool   // one fewer is fine too (see gone.example)
	}{
		{"shop.example", "10 mx1.mail.example. [2001:db8::1 192.0.2.1] <nil>; 20 mx2.mail.example. [192.0.2.2] <nil>; 30 192.0.2.50. [] ErrAddressLiteral", 5, false},
		{"implicit.example", "implicit; 0 implicit.example. [2001:db8::4 192.0.2.4] <nil>", 3, false},
		{"Bücher.example", "10 mx1.mail.example. [2001:db8::1 192.0.2.1] <nil>", 1, false}, // hosts cached
		{"nullmx.example", "556 5.1.10 ErrNullMX", 1, false},
		{"nowhere.example", "550 5.1.2 ErrNoSuchDomain", 1, false},
		{"nomail.example", "550 5.1.2 ErrNoMailHost", 3, false},
		{"empty.example", "550 5.1.2 ErrNoMailHost", 3, false},
		// nohost.mail.example's A and AAAA queries are sent at once, but
		// the resolver caches NXDOMAIN for the name: if the first answer
		// arrives before the second query starts, it is not sent.
		{"gone.example", "550 5.1.2 ErrNoMailHost", 3, true},
		{"broken.example", "451 4.4.3 ErrLookupFailed", 1, false},
		{"flaky.example", "10 slow.mail.example. [] ErrLookupFailed; 20 mx1.mail.example. [2001:db8::1 192.0.2.1] <nil>", 3, false},
		{"-bad-.example", "553 5.1.3 ErrBadDomain", 0, false},
	}
	for _, c := range cases {
		before := srv.Queries()
		plan, err := mx.Lookup(ctx, r, c.domain)
		if got := describe(plan, err); got != c.want {
			t.Errorf("%s: got %s, want %s", c.domain, got, c.want)
		}
		if n := srv.Queries() - before; n != c.queries && !(c.orFewer && n == c.queries-1) {
			t.Errorf("%s: %d queries reached the server, want %d", c.domain, n, c.queries)
		}
		// The same plan again comes from the cache. (Failures are
		// cached too, RFC 9520, so even broken.example costs nothing.)
		before = srv.Queries()
		plan2, err2 := mx.Lookup(ctx, r, c.domain)
		if got := describe(plan2, err2); got != c.want {
			t.Errorf("%s again: got %s, want %s", c.domain, got, c.want)
		}
		if n := srv.Queries() - before; n != 0 {
			t.Errorf("%s again: %d queries reached the server, want 0", c.domain, n)
		}
	}
	if n := srv.QueryCount("mx1.mail.example", dns.TypeA); n != 1 {
		t.Errorf("mx1.mail.example A asked %d times over all plans, want 1", n)
	}

	// The error of a host that timed out wraps the resolver's error.
	plan, err := mx.Lookup(ctx, r, "flaky.example")
	if err != nil {
		t.Fatal(err)
	}
	if herr := plan.Hosts[0].Err; !mx.IsTemporary(herr) || !errors.Is(herr, resolver.ErrTimeout) {
		t.Errorf("slow.mail.example: got Err %v, want a temporary error wrapping resolver.ErrTimeout", herr)
	}
}

// describe prints a plan as "pref name addrs err; ..." (with "implicit"
// first for an implicit MX), or an error as "code enhanced sentinel".
func describe(plan *mx.Plan, err error) string {
	if err != nil {
		var e *mx.Error
		if !errors.As(err, &e) {
			return fmt.Sprintf("%T %v", err, err)
		}
		return fmt.Sprintf("%d %s %s", e.SMTPCode(), e.EnhancedCode(), name(e.Err))
	}
	var parts []string
	if plan.Implicit {
		parts = append(parts, "implicit")
	}
	for _, h := range plan.Hosts {
		s := fmt.Sprintf("%d %s %v", h.Preference, h.Name, h.Addrs)
		var e *mx.Error
		if errors.As(h.Err, &e) {
			s += " " + name(e.Err)
		} else {
			s += fmt.Sprintf(" %v", h.Err)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func name(sentinel error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{mx.ErrNullMX, "ErrNullMX"},
		{mx.ErrNoSuchDomain, "ErrNoSuchDomain"},
		{mx.ErrNoMailHost, "ErrNoMailHost"},
		{mx.ErrBadDomain, "ErrBadDomain"},
		{mx.ErrLookupFailed, "ErrLookupFailed"},
		{mx.ErrHostNotFound, "ErrHostNotFound"},
		{mx.ErrNoAddress, "ErrNoAddress"},
		{mx.ErrAddressLiteral, "ErrAddressLiteral"},
	} {
		if sentinel == s.err {
			return s.name
		}
	}
	return fmt.Sprintf("%v", sentinel)
}
