package interop

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	spf "blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/maildns/maildns/dnstest"
	"github.com/maildns/maildns/resolver"
)

const zone = `
$ORIGIN example.com.
$TTL 300
@      IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 300
@      IN MX  10 mx.example.com.
@      IN TXT "v=spf1 mx ip4:198.51.100.0/24 -all"
mx     IN A   192.0.2.25
_dmarc IN TXT "v=DMARC1;\tp=reject;\tpct=100; rua=mailto:d@example.com"
`

// setup starts dnstest with zone and returns maildns and net.Resolver,
// both in front of it.
func setup(t *testing.T, records ...string) (*resolver.Resolver, *net.Resolver) {
	t.Helper()
	srv := dnstest.NewServer(t, zone)
	for _, rr := range records {
		srv.AddRecords(rr)
	}
	r, err := resolver.New(resolver.Config{Upstreams: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}}
	return r, nr
}

// lookupTXT adapts a resolver for go-msgauth.
func lookupTXT(r interface {
	LookupTXT(context.Context, string) ([]string, error)
}) func(string) ([]string, error) {
	return func(name string) ([]string, error) { return r.LookupTXT(context.Background(), name) }
}

// TestDKIMVerify signs a message with go-msgauth and verifies it through
// maildns and through net.Resolver. The key record has tabs between its
// tags, which maildns once returned escaped.
func TestDKIMVerify(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := "v=DKIM1;\tk=ed25519;\tp=" + base64.StdEncoding.EncodeToString(pub)
	r, nr := setup(t, `s1._domainkey.example.com. 300 IN TXT "`+strings.ReplaceAll(key, "\t", `\009`)+`"`)

	msg := "From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.com", Selector: "s1", Signer: priv}); err != nil {
		t.Fatal(err)
	}
	for name, lookup := range map[string]func(string) ([]string, error){"maildns": lookupTXT(r), "net": lookupTXT(nr)} {
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed.Bytes()), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			var verr error
			if len(vs) == 1 {
				verr = vs[0].Err
			}
			t.Errorf("%s: verify: %v, %d verifications, %v", name, err, len(vs), verr)
		}
	}
}

// TestDMARCLookup reads DMARC records through both: the same record, or
// the same error (go-msgauth does not take a tab between tags; with the
// escaped text maildns once returned, records differed from net's).
func TestDMARCLookup(t *testing.T) {
	r, nr := setup(t,
		`_dmarc.plain.example.com. 300 IN TXT "v=DMARC1; p=quarantine; pct=50; rua=mailto:d@example.com"`,
		`_dmarc.utf8.example.com. 300 IN TXT "v=DMARC1; p=none; rua=mailto:\195\164@example.com"`)
	for _, domain := range []string{"plain.example.com", "utf8.example.com", "example.com", "nodmarc.example.com"} {
		got, gerr := dmarc.LookupWithOptions(domain, &dmarc.LookupOptions{LookupTXT: lookupTXT(r)})
		want, werr := dmarc.LookupWithOptions(domain, &dmarc.LookupOptions{LookupTXT: lookupTXT(nr)})
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: maildns %+v, %v; net %+v, %v", domain, got, gerr, want, werr)
		}
	}
	if got, err := dmarc.LookupWithOptions("plain.example.com", &dmarc.LookupOptions{LookupTXT: lookupTXT(r)}); err != nil || got.Policy != dmarc.PolicyQuarantine {
		t.Errorf("plain.example.com: %+v, %v", got, err)
	}
}

// TestBlitiriSPF checks hosts through blitiri.com.ar/go/spf with each
// resolver: the same results.
func TestBlitiriSPF(t *testing.T) {
	r, nr := setup(t, `nx-mx.example.com. 300 IN TXT "v=spf1 mx:nowhere.example.com -all"`)
	for _, c := range []struct{ ip, sender string }{
		{"192.0.2.25", "a@example.com"},   // the MX host: pass
		{"198.51.100.7", "a@example.com"}, // ip4: pass
		{"203.0.113.9", "a@example.com"},  // fail
		{"203.0.113.9", "a@nx-mx.example.com"},
		{"203.0.113.9", "a@nodomain.example.com"}, // none
	} {
		ip := net.ParseIP(c.ip)
		got, gerr := spf.CheckHostWithSender(ip, "helo.example.com", c.sender, spf.WithResolver(r))
		want, werr := spf.CheckHostWithSender(ip, "helo.example.com", c.sender, spf.WithResolver(nr))
		if got != want || (gerr == nil) != (werr == nil) {
			t.Errorf("%s from %s: maildns %v (%v); net %v (%v)", c.sender, c.ip, got, gerr, want, werr)
		}
	}
}
