package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/maildns/maildns/internal/dnstest"
	"github.com/miekg/dns"
)

func TestNetCompatible(t *testing.T) {
	r, _, _ := setup(t, nil)
	ctx := context.Background()

	mxs, err := r.LookupMX(ctx, "mail.example")
	if err != nil || len(mxs) != 2 || mxs[0].Host != "mx1.mail.example." || mxs[0].Pref != 10 || mxs[1].Pref != 20 {
		t.Errorf("LookupMX: %v, %v", mxs, err)
	}
	txt, err := r.LookupTXT(ctx, "txt.example")
	if err != nil || !slices.Equal(txt, []string{"v=spf1 ip4:192.0.2.0/24 -all"}) {
		t.Errorf("LookupTXT: %q, %v (strings of one record must be joined)", txt, err)
	}
	ips, err := r.LookupNetIP(ctx, "ip", "mx1.mail.example")
	want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	if err != nil || !slices.Equal(ips, want) {
		t.Errorf("LookupNetIP ip: %v, %v", ips, err)
	}
	if ips, err := r.LookupNetIP(ctx, "ip6", "mx1.mail.example"); err != nil || !slices.Equal(ips, want[1:]) {
		t.Errorf("LookupNetIP ip6: %v, %v", ips, err)
	}
	if ips, err := r.LookupNetIP(ctx, "ip4", "alias.example"); err != nil || !slices.Equal(ips, want[:1]) {
		t.Errorf("LookupNetIP through CNAME: %v, %v", ips, err)
	}
	if ips, err := r.LookupNetIP(ctx, "ip", "192.0.2.9"); err != nil || ips[0] != netip.MustParseAddr("192.0.2.9") {
		t.Errorf("LookupNetIP literal: %v, %v", ips, err)
	}
	if _, err := r.LookupNetIP(ctx, "tcp", "mx1.mail.example"); err == nil {
		t.Error("LookupNetIP accepted network tcp")
	}
	hosts, err := r.LookupHost(ctx, "mx2.mail.example") // A only: AAAA is NODATA
	if err != nil || !slices.Equal(hosts, []string{"192.0.2.2"}) {
		t.Errorf("LookupHost: %v, %v", hosts, err)
	}
	ipas, err := r.LookupIPAddr(ctx, "mx1.mail.example")
	if err != nil || len(ipas) != 2 || !ipas[0].IP.Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("LookupIPAddr: %v, %v", ipas, err)
	}
	names, err := r.LookupAddr(ctx, "192.0.2.1")
	if err != nil || !slices.Equal(names, []string{"mx1.mail.example."}) {
		t.Errorf("LookupAddr: %v, %v", names, err)
	}
	if _, err := r.LookupAddr(ctx, "not-an-ip"); err == nil {
		t.Error("LookupAddr accepted a non-address")
	}
}

// TestNetCompatibleErrors checks that *net.DNSError flags are truthful.
func TestNetCompatibleErrors(t *testing.T) {
	r, srv, clk := setup(t, func(c *Config) { c.Timeout = 50 * time.Millisecond })
	srv.SetFault("dead.example.", dnstest.Fault{Drop: true})
	srv.SetFault("broken.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	ctx := context.Background()
	cases := []struct {
		name                         string
		lookup                       func() error
		notFound, timeout, temporary bool
		is                           error
	}{
		{"nxdomain", func() error { _, err := r.LookupMX(ctx, "nope.example"); return err }, true, false, false, nil},
		{"nodata", func() error { _, err := r.LookupTXT(ctx, "mail.example"); return err }, true, false, false, nil},
		{"nodata ip", func() error { _, err := r.LookupNetIP(ctx, "ip6", "mx2.mail.example"); return err }, true, false, false, nil},
		{"timeout", func() error { _, err := r.LookupTXT(ctx, "dead.example"); return err }, false, true, true, ErrTimeout},
		{"servfail", func() error { _, err := r.LookupMX(ctx, "broken.example"); return err }, false, false, true, ErrServerFailure},
		{"bad name", func() error { _, err := r.LookupHost(ctx, "a..b"); return err }, true, false, false, ErrBadName},
	}
	for _, c := range cases {
		var err error
		if c.is == ErrTimeout {
			clk.run(func() { err = c.lookup() }) // every query dropped: drive the clock
		} else {
			err = c.lookup()
		}
		var de *net.DNSError
		if !errors.As(err, &de) {
			t.Errorf("%s: got %T %v, want *net.DNSError", c.name, err, err)
			continue
		}
		if de.IsNotFound != c.notFound || de.IsTimeout != c.timeout || de.IsTemporary != c.temporary {
			t.Errorf("%s: got NotFound %v Timeout %v Temporary %v, want %v %v %v", c.name,
				de.IsNotFound, de.IsTimeout, de.IsTemporary, c.notFound, c.timeout, c.temporary)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v does not wrap %v", c.name, err, c.is)
		}
		if IsTemporary(err) != c.temporary {
			t.Errorf("%s: IsTemporary = %v", c.name, IsTemporary(err))
		}
	}
}

// TestNetCompatibleCopies checks that callers may modify what they get.
func TestNetCompatibleCopies(t *testing.T) {
	r, _, _ := setup(t, nil)
	ctx := context.Background()
	mxs, _ := r.LookupMX(ctx, "mail.example")
	mxs[0].Host = "evil."
	again, _ := r.LookupMX(ctx, "mail.example")
	for _, mx := range again {
		if mx.Host == "evil." {
			t.Fatal("modifying a LookupMX result changed the cache")
		}
	}
}
