package dkim_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/maildns/maildns/dkim"
)

func TestCheckSigner(t *testing.T) {
	const name = "sel._domainkey.example.com"
	edSigner := ed25519FromSeed(t, ed25519Seed)
	otherEd := ed25519FromSeed(t, rfc8463Seed)
	rsaSigner := rsa1024Private(t)
	weakSigner := publicOnlySigner{rsaFromSPKI(t, rsa512SPKI)}
	ecSigner, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edRecord := "v=DKIM1; k=ed25519; p=" + ed25519Pub
	edPointer := ed25519.PublicKey(mustB64(t, ed25519Pub))

	cases := []struct {
		desc    string
		records []string      // at name; nil: NXDOMAIN
		resErr  error         // returned by the resolver instead
		signer  crypto.Signer // nil is a nil signer
		reason  dkim.Reason   // 0: no error
		err     error         // sentinel the error must also wrap
		temp    bool          // IsTemporary(err)
		noQuery bool          // the check must fail before any query
	}{
		{desc: "ed25519 match", records: []string{edRecord}, signer: edSigner},
		{desc: "rsa match, PKCS #1", records: []string{"p=" + rsa1024PKCS1}, signer: rsaSigner},
		{desc: "rsa match, SPKI", records: []string{"v=DKIM1; k=rsa; h=sha256; s=email; p=" + rsa1024SPKI}, signer: rsaSigner},
		{desc: "remote signer", records: []string{"p=" + rsa1024SPKI}, signer: publicOnlySigner{&rsaSigner.PublicKey}},
		{desc: "signer returning *ed25519.PublicKey", records: []string{edRecord}, signer: publicOnlySigner{&edPointer}},
		{desc: "strict mode passes", records: []string{"t=s; k=ed25519; p=" + ed25519Pub}, signer: edSigner},
		{desc: "h= with sha256 passes", records: []string{"h=sha1:sha256; k=ed25519; p=" + ed25519Pub}, signer: edSigner},

		{desc: "NXDOMAIN", signer: edSigner, reason: dkim.ReasonNoUsableKey, err: dkim.ErrNoKey},
		{desc: "revoked", records: []string{"v=DKIM1; p="}, signer: edSigner, reason: dkim.ReasonNoUsableKey, err: dkim.ErrKeyRevoked},
		{desc: "malformed", records: []string{"v=DKIM1; k=foo; p=AAAA"}, signer: edSigner, reason: dkim.ReasonNoUsableKey, err: dkim.ErrMalformedKey},
		{desc: "ambiguous", records: []string{edRecord, "p=" + rsa1024SPKI}, signer: edSigner, reason: dkim.ReasonNoUsableKey, err: dkim.ErrMalformedKey},
		{desc: "timeout", resErr: errTimeout(name), signer: edSigner, reason: dkim.ReasonNoUsableKey, temp: true},
		{desc: "SERVFAIL", resErr: errServfail(name), signer: edSigner, reason: dkim.ReasonNoUsableKey, temp: true},

		{desc: "other ed25519 key", records: []string{edRecord}, signer: otherEd, reason: dkim.ReasonMismatch},
		{desc: "rsa published, ed25519 signer", records: []string{"p=" + rsa2048SPKI}, signer: edSigner, reason: dkim.ReasonMismatch},
		{desc: "other rsa key", records: []string{"p=" + rsa2048SPKI}, signer: rsaSigner, reason: dkim.ReasonMismatch},
		{desc: "weak published, other signer", records: []string{"p=" + rsa512SPKI}, signer: rsaSigner, reason: dkim.ReasonMismatch},
		{desc: "nil signer", records: []string{edRecord}, reason: dkim.ReasonMismatch, noQuery: true},
		{desc: "ecdsa signer", records: []string{edRecord}, signer: ecSigner, reason: dkim.ReasonMismatch, noQuery: true},
		{desc: "signer without key", records: []string{edRecord}, signer: publicOnlySigner{}, reason: dkim.ReasonMismatch, noQuery: true},

		{desc: "weak", records: []string{"p=" + rsa512SPKI}, signer: weakSigner, reason: dkim.ReasonWeakKey, err: dkim.ErrWeakKey},
		{desc: "h=sha1", records: []string{"h=sha1; p=" + rsa1024SPKI}, signer: rsaSigner, reason: dkim.ReasonHashExcluded},
		{desc: "h=unknown", records: []string{"h=sha512; k=ed25519; p=" + ed25519Pub}, signer: edSigner, reason: dkim.ReasonHashExcluded},
		{desc: "testing", records: []string{"t=y; k=ed25519; p=" + ed25519Pub}, signer: edSigner, reason: dkim.ReasonTesting},
		{desc: "testing and strict", records: []string{"t=s:y; k=ed25519; p=" + ed25519Pub}, signer: edSigner, reason: dkim.ReasonTesting},
	}
	for _, c := range cases {
		r := &fakeResolver{}
		if c.records != nil {
			r.txt = map[string][]string{name: c.records}
		}
		if c.resErr != nil {
			r.errs = map[string]error{name: c.resErr}
		}
		err := dkim.CheckSigner(context.Background(), r, "sel", "example.com", c.signer)

		if c.reason == 0 {
			if err != nil {
				t.Errorf("%s: got %v, want no error", c.desc, err)
			}
			continue
		}
		var ce *dkim.CheckError
		if !errors.As(err, &ce) {
			t.Errorf("%s: got %v (%T), want a *CheckError", c.desc, err, err)
			continue
		}
		if ce.Reason != c.reason || ce.Name != name {
			t.Errorf("%s: got reason %v for %s, want %v for %s", c.desc, ce.Reason, ce.Name, c.reason, name)
		}
		if c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("%s: error %v does not wrap %v", c.desc, err, c.err)
		}
		if got := dkim.IsTemporary(err); got != c.temp {
			t.Errorf("%s: IsTemporary(%v) = %v, want %v", c.desc, err, got, c.temp)
		}
		if want := "dkim: " + name + ": " + c.reason.String(); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %q does not start with %q", c.desc, err, want)
		}
		if q := r.Queries(); c.noQuery && len(q) != 0 {
			t.Errorf("%s: queried %q, want no query", c.desc, q)
		}
	}
}

