package dkim_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/maildns/maildns/dkim"
)

// *net.Resolver is the reference TXTResolver.
var _ dkim.TXTResolver = (*net.Resolver)(nil)

// fakeResolver is an in-memory TXTResolver. Names are matched in lower case
// without the final dot; a name in neither map is NXDOMAIN, a name mapped
// to an empty slice is NODATA (as *net.Resolver reports both: a
// *net.DNSError with IsNotFound). It is safe for simultaneous use.
type fakeResolver struct {
	txt  map[string][]string
	errs map[string]error

	mu      sync.Mutex // protects queries
	queries []string
}

func (f *fakeResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	f.mu.Lock()
	f.queries = append(f.queries, name)
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := strings.ToLower(strings.TrimSuffix(name, "."))
	if err, ok := f.errs[key]; ok {
		return nil, err
	}
	if recs, ok := f.txt[key]; ok && len(recs) > 0 {
		return slices.Clone(recs), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// Queries returns the names queried so far.
func (f *fakeResolver) Queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

// Resolver errors as *net.Resolver reports them.
func errTimeout(name string) error {
	return &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true, IsTemporary: true}
}

func errServfail(name string) error {
	return &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
}

// publicOnlySigner is a crypto.Signer that cannot sign, like a remote
// signer seen from CheckSigner, which only calls Public.
type publicOnlySigner struct{ pub crypto.PublicKey }

func (s publicOnlySigner) Public() crypto.PublicKey { return s.pub }

func (s publicOnlySigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("publicOnlySigner cannot sign")
}

// Decoders for the constants of keys_test.go.

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rsaFromSPKI(t testing.TB, s string) *rsa.PublicKey {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(mustB64(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return pub.(*rsa.PublicKey)
}

func ed25519FromSeed(t testing.TB, seed string) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(mustB64(t, seed))
}

func rsa1024Private(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode([]byte(rsa1024PrivatePEM))
	if block == nil {
		t.Fatal("rsa1024PrivatePEM: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// TestKeyConstants checks that the pasted keys are what their names say.
func TestKeyConstants(t *testing.T) {
	priv := rsa1024Private(t)
	if !priv.PublicKey.Equal(rsaFromSPKI(t, rsa1024SPKI)) {
		t.Error("rsa1024SPKI is not the public half of rsa1024PrivatePEM")
	}
	for _, c := range []struct {
		spki, pkcs1 string
		bits        int
	}{
		{rsa512SPKI, rsa512PKCS1, 512},
		{rsa1024SPKI, rsa1024PKCS1, 1024},
		{rsa2048SPKI, rsa2048PKCS1, 2048},
	} {
		pub := rsaFromSPKI(t, c.spki)
		p1, err := x509.ParsePKCS1PublicKey(mustB64(t, c.pkcs1))
		if err != nil {
			t.Fatal(err)
		}
		if !pub.Equal(p1) || pub.N.BitLen() != c.bits {
			t.Errorf("%d-bit constants: SPKI and PKCS #1 differ or have the wrong size", c.bits)
		}
	}
	for _, c := range []struct{ seed, pub string }{
		{ed25519Seed, ed25519Pub},
		{rfc8463Seed, rfc8463Pub},
	} {
		got := ed25519FromSeed(t, c.seed).Public().(ed25519.PublicKey)
		if !got.Equal(ed25519.PublicKey(mustB64(t, c.pub))) {
			t.Errorf("seed %s: public key is not %s", c.seed, c.pub)
		}
	}
	spki, err := x509.ParsePKIXPublicKey(mustB64(t, ed25519SPKI))
	if err != nil || !ed25519.PublicKey(mustB64(t, ed25519Pub)).Equal(spki) {
		t.Errorf("ed25519SPKI is not ed25519Pub: %v", err)
	}
}
