package dkim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// TXTResolver looks up TXT records. It is intentionally compatible with
// *net.Resolver, and this module's resolver satisfies it too.
//
// LookupTXT must return the records at name, each with its
// character-strings concatenated, as *net.Resolver does. It should report
// failures as *net.DNSError, with IsNotFound set for NXDOMAIN and NODATA
// and IsTimeout or IsTemporary set for timeouts and SERVFAIL; any other
// error is treated as temporary. Implementations must be safe for
// simultaneous use by multiple goroutines if callers share them.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// LookupKey fetches and parses the DKIM key record of selector in domain,
// published at "<selector>._domainkey.<domain>".
//
// The query is for the absolute name (with a final dot), so search domains
// from resolv.conf never apply. selector and domain are host names
// (letters, digits, "-" and "_"); internationalised names may be given as
// U-labels, which are converted to A-labels with the IDNA lookup profile
// (golang.org/x/net/idna), or as A-labels ("xn--"). A trailing dot on domain
// is allowed, and case is ignored. Invalid names are rejected without a
// query.
//
// TXT records at the name that are not key records (those beginning with a
// v= other than DKIM1, and those with neither v=DKIM1 nor p=) are ignored.
// The remaining record is parsed with [ParseKey]; more than one is an
// error wrapping [ErrMalformedKey], since the choice would be arbitrary.
//
// Errors are *[KeyError] values: [ErrNoKey] when nothing is published
// (NXDOMAIN, NODATA, or no key record among the TXT records), the
// ParseKey errors, and temporary errors (see [IsTemporary]) when the
// lookup fails or ctx ends. As with ParseKey, a weak key is returned along
// with an error wrapping [ErrWeakKey].
//
// A nil r means net.DefaultResolver. LookupKey is safe for simultaneous
// use by multiple goroutines if r is.
func LookupKey(ctx context.Context, r TXTResolver, selector, domain string) (*Key, error) {
	name, nameErr := keyName(selector, domain)
	if nameErr != nil {
		return nil, nameErr
	}
	if r == nil {
		r = net.DefaultResolver
	}
	if err := ctx.Err(); err != nil {
		return nil, &KeyError{Name: name, Reason: "lookup not started", Err: err}
	}
	records, err := r.LookupTXT(ctx, name+".")
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, &KeyError{Name: name, Reason: "no key record", Err: ErrNoKey, dnsErr: err}
		}
		return nil, &KeyError{Name: name, Reason: "lookup failed", Err: err}
	}

	var record string
	n := 0
	for _, rec := range records {
		if isKeyRecord(rec) {
			record = rec
			n++
		}
	}
	switch {
	case n == 0 && len(records) == 0:
		return nil, &KeyError{Name: name, Reason: "no key record (no TXT records)", Err: ErrNoKey}
	case n == 0:
		return nil, &KeyError{
			Name:   name,
			Reason: fmt.Sprintf("no key record among %d TXT records (first: %s)", len(records), quoteShort(records[0])),
			Err:    ErrNoKey,
		}
	case n > 1:
		return nil, &KeyError{
			Name:   name,
			Reason: fmt.Sprintf("malformed key record: %d key records published, expected one", n),
			Err:    ErrMalformedKey,
		}
	}

	key, err := ParseKey(record)
	if err != nil {
		var ke *KeyError
		if errors.As(err, &ke) {
			ke.Name = name
		}
		return key, err
	}
	return key, nil
}

// LookupTXTFunc adapts r to the lookup hooks of DKIM libraries that take a
// plain function, such as go-msgauth's dkim.VerifyOptions.LookupTXT. With
// go-msgauth's dkim package imported under its own name and this one as
// maildkim:
//
//	opts := &dkim.VerifyOptions{LookupTXT: maildkim.LookupTXTFunc(ctx, r)}
//
// Every lookup made through the returned function uses ctx, so create one
// per message (or per batch) with the deadline the lookups should respect.
// Names are passed to r unchanged and records returned as r returns them.
//
// Errors are always returned as a bare *net.DNSError, because verifiers
// tell temporary from permanent failures by asserting the error to
// net.Error: a *net.DNSError wrapped by r is unwrapped, and any other error
// (a context error, for instance) becomes a *net.DNSError with IsTemporary
// set, so that it defers the message instead of failing its signatures.
// A nil r means net.DefaultResolver.
func LookupTXTFunc(ctx context.Context, r TXTResolver) func(domain string) ([]string, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	return func(domain string) ([]string, error) {
		records, err := r.LookupTXT(ctx, domain)
		if err != nil {
			return nil, asDNSError(err, domain)
		}
		return records, nil
	}
}

