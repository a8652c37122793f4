// Package dkim fetches and validates DKIM public-key records, and lets a
// mail sender check at start-up that the key it publishes in DNS is the key
// it signs with.
//
// It implements the key-record side of DKIM: the tag-list syntax and the
// key record of RFC 6376 (§3.2 and §3.6.1), Ed25519 keys as defined by
// RFC 8463, and the key-size rules of RFC 8301. It does not sign or verify
// messages.
//
// Two kinds of callers use it:
//
//   - A sender runs [CheckSigner] for each (selector, domain, key) it is
//     configured with before it starts signing, and refuses to start (or
//     alerts) when the published record is missing, revoked, weak, in
//     testing mode, or holds a different key.
//   - A verifier (or a DKIM library such as go-msgauth) fetches keys with
//     [LookupKey], or plugs a [TXTResolver] into its own lookup hook with
//     [LookupTXTFunc].
//
// Lookups go through the small [TXTResolver] interface, which
// *net.Resolver and this module's resolver both satisfy.
//
// # Errors
//
// Every error returned by this package starts with "dkim: ". Lookup and
// parse failures are *[KeyError] values, check failures are *[CheckError]
// values; both wrap the sentinels [ErrNoKey], [ErrKeyRevoked],
// [ErrWeakKey] and [ErrMalformedKey] where those apply, so callers branch
// with errors.Is and read details with errors.As. [IsTemporary] answers the
// question a mail server has to ask of every failure: defer (retry later)
// or fail permanently.
package dkim

import (
	"context"
	"crypto"
	"errors"
	"net"
)

// Key is a parsed DKIM public-key record (RFC 6376 §3.6.1).
//
// A Key is a plain value owned by the caller: it shares no memory with the
// resolver's answer or with other Keys, and this package never modifies it
// after returning it, so it may be read from multiple goroutines.
type Key struct {
	// KeyType is the k= tag in lower case: "rsa" (the default when k= is
	// absent) or "ed25519".
	KeyType string

	// PublicKey is the p= key: *rsa.PublicKey for "rsa" and
	// ed25519.PublicKey for "ed25519".
	PublicKey crypto.PublicKey

	// Bits is the RSA modulus size in bits, or 256 for Ed25519.
	Bits int

	// HashAlgorithms is the h= list in lower case, as published (names
	// this package does not know are kept). It is nil when h= is absent,
	// which allows every hash algorithm.
	HashAlgorithms []string

	// Services is the s= list in lower case, as published. It is nil when
	// s= is absent, which means "*" (all services). A parsed key always
	// allows "email", directly or through "*".
	Services []string

	// Testing is true when t= contains "y": the domain is testing DKIM,
	// and verifiers must not treat signatures differently from unsigned
	// mail.
	Testing bool

	// Strict is true when t= contains "s": the domain of a signature's i=
	// tag must be its d= domain itself, not a subdomain of it.
	Strict bool

	// Notes is the n= tag as published (a quoted-printable section, not
	// decoded), or "" when absent.
	Notes string
}

// Sentinel errors. Errors returned by this package wrap at most one of
// them; test with errors.Is.
var (
	// ErrNoKey means that no key record is published: the name does not
	// exist (NXDOMAIN), has no TXT records (NODATA), or has TXT records of
	// which none is a DKIM key record. Permanent.
	ErrNoKey = errors.New("dkim: no key record")

	// ErrKeyRevoked means that the key record has an empty p= tag: the
	// domain has revoked the key. Permanent.
	ErrKeyRevoked = errors.New("dkim: key revoked")

	// ErrWeakKey means that the key is an RSA key of fewer than 1024 bits,
	// which RFC 8301 §3.2 forbids verifiers to accept. Permanent. When
	// ParseKey or LookupKey return it, they return the parsed Key too.
	ErrWeakKey = errors.New("dkim: weak key")

	// ErrMalformedKey means that the key record is invalid: bad tag-list
	// syntax, duplicate tags, a v= other than DKIM1 or not first, an
	// unknown k=, an s= without "email" or "*", an undecodable p=, an
	// oversized record or key, or more than one key record at the
	// selector (RFC 6376 §3.6.2.2 leaves that case undefined). Permanent.
	ErrMalformedKey = errors.New("dkim: malformed key record")
)

// KeyError reports why a key record could not be fetched, parsed or used.
// It is returned by [ParseKey] and [LookupKey], and never modified after
// that, so it may be read from multiple goroutines.
type KeyError struct {
	// Name is the queried name, "<selector>._domainkey.<domain>" without
	// the final dot. It is empty for errors from ParseKey.
	Name string

	// Reason says what is wrong, for people to read.
	Reason string

	// Err is the cause: one of ErrNoKey, ErrKeyRevoked, ErrWeakKey and
	// ErrMalformedKey, or, when the lookup itself failed, the resolver's
	// or the context's error. It is nil for invalid selectors and
	// domains, which are the caller's mistake.
	Err error

	// dnsErr is the resolver's answer behind ErrNoKey (a *net.DNSError
	// with IsNotFound set), kept so that errors.As still finds it.
	dnsErr error
}

