package dkim_test

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/maildns/maildns/dkim"
)

// FuzzParseKey checks that ParseKey never panics and that its results keep
// their documented shape whatever the record. The seed corpus is in
// testdata/fuzz/FuzzParseKey; these seeds add the pasted test keys.
func FuzzParseKey(f *testing.F) {
	for _, rec := range []string{
		"v=DKIM1; k=rsa; p=" + rsa1024SPKI,
		"v=DKIM1; k=rsa; p=" + rsa1024PKCS1,
		"v=DKIM1; p=" + rsa2048SPKI,
		"p=" + rsa2048PKCS1,
		"v=DKIM1; k=ed25519; p=" + ed25519Pub,
		"k=ed25519; p=" + ed25519SPKI,
		"p=" + rsa512SPKI,
		"v=DKIM1; h=sha1:sha256; s=email:*; t=y:s; n=note; k=rsa; p=" + rsa1024SPKI,
		"v=DKIM1; p=",
		" v = DKIM1 ; p = " + spaced(rsa2048SPKI, 7),
	} {
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, record string) {
		key, err := dkim.ParseKey(record)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dkim: ") || dkim.IsTemporary(err) {
				t.Fatalf("bad error %q", err)
			}
			n := 0
			for _, s := range []error{dkim.ErrMalformedKey, dkim.ErrKeyRevoked, dkim.ErrWeakKey} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
			}
			if errors.Is(err, dkim.ErrWeakKey) != (key != nil) {
				t.Fatalf("got key %+v with error %q; only ErrWeakKey comes with a key", key, err)
			}
			if key != nil && key.Bits >= 1024 {
				t.Fatalf("ErrWeakKey for a %d-bit key", key.Bits)
			}
			return
		}
		if key == nil {
			t.Fatal("nil key and nil error")
		}
		switch pub := key.PublicKey.(type) {
		case *rsa.PublicKey:
			if key.KeyType != "rsa" || key.Bits != pub.N.BitLen() || key.Bits < 1024 || key.Bits > 16384 {
				t.Fatalf("bad RSA key: type %q, %d bits", key.KeyType, key.Bits)
			}
		case ed25519.PublicKey:
			if key.KeyType != "ed25519" || key.Bits != 256 || len(pub) != ed25519.PublicKeySize {
				t.Fatalf("bad Ed25519 key: type %q, %d bits, %d bytes", key.KeyType, key.Bits, len(pub))
			}
		default:
			t.Fatalf("PublicKey is a %T", key.PublicKey)
		}
		if key.Services != nil && !slices.Contains(key.Services, "email") && !slices.Contains(key.Services, "*") {
			t.Fatalf("accepted s=%q", key.Services)
		}
	})
}
