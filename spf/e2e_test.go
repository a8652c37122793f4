package spf_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/maildns/maildns/dnstest"
	mdns "github.com/maildns/maildns/resolver"
	"github.com/maildns/maildns/spf"
	"github.com/miekg/dns"
)

var _ spf.Resolver = (*mdns.Resolver)(nil)

// TestEndToEnd evaluates policies through *resolver.Resolver against a DNS
// server on loopback, including failures of the DNS itself.
func TestEndToEnd(t *testing.T) {
	srv := dnstest.NewServer(t, `
$ORIGIN example.
@            300 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60
sender       300 IN TXT "v=spf1 include:_spf.provider.example mx a:relay.example -all"
sender       300 IN MX  10 mx.sender.example.
mx.sender    300 IN A   192.0.2.10
relay        300 IN A   192.0.2.20
relay        300 IN AAAA 2001:db8::20
_spf.provider 300 IN TXT "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:1::/48 ~all"
split        300 IN TXT "v=spf1 ip4:192.0.2.30" " -all"
explained    300 IN TXT "v=spf1 -all exp=why.example"
why          300 IN TXT "%{i} is not one of %{d}'s senders"
voids        300 IN TXT "v=spf1 a:n1.example a:n2.example a:n3.example -all"
broken       300 IN TXT "v=spf1 include:servfail.example -all"
slow         300 IN TXT "v=spf1 include:timeout.example -all"
servfail     300 IN TXT "v=spf1 -all"
timeout      300 IN TXT "v=spf1 -all"
`)
	srv.SetFault("servfail.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	srv.SetFault("timeout.example.", dnstest.Fault{Drop: true})
	r, err := mdns.New(mdns.Config{Upstreams: []string{srv.Addr()}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()

	cases := []struct {
		ip, sender string
		want       spf.Result
	}{
		{"198.51.100.7", "a@sender.example", spf.Pass},  // include
		{"2001:db8:1::5", "a@sender.example", spf.Pass}, // include, ip6
		{"192.0.2.10", "a@sender.example", spf.Pass},    // mx
		{"192.0.2.20", "a@sender.example", spf.Pass},    // a:
		{"2001:db8::20", "a@sender.example", spf.Pass},  // a: over AAAA
		{"203.0.113.1", "a@sender.example", spf.Fail},
		{"192.0.2.30", "a@split.example", spf.Pass}, // multi-string TXT joined
		{"192.0.2.31", "a@split.example", spf.Fail},
		{"192.0.2.1", "a@nonexistent.example", spf.None},
		{"192.0.2.1", "a@voids.example", spf.PermError}, // third void lookup
		{"192.0.2.1", "a@broken.example", spf.TempError},
		{"192.0.2.1", "a@slow.example", spf.TempError},
	}
	for _, c := range cases {
		got, err := spf.Check(ctx, r, netip.MustParseAddr(c.ip), "mail.client.example", c.sender)
		if got != c.want {
			t.Errorf("%s from %s: got %v (%v), want %v", c.sender, c.ip, got, err, c.want)
		}
		if (got == spf.TempError || got == spf.PermError) != (err != nil) {
			t.Errorf("%s from %s: result %v with error %v", c.sender, c.ip, got, err)
		}
	}

	// An IPv4 client costs no AAAA lookups.
	if n := srv.QueryCount("relay.example.", dns.TypeAAAA); n != 1 { // only the IPv6 case above
		t.Errorf("relay.example AAAA queried %d times, want 1", n)
	}

	// The explanation, through the richer call.
	v := (&spf.Checker{Resolver: r}).Check(ctx, netip.MustParseAddr("192.0.2.99"), "h.example", "x@explained.example")
	if v.Result != spf.Fail || v.Explanation != "192.0.2.99 is not one of explained.example's senders" {
		t.Errorf("got %v %q", v.Result, v.Explanation)
	}

	// temperror carries the resolver's reason.
	_, err = spf.Check(ctx, r, netip.MustParseAddr("192.0.2.1"), "h.example", "a@broken.example")
	if !errors.Is(err, mdns.ErrServerFailure) {
		t.Errorf("temperror: %v does not wrap resolver.ErrServerFailure", err)
	}
}

// TestInternationalisedSender checks RFC 8616 §4: a U-label sender
// domain is evaluated as its A-label.
func TestInternationalisedSender(t *testing.T) {
	srv := dnstest.NewServer(t, `
xn--bcher-kva.example. 300 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60
xn--bcher-kva.example. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
`)
	r, err := mdns.New(mdns.Config{Upstreams: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v := (&spf.Checker{Resolver: r}).Check(context.Background(), netip.MustParseAddr("192.0.2.1"), "h.example", "jörg@bücher.example")
	if v.Result != spf.Pass || v.Domain != "xn--bcher-kva.example" {
		t.Errorf("got %v for domain %q (%v), want pass for xn--bcher-kva.example", v.Result, v.Domain, v.Err)
	}
}
