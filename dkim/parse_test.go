package dkim_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/maildns/maildns/dkim"
)

// spaced inserts folding white space into s every n characters, the way
// zone files and copy-pasted DNS records split long base64 strings.
func spaced(s string, n int) string {
	var b strings.Builder
	seps := []string{" ", "\t", "\r\n ", "  "}
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteString(seps[(i/n)%len(seps)])
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

// manyTags returns n distinct empty tags, "a0=;a1=;...".
func manyTags(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "a%d=;", i)
	}
	return b.String()
}

// hugeRSA returns a PKCS #1 RSAPublicKey with a modulus of bits bits, in
// base64. The modulus is not a product of two primes; parsing does not
// care.
func hugeRSA(t testing.TB, bits int) string {
	t.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	n.Add(n, big.NewInt(1))
	der, err := asn1.Marshal(struct {
		N *big.Int
		E int
	}{n, 65537})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func TestParseKey(t *testing.T) {
	rsa512 := rsaFromSPKI(t, rsa512SPKI)
	rsa1024 := rsaFromSPKI(t, rsa1024SPKI)
	rsa2048 := rsaFromSPKI(t, rsa2048SPKI)
	ed := ed25519.PublicKey(mustB64(t, ed25519Pub))
	edShort := base64.StdEncoding.EncodeToString(mustB64(t, ed25519Pub)[:31])
	p2048 := "p=" + rsa2048SPKI

	cases := []struct {
		record string
		err    error            // sentinel the error must wrap; nil for success
		pub    crypto.PublicKey // expected PublicKey; nil when no Key is expected
		want   dkim.Key         // expected fields other than PublicKey
	}{
		// Key encodings.
		{record: "p=" + rsa1024SPKI, pub: rsa1024, want: dkim.Key{KeyType: "rsa", Bits: 1024}},
		{record: "p=" + rsa1024PKCS1, pub: rsa1024, want: dkim.Key{KeyType: "rsa", Bits: 1024}},
		{record: "v=DKIM1; k=rsa; p=" + rsa2048SPKI, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048}},
		{record: "v=DKIM1; k=rsa; p=" + rsa2048PKCS1, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048}},
		{record: "v=DKIM1; k=ed25519; p=" + ed25519Pub, pub: ed, want: dkim.Key{KeyType: "ed25519", Bits: 256}},
		{record: "k=ed25519; p=" + strings.TrimRight(ed25519Pub, "="), pub: ed, want: dkim.Key{KeyType: "ed25519", Bits: 256}},
		{record: "k=RSA; p=" + rsa2048SPKI, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048}},
		{record: "k=Ed25519; p=" + ed25519Pub, pub: ed, want: dkim.Key{KeyType: "ed25519", Bits: 256}},

		// Tag-list syntax (RFC 6376 §3.2).
		{record: " v = DKIM1 ;\tk = rsa ;\r\n p = " + spaced(rsa2048SPKI, 64) + " ; ", pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048}},
		{record: "v=DKIM1;;k=ed25519;;p=" + spaced(ed25519Pub, 5) + ";", pub: ed, want: dkim.Key{KeyType: "ed25519", Bits: 256}},
		{record: "v=DKIM1; g=*; x_custom=any thing; zz=\x00\xff; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048}},
		{record: "v=DKIM1; p=" + rsa2048SPKI + "; p=" + rsa2048SPKI, err: dkim.ErrMalformedKey},
		{record: "x=1; x=2; " + p2048, err: dkim.ErrMalformedKey},
		{record: "P=1; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048}}, // tag names are case-sensitive
		{record: "v=DKIM1; flag; " + p2048, err: dkim.ErrMalformedKey},
		{record: "1a=b; " + p2048, err: dkim.ErrMalformedKey},
		{record: "a-b=c; " + p2048, err: dkim.ErrMalformedKey},
		{record: "=c; " + p2048, err: dkim.ErrMalformedKey},
		{record: "", err: dkim.ErrMalformedKey},
		{record: ";;;", err: dkim.ErrMalformedKey},
		{record: "v=DKIM1; k=rsa", err: dkim.ErrMalformedKey},

		// v= (RFC 6376 §3.6.1: optional, first, exactly DKIM1).
		{record: "k=rsa; v=DKIM1; " + p2048, err: dkim.ErrMalformedKey},
		{record: "v=DKIM2; " + p2048, err: dkim.ErrMalformedKey},
		{record: "v=dkim1; " + p2048, err: dkim.ErrMalformedKey},
		{record: "v=DKIM1.0; " + p2048, err: dkim.ErrMalformedKey},
		{record: "v=; " + p2048, err: dkim.ErrMalformedKey},

		// k=.
		{record: "k=ecdsa; " + p2048, err: dkim.ErrMalformedKey},
		{record: "k=; " + p2048, err: dkim.ErrMalformedKey},
		{record: "k=rsa; p=" + ed25519SPKI, err: dkim.ErrMalformedKey},
		{record: "k=rsa; p=" + ed25519Pub, err: dkim.ErrMalformedKey},
		{record: "k=ed25519; p=" + ed25519SPKI, err: dkim.ErrMalformedKey},
		{record: "k=ed25519; p=" + edShort, err: dkim.ErrMalformedKey},
		{record: "k=ed25519; p=" + rsa2048SPKI, err: dkim.ErrMalformedKey},

		// h=.
		{record: "h=sha256; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, HashAlgorithms: []string{"sha256"}}},
		{record: "h= SHA1 : sha256 :x-new; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, HashAlgorithms: []string{"sha1", "sha256", "x-new"}}},
		{record: "h=sha1; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, HashAlgorithms: []string{"sha1"}}},
		{record: "h=; " + p2048, err: dkim.ErrMalformedKey},
		{record: "h=sha1::sha256; " + p2048, err: dkim.ErrMalformedKey},
		{record: "h=sha 256; " + p2048, err: dkim.ErrMalformedKey},

		// s=.
		{record: "s=email; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, Services: []string{"email"}}},
		{record: "s=*; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, Services: []string{"*"}}},
		{record: "s=tlsrpt:EMAIL; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, Services: []string{"tlsrpt", "email"}}},
		{record: "s=tlsrpt; " + p2048, err: dkim.ErrMalformedKey},
		{record: "s=; " + p2048, err: dkim.ErrMalformedKey},

		// t=.
		{record: "t=y; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, Testing: true}},
		{record: "t=s; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, Strict: true}},
		{record: "t=y:s; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, Testing: true, Strict: true}},
		{record: "t=Y : x; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, Testing: true}},
		{record: "t=; " + p2048, err: dkim.ErrMalformedKey},

		// n=.
		{record: "n=rotated=202024 by ops; " + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048, Notes: "rotated=202024 by ops"}},

		// p=: revoked, missing, undecodable.
		{record: "v=DKIM1; p=", err: dkim.ErrKeyRevoked},
		{record: "v=DKIM1; k=rsa; p= ;", err: dkim.ErrKeyRevoked},
		{record: "v=DKIM1; k=ed25519; n=gone; p=", err: dkim.ErrKeyRevoked},
		{record: "v=DKIM1; k=rsa; t=y", err: dkim.ErrMalformedKey},
		{record: "p=!!!!", err: dkim.ErrMalformedKey},
		{record: "p=AAAA", err: dkim.ErrMalformedKey},
		{record: "p=A", err: dkim.ErrMalformedKey},
		{record: "p=" + rsa2048SPKI[:200], err: dkim.ErrMalformedKey},

		// Key sizes (RFC 8301) and bounds.
		{record: "p=" + rsa512SPKI, err: dkim.ErrWeakKey, pub: rsa512, want: dkim.Key{KeyType: "rsa", Bits: 512}},
		{record: "v=DKIM1; t=y; p=" + rsa512PKCS1, err: dkim.ErrWeakKey, pub: rsa512, want: dkim.Key{KeyType: "rsa", Bits: 512, Testing: true}},
		{record: "p=" + hugeRSA(t, 16384), pub: &rsa.PublicKey{}, want: dkim.Key{KeyType: "rsa", Bits: 16384}},
		{record: "p=" + hugeRSA(t, 16385), err: dkim.ErrMalformedKey},
		{record: "n=" + strings.Repeat("x", 8192) + "; " + p2048, err: dkim.ErrMalformedKey},
		{record: manyTags(1000) + "a7=; " + p2048, err: dkim.ErrMalformedKey},
		{record: manyTags(1000) + p2048, pub: rsa2048, want: dkim.Key{KeyType: "rsa", Bits: 2048}},
	}
	for _, c := range cases {
		key, err := dkim.ParseKey(c.record)
		name := c.record
		if len(name) > 80 {
			name = name[:80] + "..."
		}
		switch {
		case c.err == nil && err != nil:
			t.Errorf("%q: got error %v, want none", name, err)
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%q: got error %v, want %v", name, err, c.err)
		}
		if err != nil {
			checkKeyError(t, name, err)
		}
		if c.pub == nil {
			if key != nil {
				t.Errorf("%q: got key %+v, want none", name, key)
			}
			continue
		}
		if key == nil {
			t.Errorf("%q: got no key, want %+v", name, c.want)
			continue
		}
		checkKey(t, name, key, &c.want, c.pub)
	}
}

// checkKeyError checks the invariants of every error of ParseKey.
func checkKeyError(t *testing.T, name string, err error) {
	t.Helper()
	var ke *dkim.KeyError
	if !errors.As(err, &ke) {
		t.Errorf("%q: error %v (%T) is not a *KeyError", name, err, err)
	}
	if !strings.HasPrefix(err.Error(), "dkim: ") {
		t.Errorf("%q: error %q does not start with \"dkim: \"", name, err)
	}
	if dkim.IsTemporary(err) {
		t.Errorf("%q: IsTemporary(%v) = true, want false", name, err)
	}
}

// checkKey compares key with want, and key.PublicKey with pub; a pub of
// &rsa.PublicKey{} only checks the type.
func checkKey(t *testing.T, name string, key, want *dkim.Key, pub crypto.PublicKey) {
	t.Helper()
	if key.KeyType != want.KeyType || key.Bits != want.Bits ||
		key.Testing != want.Testing || key.Strict != want.Strict || key.Notes != want.Notes {
		t.Errorf("%q: got %+v, want %+v", name, key, want)
	}
	if !slices.Equal(key.HashAlgorithms, want.HashAlgorithms) || (key.HashAlgorithms == nil) != (want.HashAlgorithms == nil) {
		t.Errorf("%q: got HashAlgorithms %q, want %q", name, key.HashAlgorithms, want.HashAlgorithms)
	}
	if !slices.Equal(key.Services, want.Services) || (key.Services == nil) != (want.Services == nil) {
		t.Errorf("%q: got Services %q, want %q", name, key.Services, want.Services)
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		got, ok := key.PublicKey.(*rsa.PublicKey)
		if !ok || p.N != nil && !p.Equal(got) {
			t.Errorf("%q: got PublicKey %T, want the expected RSA key", name, key.PublicKey)
		}
	case ed25519.PublicKey:
		if !p.Equal(key.PublicKey) {
			t.Errorf("%q: got PublicKey %T, want the expected Ed25519 key", name, key.PublicKey)
		}
	}
}

// TestParseKeyMessages checks that errors say what is wrong, for the cases
// where a hint matters.
func TestParseKeyMessages(t *testing.T) {
	cases := []struct {
		record string
		want   string
	}{
		{"p=", "dkim: key revoked (empty p=)"},
		{"p=" + rsa512SPKI, "dkim: RSA key of 512 bits is under the 1024-bit minimum of RFC 8301"},
		{"k=ed25519; p=" + ed25519SPKI, "dkim: malformed key record: ed25519 p= is a SubjectPublicKeyInfo; RFC 8463 requires the raw 32-byte key"},
		{"k=rsa; p=" + ed25519SPKI, "dkim: malformed key record: k=rsa but p= holds a ed25519 key"},
		{"k=dsa; p=", `dkim: malformed key record: unknown key type k="dsa"`},
		{"p=1; p=2", `dkim: malformed key record: duplicate tag "p"`},
		{"s=web; p=2", `dkim: malformed key record: s="web" does not include email or *`},
		{"k=rsa; v=DKIM1; p=", "dkim: malformed key record: v= is not the first tag"},
		{"n=" + strings.Repeat("y", 100) + " p=", `dkim: malformed key record: no p= tag`},
		{"h=sha256; h=" + strings.Repeat("z", 100), `dkim: malformed key record: duplicate tag "h"`},
		{"v=" + strings.Repeat("D", 100), `dkim: malformed key record: v="` + strings.Repeat("D", 40) + `"... is not DKIM1`},
	}
	for _, c := range cases {
		_, err := dkim.ParseKey(c.record)
		if err == nil || err.Error() != c.want {
			t.Errorf("%.40q: got %v, want %s", c.record, err, c.want)
		}
	}
}
