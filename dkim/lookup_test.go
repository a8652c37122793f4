package dkim_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/maildns/maildns/dkim"
)

func TestLookupKey(t *testing.T) {
	const name = "sel._domainkey.example.com"
	good := "v=DKIM1; k=rsa; p=" + rsa2048SPKI
	goodEd := "v=DKIM1; k=ed25519; p=" + ed25519Pub

	cases := []struct {
		desc      string
		records   []string // TXT records at name; nil: NXDOMAIN
		resErr    error    // returned by the resolver instead
		err       error    // sentinel the error must wrap; nil for success
		temporary bool     // IsTemporary(err)
		keyType   string   // of the returned key; "" for no key
	}{
		{desc: "key", records: []string{good}, keyType: "rsa"},
		{desc: "key without v=", records: []string{"p=" + rsa2048PKCS1}, keyType: "rsa"},
		{desc: "ed25519 key", records: []string{goodEd}, keyType: "ed25519"},
		{desc: "NXDOMAIN", err: dkim.ErrNoKey},
		{desc: "NODATA", records: []string{}, err: dkim.ErrNoKey},
		{
			desc:    "other TXT records only",
			records: []string{"v=spf1 -all", "google-site-verification=abc", "hello"},
			err:     dkim.ErrNoKey,
		},
		{
			desc:    "other TXT records ignored",
			records: []string{"v=spf1 -all", good, "google-site-verification=abc", "x=1"},
			keyType: "rsa",
		},
		{desc: "other version ignored", records: []string{"v=DKIM2; p=AAAA", goodEd}, keyType: "ed25519"},
		{desc: "two key records", records: []string{good, goodEd}, err: dkim.ErrMalformedKey},
		{desc: "two identical key records", records: []string{good, good}, err: dkim.ErrMalformedKey},
		{desc: "key record without v= counts", records: []string{good, "k=rsa; p="}, err: dkim.ErrMalformedKey},
		{desc: "revoked", records: []string{"v=DKIM1; p="}, err: dkim.ErrKeyRevoked},
		{desc: "malformed", records: []string{"v=DKIM1; p=1; p=2"}, err: dkim.ErrMalformedKey},
		{desc: "v=DKIM1 without p=", records: []string{"v=DKIM1; k=rsa"}, err: dkim.ErrMalformedKey},
		{desc: "weak", records: []string{"p=" + rsa512SPKI}, err: dkim.ErrWeakKey, keyType: "rsa"},
		{desc: "timeout", resErr: errTimeout(name + "."), temporary: true},
		{desc: "SERVFAIL", resErr: errServfail(name + "."), temporary: true},
		{desc: "DNS error without flags", resErr: &net.DNSError{Err: "unexpected", Name: name}, temporary: true},
		{desc: "other resolver error", resErr: errors.New("connection refused"), temporary: true},
		{desc: "deadline", resErr: context.DeadlineExceeded, err: context.DeadlineExceeded, temporary: true},
	}
	for _, c := range cases {
		r := &fakeResolver{}
		if c.records != nil {
			r.txt = map[string][]string{name: c.records}
		}
		if c.resErr != nil {
			r.errs = map[string]error{name: c.resErr}
		}
		key, err := dkim.LookupKey(context.Background(), r, "sel", "example.com")

		wantErr := c.err != nil || c.temporary
		switch {
		case !wantErr && err != nil:
			t.Errorf("%s: got error %v, want none", c.desc, err)
		case wantErr && err == nil:
			t.Errorf("%s: got no error, want one", c.desc)
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%s: got error %v, want %v", c.desc, err, c.err)
		case c.resErr != nil && !errors.Is(err, c.resErr):
			t.Errorf("%s: error %v does not wrap the resolver's %v", c.desc, err, c.resErr)
		}
		if got := dkim.IsTemporary(err); got != c.temporary {
			t.Errorf("%s: IsTemporary(%v) = %v, want %v", c.desc, err, got, c.temporary)
		}
		if err != nil {
			var ke *dkim.KeyError
			if !errors.As(err, &ke) || ke.Name != name {
				t.Errorf("%s: error %v is not a *KeyError for %s", c.desc, err, name)
			}
			if !strings.HasPrefix(err.Error(), "dkim: "+name+": ") {
				t.Errorf("%s: error %q does not start with \"dkim: %s: \"", c.desc, err, name)
			}
		}
		switch {
		case c.keyType == "" && key != nil:
			t.Errorf("%s: got key %+v, want none", c.desc, key)
		case c.keyType != "" && (key == nil || key.KeyType != c.keyType):
			t.Errorf("%s: got key %+v, want a %s key", c.desc, key, c.keyType)
		}
		if q := r.Queries(); !slices.Equal(q, []string{name + "."}) {
			t.Errorf("%s: queried %q, want %q", c.desc, q, name+".")
		}
	}
}