// Error returns "dkim: <name>: <reason>", followed by the resolver's error
// when there is one.
func (e *KeyError) Error() string {
	if e.Name == "" {
		return "dkim: " + e.text()
	}
	return "dkim: " + e.Name + ": " + e.text()
}

// text is the message without the package prefix and the name.
func (e *KeyError) text() string {
	var cause error
	switch {
	case e.dnsErr != nil:
		cause = e.dnsErr
	case e.Err != nil && !isSentinel(e.Err):
		cause = e.Err
	}
	if cause == nil {
		return e.Reason
	}
	return e.Reason + ": " + cause.Error()
}

// Unwrap returns Err and, for ErrNoKey, the resolver's not-found error.
func (e *KeyError) Unwrap() []error {
	switch {
	case e.Err == nil:
		return nil
	case e.dnsErr == nil:
		return []error{e.Err}
	default:
		return []error{e.Err, e.dnsErr}
	}
}

// Temporary reports whether the lookup failed in a way that retrying later
// may cure: a timeout, SERVFAIL, a network or context error, or any other
// resolver failure that is not a definite "not found". Problems with the
// record itself, a missing record and invalid names are not temporary.
func (e *KeyError) Temporary() bool {
	if e.Err == nil || isSentinel(e.Err) {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(e.Err, &dnsErr) {
		return !dnsErr.IsNotFound
	}
	return true
}

// Reason classifies a failure of [CheckSigner]. It is a plain value,
// safe to share.
type Reason int

// Reasons for which CheckSigner rejects a selector.
const (
	// ReasonNoUsableKey: the key could not be fetched or is unusable
	// (missing, revoked, malformed, or the lookup failed); CheckError.Err
	// is the *KeyError from LookupKey.
	ReasonNoUsableKey Reason = iota + 1

	// ReasonMismatch: the published key is not the signer's public key
	// (or the signer holds no RSA or Ed25519 key).
	ReasonMismatch

	// ReasonWeakKey: the published key is an RSA key of fewer than 1024
	// bits; CheckError.Err wraps ErrWeakKey.
	ReasonWeakKey

	// ReasonHashExcluded: h= does not allow sha256, the only hash RFC 8301
	// and RFC 8463 let signers use.
	ReasonHashExcluded

	// ReasonTesting: t=y, so verifiers may ignore the signatures.
	ReasonTesting
)

// String returns a short description of r, as used in CheckError messages.
func (r Reason) String() string {
	switch r {
	case ReasonNoUsableKey:
		return "no usable key"
	case ReasonMismatch:
		return "published key does not match the signer"
	case ReasonWeakKey:
		return "weak key"
	case ReasonHashExcluded:
		return "h= excludes sha256"
	case ReasonTesting:
		return "key is in testing mode (t=y)"
	}
	return "unknown reason"
}

// CheckError reports why [CheckSigner] rejected a selector. It is never
// modified after it is returned, so it may be read from multiple
// goroutines.
type CheckError struct {
	// Name is the queried name, "<selector>._domainkey.<domain>" without
	// the final dot.
	Name string

	// Reason classifies the failure.
	Reason Reason

	// Detail adds specifics to Reason (for example the two key types of
	// a mismatch); it may be empty.
	Detail string

	// Err is the *KeyError from LookupKey for ReasonNoUsableKey and
	// ReasonWeakKey, and nil otherwise.
	Err error
}

// Error returns "dkim: <name>: <reason>", followed by the details.
func (e *CheckError) Error() string {
	s := "dkim: " + e.Name + ": " + e.Reason.String()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	var ke *KeyError
	switch {
	case errors.As(e.Err, &ke):
		s += ": " + ke.text()
	case e.Err != nil:
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *CheckError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is a failure that retrying later may
// cure, so that a mail server should defer (4xx) rather than fail (5xx).
//
// It is true for lookup failures other than "not found" (timeouts,
// SERVFAIL, network errors: a *net.DNSError without IsNotFound) and for
// context cancellation and deadlines. It is false for nil, for ErrNoKey,
// ErrKeyRevoked, ErrWeakKey and ErrMalformedKey, for invalid names and for
// check failures such as a key mismatch. Errors not produced by this
// package are judged by the same rules, and are otherwise not temporary.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		return ke.Temporary()
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return false
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return !dnsErr.IsNotFound
	}
	var timeout interface{ Timeout() bool }
	return errors.As(err, &timeout) && timeout.Timeout()
}

var sentinels = [...]error{ErrNoKey, ErrKeyRevoked, ErrWeakKey, ErrMalformedKey}

// isSentinel reports whether err is one of the package's sentinels itself
// (not merely wrapping one).
func isSentinel(err error) bool {
	for _, s := range sentinels {
		if err == s {
			return true
		}
	}
	return false
}
