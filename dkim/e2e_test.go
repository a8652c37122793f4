package dkim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maildns/maildns/dkim"
	"github.com/maildns/maildns/dnstest"
	"github.com/maildns/maildns/resolver"
	"github.com/miekg/dns"
)

// TestEndToEnd runs LookupKey and CheckSigner through *resolver.Resolver
// against a DNS server on loopback: a long RSA-sized record split into
// strings, NXDOMAIN, a revoked key, a SERVFAIL and a timeout.
func TestEndToEnd(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	other := ed25519.NewKeyFromSeed([]byte(strings.Repeat("x", ed25519.SeedSize)))
	zone := fmt.Sprintf(`
$ORIGIN example.
@ 300 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60
s1._domainkey 300 IN TXT "v=DKIM1; k=ed25519; " "p=%s"
s1._domainkey 300 IN TXT "unrelated text record"
revoked._domainkey 300 IN TXT "v=DKIM1; p="
broken._domainkey 300 IN TXT "v=DKIM1; p=x"
dead._domainkey 300 IN TXT "v=DKIM1; p=x"
`, pub)
	srv := dnstest.NewServer(t, zone)
	srv.SetFault("broken._domainkey.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	srv.SetFault("dead._domainkey.example.", dnstest.Fault{Drop: true})
	r, err := resolver.New(resolver.Config{Upstreams: []string{srv.Addr()}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()

	key, err := dkim.LookupKey(ctx, r, "s1", "Example")
	if err != nil || key.KeyType != "ed25519" || key.Bits != 256 {
		t.Fatalf("LookupKey: %+v, %v", key, err)
	}
	if err := dkim.CheckSigner(ctx, r, "s1", "example", priv); err != nil {
		t.Errorf("CheckSigner with the published key: %v", err)
	}
	if err := dkim.CheckSigner(ctx, r, "s1", "example", other); err == nil || dkim.IsTemporary(err) {
		t.Errorf("CheckSigner with another key: %v, want a permanent mismatch", err)
	}
	cases := []struct {
		selector  string
		is        error
		temporary bool
	}{
		{"missing", dkim.ErrNoKey, false},
		{"revoked", dkim.ErrKeyRevoked, false},
		{"broken", resolver.ErrServerFailure, true},
		{"dead", resolver.ErrTimeout, true},
	}
	for _, c := range cases {
		_, err := dkim.LookupKey(ctx, r, c.selector, "example")
		if !errors.Is(err, c.is) || dkim.IsTemporary(err) != c.temporary {
			t.Errorf("%s: got %v (temporary %v), want %v (temporary %v)", c.selector, err, dkim.IsTemporary(err), c.is, c.temporary)
		}
	}
}