// asDNSError returns the *net.DNSError in err's chain, or a temporary
// *net.DNSError describing err.
func asDNSError(err error, name string) *net.DNSError {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr
	}
	return &net.DNSError{
		Err:         err.Error(),
		Name:        name,
		IsTimeout:   errors.Is(err, context.DeadlineExceeded),
		IsTemporary: true,
	}
}

// isKeyRecord reports whether a TXT record at a selector name is meant as a
// DKIM key record: it begins with v=DKIM1, or has no v= first tag and has a
// p= tag. It is deliberately lax (a key record with broken syntax is still
// a key record, to be reported by ParseKey), and reads tags the way
// parseTagList does.
func isKeyRecord(rec string) bool {
	first := true
	for spec := range strings.SplitSeq(rec, ";") {
		name, value, ok := strings.Cut(spec, "=")
		name = trimFWS(name)
		if !ok && name == "" {
			continue
		}
		if first {
			first = false
			if ok && name == "v" {
				return trimFWS(value) == "DKIM1"
			}
		}
		if ok && name == "p" {
			return true
		}
	}
	return false
}

// keyName validates selector and domain and returns
// "<selector>._domainkey.<domain>" in lower case, without the final dot.
// Names with non-ASCII characters are converted to A-labels first.
func keyName(selector, domain string) (string, *KeyError) {
	bad := func(what, name, why string) *KeyError {
		return &KeyError{
			Name:   selector + "._domainkey." + domain,
			Reason: fmt.Sprintf("invalid %s %s: %s", what, quoteShort(name), why),
		}
	}
	sel, why := toASCII(selector)
	if why == "" {
		why = checkName(sel)
	}
	if why != "" {
		return "", bad("selector", selector, why)
	}
	d, why := toASCII(strings.TrimSuffix(domain, "."))
	if why == "" {
		why = checkName(d)
	}
	if why != "" {
		return "", bad("domain", domain, why)
	}
	name := strings.ToLower(sel + "._domainkey." + d)
	if len(name) > 253 {
		return "", bad("domain", domain, fmt.Sprintf("%s is longer than 253 bytes", quoteShort(name)))
	}
	return name, nil
}

// toASCII converts a name with non-ASCII characters to A-labels with the
// IDNA lookup profile (RFC 5891 §5), as RFC 6376 §3.1 requires for
// selectors and domains, and returns ASCII names unchanged. On failure it
// returns why instead.
func toASCII(s string) (ascii, why string) {
	if len(s) > 1024 { // no valid name is that long, even in U-labels
		return "", "too long"
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			if !utf8.ValidString(s) {
				return "", "not valid UTF-8"
			}
			a, err := idna.Lookup.ToASCII(s)
			if err != nil {
				return "", "not a valid internationalised name"
			}
			return a, ""
		}
	}
	return s, ""
}

// checkName returns why s is not a dot-separated sequence of labels of 1 to
// 63 letters, digits, hyphens and underscores, or "" if it is. Underscores,
// which host names do not allow, are accepted because some published
// selectors use them.
func checkName(s string) string {
	if s == "" {
		return "empty"
	}
	for label := range strings.SplitSeq(s, ".") {
		switch {
		case label == "":
			return "empty label"
		case len(label) > 63:
			return "label longer than 63 bytes"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case isAlpha(c), isDigit(c), c == '-', c == '_':
			default:
				return fmt.Sprintf("character %q not allowed", c)
			}
		}
	}
	return ""
}
