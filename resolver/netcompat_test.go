package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maildns/maildns/dnstest"
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

// TestRawOctetsEveryByte sends every octet value through the wire in a TXT
// record and checks that LookupTXT's conversion gives back exactly the
// octets sent, as *net.Resolver does.
func TestRawOctetsEveryByte(t *testing.T) {
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	for _, raw := range [][]byte{all[:128], all[128:], []byte(`\"\\\123`), []byte("v=DKIM1;\tk=rsa;\tp=äbc")} {
		esc := unpackTXT(t, raw)
		if s := rawOctets(esc); s != string(raw) {
			t.Errorf("%q: from %q got %q", raw, esc, s)
		}
	}
	// Text that is not miekg/dns's escaped form is passed through: a
	// trailing backslash, an escape past 255.
	for in, want := range map[string]string{`a\`: `a\`, `\256`: `256`, `\1`: `1`, `\12x`: `12x`} {
		if got := rawOctets(in); got != want {
			t.Errorf("rawOctets(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLookupTXTRawLikeNet compares LookupTXT with *net.Resolver on the same
// server for records with a tab, a quote, a backslash and UTF-8.
func TestLookupTXTRawLikeNet(t *testing.T) {
	r, srv, _ := setup(t, func(c *Config) { realTime(c) })
	srv.AddRecords(`raw.example. 300 IN TXT "v=DKIM1;\tk=rsa;\009p=MIIB" "\"q\" \\ \195\164"`)
	nr := netResolverFor(srv)
	ctx := context.Background()
	want, err := nr.LookupTXT(ctx, "raw.example")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.LookupTXT(ctx, "raw.example")
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("LookupTXT = %q, %v; net.Resolver: %q", got, err, want)
	}
	if len(want) != 1 || !strings.Contains(want[0], "\t") || !strings.Contains(want[0], "ä") {
		t.Errorf("net.Resolver's answer %q lacks the tab or the UTF-8 the test is about", want)
	}
}

// unpackTXT returns the character-string raw (at most 255 octets) as
// miekg/dns unpacks it from the wire, in its escaped form.
func unpackTXT(t testing.TB, raw []byte) string {
	t.Helper()
	// x. TXT IN, TTL 0, RDATA: one character-string.
	msg := []byte{1, 'x', 0, 0, 16, 0, 1, 0, 0, 0, 0, byte((len(raw) + 1) >> 8), byte(len(raw) + 1), byte(len(raw))}
	msg = append(msg, raw...)
	rr, _, err := dns.UnpackRR(msg, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rr.(*dns.TXT).Txt[0]
}

func FuzzRawOctets(f *testing.F) {
	f.Add([]byte("v=DKIM1;\tk=rsa; p=\"x\"\\"))
	f.Add([]byte{0, 9, 10, 92, 34, 200, 255})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 255 {
			raw = raw[:255]
		}
		if got := rawOctets(unpackTXT(t, raw)); got != string(raw) {
			t.Errorf("%q came back as %q", raw, got)
		}
	})
}

// TestNetMethodsLikeNet compares the methods *net.Resolver has, on the
// same dnstest server, through maildns and through net.Resolver (pure Go):
// the same results, the same not-found errors.
func TestNetMethodsLikeNet(t *testing.T) {
	r, srv, _ := setup(t, func(c *Config) { realTime(c) })
	srv.AddRecords(`
_smtp._tcp.example. 300 IN SRV 20 0 25 mx2.mail.example.
_smtp._tcp.example. 300 IN SRV 10 5 2525 mx1.mail.example.
chain.example. 300 IN CNAME alias.example.
`)
	nr := netResolverFor(srv)
	ctx := context.Background()
	same := func(what string, got, want any, gerr, werr error) {
		t.Helper()
		if werr != nil {
			var gde, wde *net.DNSError
			if !errors.As(gerr, &gde) || !errors.As(werr, &wde) || gde.IsNotFound != wde.IsNotFound ||
				// (net's Server is the address it gave Dial, which went elsewhere)
				(gde.Server == "") != (wde.Server == "") || gde.Err != wde.Err || gde.IsTimeout != wde.IsTimeout || gde.IsTemporary != wde.IsTemporary {
				t.Errorf("%s: error %#v; net.Resolver: %#v", what, gerr, werr)
			}
			return
		}
		if gerr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, %v; net.Resolver: %v", what, got, gerr, want)
		}
	}
	for _, h := range []string{"alias.example", "mx1.mail.example", "mx2.mail.example.", "nx.example", "mail.example"} {
		g, gerr := r.LookupCNAME(ctx, h)
		w, werr := nr.LookupCNAME(ctx, h)
		same("LookupCNAME "+h, g, w, gerr, werr)
	}
	// A chain of two CNAMEs: the canonical name is at its end (RFC 1034
	// §3.6.2); net.Resolver returns the first CNAME target it meets in
	// the answer, which depends on the order of the records.
	if g, err := r.LookupCNAME(ctx, "chain.example"); g != "mx1.mail.example." || err != nil {
		t.Errorf("LookupCNAME chain.example: %q, %v; want the end of the chain", g, err)
	}
	for _, c := range [][2]string{{"ip4", "mx1.mail.example"}, {"ip6", "mx1.mail.example"}, {"ip4", "192.0.2.7"}, {"ip", "2001:db8::7"}, {"ip4", "nx.example"}} {
		g, gerr := r.LookupIP(ctx, c[0], c[1])
		w, werr := nr.LookupIP(ctx, c[0], c[1])
		same("LookupIP "+c[0]+" "+c[1], g, w, gerr, werr)
	}
	{
		g, gerr := r.LookupNS(ctx, "example")
		w, werr := nr.LookupNS(ctx, "example")
		same("LookupNS", g, w, gerr, werr)
		_, gerr = r.LookupNS(ctx, "nx.example")
		_, werr = nr.LookupNS(ctx, "nx.example")
		same("LookupNS nx", nil, nil, gerr, werr)
	}
	for _, c := range [][3]string{{"smtp", "tcp", "example"}, {"", "", "_smtp._tcp.example"}, {"imap", "tcp", "example"}} {
		gc, g, gerr := r.LookupSRV(ctx, c[0], c[1], c[2])
		wc, w, werr := nr.LookupSRV(ctx, c[0], c[1], c[2])
		same("LookupSRV "+strings.Join(c[:], " "), []any{gc, g}, []any{wc, w}, gerr, werr)
	}
	for _, a := range []string{"192.0.2.1", "192.0.2.200"} {
		g, gerr := r.LookupAddr(ctx, a)
		w, werr := nr.LookupAddr(ctx, a)
		same("LookupAddr "+a, g, w, gerr, werr)
	}
	srv.SetFault("broken.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	{
		g, gerr := r.LookupMX(ctx, "broken.example")
		w, werr := nr.LookupMX(ctx, "broken.example")
		same("LookupMX SERVFAIL", g, w, gerr, werr)
		if werr == nil {
			t.Error("net.Resolver took SERVFAIL for an answer")
		}
	}
	gp, gerr := r.LookupPort(ctx, "tcp", "smtp")
	wp, werr := nr.LookupPort(ctx, "tcp", "smtp")
	same("LookupPort", gp, wp, gerr, werr)
}

// TestSortSRV checks RFC 2782's order: by priority, then weighted random
// within a priority (a weight-0 record last unless alone), over many
// shuffles.
func TestSortSRV(t *testing.T) {
	firsts := map[uint16]int{}
	for range 2000 {
		srvs := []*net.SRV{{Priority: 20, Weight: 0, Port: 4}, {Priority: 10, Weight: 0, Port: 3}, {Priority: 10, Weight: 30, Port: 2}, {Priority: 10, Weight: 10, Port: 1}}
		sortSRV(srvs)
		if srvs[3].Port != 4 || srvs[2].Port != 3 {
			t.Fatalf("order %v %v %v %v", *srvs[0], *srvs[1], *srvs[2], *srvs[3])
		}
		firsts[srvs[0].Port]++
	}
	// Weight 30 against 10: first three times in four.
	if n := firsts[2]; n < 1350 || n > 1650 {
		t.Errorf("weight 30 of 40 came first %d times in 2000", n)
	}
}

// netResolver is the method set of *net.Resolver; both types must have it
// with the same signatures.
type netResolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNS(ctx context.Context, name string) ([]*net.NS, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupPort(ctx context.Context, network, service string) (int, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

var (
	_ netResolver = (*net.Resolver)(nil)
	_ netResolver = (*Resolver)(nil)
)

// TestNamesLikeNet compares, with net.Resolver on the same server, the
// checks of names asked for (refused without a query), the filtering of
// answers naming invalid hosts, literals and networks.
func TestNamesLikeNet(t *testing.T) {
	r, srv, _ := setup(t, func(c *Config) { realTime(c) })
	srv.AddRecords(`
bad.example. 300 IN MX 10 good.example.
bad.example. 300 IN MX 20 bad\ host.example.
bad.example. 300 IN NS ns.example.
bad.example. 300 IN NS not_a\@host.example.
`)
	nr := netResolverFor(srv)
	ctx := context.Background()
	errText := func(err error) string {
		var de *net.DNSError
		if errors.As(err, &de) {
			return fmt.Sprintf("DNSError %q notfound=%v", de.Err, de.IsNotFound)
		}
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Sprintf("AddrError %q", ae.Err)
		}
		if err != nil {
			return fmt.Sprintf("%T %v", err, err)
		}
		return "nil"
	}
	// Names net refuses to ask about: no query goes out.
	var sent int64
	for _, h := range []string{"a+b.example", "-x.example", "x-.example", "123.456", "a..b"} {
		before := srv.Queries()
		_, gerr := r.LookupHost(ctx, h)
		_, gmerr := r.LookupMX(ctx, h)
		sent += srv.Queries() - before
		_, werr := nr.LookupHost(ctx, h)
		_, wmerr := nr.LookupMX(ctx, h)
		if errText(gerr) != errText(werr) || errText(gmerr) != errText(wmerr) {
			t.Errorf("%q: LookupHost %s, LookupMX %s; net.Resolver: %s, %s", h, errText(gerr), errText(gmerr), errText(werr), errText(wmerr))
		}
	}
	if sent != 0 {
		t.Errorf("%d queries sent for names that are not host names", sent)
	}
	// Answers naming invalid hosts: the rest, and net's error.
	gm, gerr := r.LookupMX(ctx, "bad.example")
	wm, werr := nr.LookupMX(ctx, "bad.example")
	if !reflect.DeepEqual(gm, wm) || errText(gerr) != errText(werr) {
		t.Errorf("LookupMX bad.example: %v, %s; net.Resolver: %v, %s", gm, errText(gerr), wm, errText(werr))
	}
	gn, gerr := r.LookupNS(ctx, "bad.example")
	wn, werr := nr.LookupNS(ctx, "bad.example")
	if !reflect.DeepEqual(gn, wn) || errText(gerr) != errText(werr) {
		t.Errorf("LookupNS bad.example: %v, %s; net.Resolver: %v, %s", gn, errText(gerr), wn, errText(werr))
	}
	// Literals and networks.
	for _, h := range []string{"2001:DB8::1", "192.0.2.1", "::ffff:192.0.2.1"} {
		gh, _ := r.LookupHost(ctx, h)
		wh, _ := nr.LookupHost(ctx, h)
		if !slices.Equal(gh, wh) {
			t.Errorf("LookupHost %q: %v; net.Resolver: %v", h, gh, wh)
		}
		gi, _ := r.LookupIPAddr(ctx, h)
		wi, _ := nr.LookupIPAddr(ctx, h)
		if !reflect.DeepEqual(gi, wi) {
			t.Errorf("LookupIPAddr %q: %#v; net.Resolver: %#v", h, gi, wi)
		}
	}
	for _, c := range [][2]string{{"ip6", "192.0.2.1"}, {"ip4", "2001:db8::1"}, {"ip4:icmp", "mx1.mail.example"}, {"tcp", "mx1.mail.example"}} {
		ga, gerr := r.LookupNetIP(ctx, c[0], c[1])
		wa, werr := nr.LookupNetIP(ctx, c[0], c[1])
		if !slices.Equal(ga, wa) || errText(gerr) != errText(werr) {
			t.Errorf("LookupNetIP %s %s: %v, %s; net.Resolver: %v, %s", c[0], c[1], ga, errText(gerr), wa, errText(werr))
		}
	}
}

// netResolverFor returns a *net.Resolver (pure Go) that asks srv.
func netResolverFor(srv *dnstest.Server) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}}
}