// TestLookupKeyNotFound checks the messages of ErrNoKey, and that it keeps
// the resolver's *net.DNSError reachable.
func TestLookupKeyNotFound(t *testing.T) {
	_, err := dkim.LookupKey(context.Background(), &fakeResolver{}, "sel", "example.com")
	var dnsErr *net.DNSError
	if !errors.Is(err, dkim.ErrNoKey) || !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("got %v, want ErrNoKey wrapping a not-found *net.DNSError", err)
	}
	const want = "dkim: sel._domainkey.example.com: no key record: lookup sel._domainkey.example.com.: no such host"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	r := &fakeResolver{txt: map[string][]string{"sel._domainkey.example.com": {"v=DKIM1p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1BQDrXsj", "x"}}}
	_, err = dkim.LookupKey(context.Background(), r, "sel", "example.com")
	const wantIgnored = `dkim: sel._domainkey.example.com: no key record among 2 TXT records (first: "v=DKIM1p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8"...)`
	if !errors.Is(err, dkim.ErrNoKey) || err.Error() != wantIgnored {
		t.Errorf("got %v, want %s", err, wantIgnored)
	}
}

func TestLookupKeyNames(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	cases := []struct {
		selector, domain string
		query            string // expected query; "" when the names are invalid
	}{
		{"sel", "example.com", "sel._domainkey.example.com."},
		{"sel", "example.com.", "sel._domainkey.example.com."},
		{"SEL", "Example.COM", "sel._domainkey.example.com."},
		{"2024.sel-1", "mail.example.com", "2024.sel-1._domainkey.mail.example.com."},
		{"s_1", "example.com", "s_1._domainkey.example.com."},
		{"sel", "xn--bcher-kva.example", "sel._domainkey.xn--bcher-kva.example."},
		{"sel", "com", "sel._domainkey.com."},
		{long63, "example.com", long63 + "._domainkey.example.com."},

		{"", "example.com", ""},
		{"sel", "", ""},
		{"sel", ".", ""},
		{"a b", "example.com", ""},
		{"sel.", "example.com", ""},
		{".sel", "example.com", ""},
		{"sel", "example..com", ""},
		{"sel", "example.com..", ""},
		{"sel", "bücher.example", "sel._domainkey.xn--bcher-kva.example."},
		{"sel", "BÜCHER.Example.", "sel._domainkey.xn--bcher-kva.example."},
		{"sélecteur", "example.com", "xn--slecteur-b1a._domainkey.example.com."},
		{"sel", "a\u200db.example", ""},
		{"sel", "b\xffcher.example", ""},
		{"sel", "b\ufffdcher.example", ""},
		{"sel", "bü cher.example", ""},
		{"sel", "ü" + strings.Repeat("a", 1100), ""},
		{"sel", "exa\x00mple.com", ""},
		{"sel;p=", "example.com", ""},
		{"sel", "example.com/", ""},
		{long63 + "a", "example.com", ""},
		{"sel", strings.Repeat(long63+".", 4) + "com", ""},
	}
	for _, c := range cases {
		r := &fakeResolver{}
		_, err := dkim.LookupKey(context.Background(), r, c.selector, c.domain)
		q := r.Queries()
		if c.query == "" {
			var ke *dkim.KeyError
			if !errors.As(err, &ke) || ke.Err != nil || dkim.IsTemporary(err) || !strings.HasPrefix(err.Error(), "dkim: ") {
				t.Errorf("%q, %q: got %v, want a permanent *KeyError for invalid names", c.selector, c.domain, err)
			}
			if len(q) != 0 {
				t.Errorf("%q, %q: queried %q, want no query", c.selector, c.domain, q)
			}
			continue
		}
		if !slices.Equal(q, []string{c.query}) {
			t.Errorf("%q, %q: queried %q, want %q", c.selector, c.domain, q, c.query)
		}
	}
}

func TestLookupKeyContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &fakeResolver{txt: map[string][]string{"sel._domainkey.example.com": {"p=" + rsa2048SPKI}}}
	_, err := dkim.LookupKey(ctx, r, "sel", "example.com")
	if !errors.Is(err, context.Canceled) || !dkim.IsTemporary(err) {
		t.Errorf("got %v, want a temporary error wrapping context.Canceled", err)
	}
	if q := r.Queries(); len(q) != 0 {
		t.Errorf("queried %q after the context ended", q)
	}

	// A nil resolver means net.DefaultResolver; the ended context keeps
	// this test off the network.
	if _, err := dkim.LookupKey(ctx, nil, "sel", "example.com"); !errors.Is(err, context.Canceled) {
		t.Errorf("nil resolver: got %v, want context.Canceled", err)
	}
}

func TestLookupTXTFunc(t *testing.T) {
	const name = "sel._domainkey.example.com"
	r := &fakeResolver{
		txt: map[string][]string{name: {"p=x"}},
		errs: map[string]error{
			"timeout.example.com":  errTimeout("timeout.example.com"),
			"wrapped.example.com":  fmt.Errorf("upstream: %w", errServfail("wrapped.example.com")),
			"deadline.example.com": context.DeadlineExceeded,
			"other.example.com":    errors.New("connection refused"),
		},
	}
	lookup := dkim.LookupTXTFunc(context.Background(), r)
	got, err := lookup(name)
	if err != nil || !slices.Equal(got, []string{"p=x"}) {
		t.Errorf("%s: got %q, %v, want [\"p=x\"]", name, got, err)
	}
	if q := r.Queries(); !slices.Equal(q, []string{name}) {
		t.Errorf("queried %q, want the name unchanged", q)
	}

	cases := []struct {
		name                string
		temporary, notFound bool
	}{
		{"nxdomain.example.com", false, true},
		{"timeout.example.com", true, false},
		{"wrapped.example.com", true, false},
		{"deadline.example.com", true, false},
		{"other.example.com", true, false},
	}
	for _, c := range cases {
		_, err := lookup(c.name)
		// Verifiers such as go-msgauth assert the error itself to
		// net.Error; errors.As would hide what this test is about.
		netErr, ok := err.(net.Error)
		dnsErr, isDNS := err.(*net.DNSError)
		if !ok || !isDNS {
			t.Errorf("%s: got %v (%T), want a *net.DNSError", c.name, err, err)
			continue
		}
		if netErr.Temporary() != c.temporary || dnsErr.IsNotFound != c.notFound {
			t.Errorf("%s: got %v with Temporary %v, IsNotFound %v; want %v, %v",
				c.name, err, netErr.Temporary(), dnsErr.IsNotFound, c.temporary, c.notFound)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = dkim.LookupTXTFunc(ctx, r)(name)
	if netErr, ok := err.(net.Error); !ok || !netErr.Temporary() || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("cancelled: got %v, want a temporary *net.DNSError from the adapter's context", err)
	}
}

func TestIsTemporary(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{dkim.ErrNoKey, false},
		{dkim.ErrKeyRevoked, false},
		{dkim.ErrWeakKey, false},
		{dkim.ErrMalformedKey, false},
		{&dkim.KeyError{Reason: "x", Err: dkim.ErrNoKey}, false},
		{&dkim.KeyError{Reason: "invalid domain"}, false},
		{&dkim.CheckError{Reason: dkim.ReasonMismatch}, false},
		{errors.New("something"), false},
		{context.Canceled, true},
		{context.DeadlineExceeded, true},
		{errTimeout("x"), true},
		{errServfail("x"), true},
		{&net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{&net.DNSError{Err: "odd"}, true},
		{&net.OpError{Op: "read", Err: timeoutError{}}, true},
		{&dkim.KeyError{Reason: "lookup failed", Err: errServfail("x")}, true},
		{&dkim.CheckError{Reason: dkim.ReasonNoUsableKey, Err: &dkim.KeyError{Err: context.Canceled}}, true},
	}
	for _, c := range cases {
		if got := dkim.IsTemporary(c.err); got != c.want {
			t.Errorf("%v: got %v, want %v", c.err, got, c.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