func TestCheckSignerBadNames(t *testing.T) {
	r := &fakeResolver{}
	err := dkim.CheckSigner(context.Background(), r, "a b", "example.com", ed25519FromSeed(t, ed25519Seed))
	var ce *dkim.CheckError
	var ke *dkim.KeyError
	if !errors.As(err, &ce) || ce.Reason != dkim.ReasonNoUsableKey || !errors.As(err, &ke) || dkim.IsTemporary(err) {
		t.Errorf("got %v, want a permanent *CheckError with ReasonNoUsableKey wrapping a *KeyError", err)
	}
	if q := r.Queries(); len(q) != 0 {
		t.Errorf("queried %q for an invalid selector", q)
	}
}

// TestCheckSignerMessages pins the messages an operator reads at start-up.
func TestCheckSignerMessages(t *testing.T) {
	edSigner := ed25519FromSeed(t, ed25519Seed)
	cases := []struct {
		records []string
		signer  crypto.Signer
		want    string
	}{
		{nil, edSigner, "dkim: s._domainkey.example.org: no usable key: no key record: lookup s._domainkey.example.org.: no such host"},
		{[]string{"p="}, edSigner, "dkim: s._domainkey.example.org: no usable key: key revoked (empty p=)"},
		{[]string{"p=" + rsa2048SPKI}, edSigner, "dkim: s._domainkey.example.org: published key does not match the signer (published rsa 2048-bit, signer ed25519 256-bit)"},
		{[]string{"k=ed25519; p=" + rfc8463Pub}, edSigner, "dkim: s._domainkey.example.org: published key does not match the signer (both ed25519 256-bit, different keys)"},
		{[]string{"p=" + rsa512SPKI}, publicOnlySigner{rsaFromSPKI(t, rsa512SPKI)}, "dkim: s._domainkey.example.org: weak key: RSA key of 512 bits is under the 1024-bit minimum of RFC 8301"},
		{[]string{"h=sha1; k=ed25519; p=" + ed25519Pub}, edSigner, "dkim: s._domainkey.example.org: h= excludes sha256 (h=sha1)"},
		{[]string{"t=y; k=ed25519; p=" + ed25519Pub}, edSigner, "dkim: s._domainkey.example.org: key is in testing mode (t=y)"},
		{nil, nil, "dkim: s._domainkey.example.org: published key does not match the signer (signer is nil)"},
	}
	for _, c := range cases {
		r := &fakeResolver{txt: map[string][]string{"s._domainkey.example.org": c.records}}
		err := dkim.CheckSigner(context.Background(), r, "s", "example.org", c.signer)
		if err == nil || err.Error() != c.want {
			t.Errorf("%.30q: got %v, want %s", c.records, err, c.want)
		}
	}
}
