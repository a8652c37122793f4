// Package spf evaluates Sender Policy Framework records (RFC 7208): it
// answers whether the domain of a mail sender authorizes the IP address
// that is sending the mail.
//
// A mail transfer agent calls Check (or Checker.Check, which also returns
// the explanation, the matched mechanism and a Received-SPF header field)
// while receiving a message: for the MAIL FROM identity, and for the HELO
// identity by passing an empty sender. A sending MTA can call it before
// delivery to verify that the domains it sends for authorize its own
// outbound addresses.
//
// Lookups go through the small Resolver interface, which *net.Resolver and
// the maildns resolver both satisfy.
//
// # Hostile records
//
// The records evaluated are published by whoever sends the mail, so the
// evaluation is bounded the way RFC 7208 §4.6.4 requires, whatever they
// say: at most 10 mechanisms and modifiers that query DNS (include, a, mx,
// ptr, exists, redirect), of which at most 2 may find nothing; at most 10
// MX names per mx and 10 PTR names per ptr; one explanation lookup. Include
// and redirect loops end at the lookup limit. A macro expansion reads and
// writes at most 64 KiB. The whole check is bounded in time by
// Checker.Timeout. With the default limits, the most DNS work one check
// can do is therefore 123 queries: the record, 10 terms of at most 11 queries (an mx and its
// hosts), the PTR lookup and its 10 validations, and the explanation.
//
// # Choices where the RFC leaves room
//
//   - Void lookups (§4.6.4) are counted for the query each a, mx, ptr and
//     exists term makes, not for the address lookups of MX hosts or PTR
//     names, which the MX and PTR limits bound, nor for the explanation.
//   - a and mx look up only the client's address family: A records for an
//     IPv4 client, AAAA for IPv6. IPv4-mapped IPv6 clients are IPv4.
//   - A name that cannot be queried after macro expansion (an empty label
//     or one over 63 octets) makes a, mx, ptr and exists not match, as if
//     it did not exist, and makes include and redirect PermError.
//   - More than 10 MX records is PermError before any address lookup. An
//     address lookup of an MX host that fails other than with "not found"
//     is TempError; for ptr, as §5.5 says, DNS errors mean no match.
//   - %{p} is computed at most once per check (one PTR lookup and at most
//     10 validations, shared with ptr), as it is outside the limits.
//   - %{i} writes IPv6 nibbles in lower case, as the examples of §7.4 do.
//   - The explanation is computed only for Fail; bytes of macro values
//     that are not printable ASCII are replaced by "?" in it.
//   - The values of unknown modifiers may use every macro letter of the
//     ABNF (§12); c, r and t are refused only in domain-specs.
package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Resolver is the DNS interface an SPF check needs. It is intentionally
// compatible with *net.Resolver, which satisfies it, as does the maildns
// resolver.Resolver.
//
// Errors are sorted the way *net.Resolver reports them: a *net.DNSError
// (found with errors.As) with IsNotFound set means the name or the record
// type does not exist (NXDOMAIN or NODATA); any other error, including a
// context error, is temporary and makes the result TempError.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Result is the outcome of an SPF check (RFC 7208 §2.6). The zero Result
// is not a valid outcome; every check returns one of the constants below.
type Result uint8

// The results of RFC 7208 §2.6, with the meanings given in §8.
const (
	// None: no syntactically valid domain could be checked, or the domain
	// publishes no SPF record.
	None Result = iota + 1
	// Neutral: the domain states nothing about the client, explicitly or
	// by default.
	Neutral
	// Pass: the client is authorized to use the domain.
	Pass
	// Fail: the client is explicitly not authorized to use the domain.
	Fail
	// SoftFail: the client is probably not authorized (a weak Fail).
	SoftFail
	// TempError: a transient DNS error; checking later may succeed.
	TempError
	// PermError: the domain's records could not be interpreted.
	PermError
)

var resultNames = [...]string{
	None:      "none",
	Neutral:   "neutral",
	Pass:      "pass",
	Fail:      "fail",
	SoftFail:  "softfail",
	TempError: "temperror",
	PermError: "permerror",
}

// String returns the RFC's lower-case name of r ("pass", "softfail", ...).
func (r Result) String() string {
	if int(r) < len(resultNames) && resultNames[r] != "" {
		return resultNames[r]
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// Errors returned with PermError (except ErrInvalidIP, returned with
// TempError). They are wrapped with detail; test with errors.Is.
var (
	// ErrTooManyLookups: more than Checker.MaxLookups (10) mechanisms and
	// modifiers that query DNS were evaluated (RFC 7208 §4.6.4). Include
	// and redirect loops end here.
	ErrTooManyLookups = errors.New("spf: too many DNS-querying terms")
	// ErrTooManyVoidLookups: more than Checker.MaxVoidLookups (2) lookups
	// got NXDOMAIN or an empty answer (§4.6.4), counting, as pyspf and
	// Mail::SPF do, the address lookups of an mx mechanism's hosts.
	ErrTooManyVoidLookups = errors.New("spf: too many void lookups")
	// ErrTooManyMX: an mx mechanism found more than Checker.MaxMXNames (10)
	// MX records (§4.6.4).
	ErrTooManyMX = errors.New("spf: too many MX records")
	// ErrMultipleRecords: a domain publishes more than one v=spf1 record
	// (§4.5).
	ErrMultipleRecords = errors.New("spf: more than one SPF record")
	// ErrNoRecord: an include or redirect target has no SPF record, or its
	// name is malformed (§5.2, §6.1).
	ErrNoRecord = errors.New("spf: no SPF record")
	// ErrExpansionTooLong: a macro expansion would exceed 64 KiB; only a
	// hostile record combined with huge inputs gets here.
	ErrExpansionTooLong = errors.New("spf: macro expansion too long")
	// ErrInvalidIP: the client address passed to the check is not valid.
	// This is the caller's bug, reported as TempError so that no mail is
	// refused while it is fixed.
	ErrInvalidIP = errors.New("spf: invalid client IP address")
)

// SyntaxError reports a record, or a macro-string in it, that does not
// follow the grammar of RFC 7208; the result is PermError. Test for it with
// errors.As.
type SyntaxError struct {
	Domain string // the domain whose record is at fault
	Term   string // the offending term, as written in the record
	Reason string // what is wrong with it
}

// Error describes the syntax error and where it is.
func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString("spf: syntax error")
	if e.Domain != "" {
		b.WriteString(" in the record of ")
		b.WriteString(strconv.Quote(e.Domain))
	}
	if e.Term != "" {
		b.WriteString(" at ")
		b.WriteString(quoteShort(e.Term))
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// LookupError records a DNS lookup that failed other than with "not found":
// a timeout, SERVFAIL, a network error or the end of the context. The
// result is TempError. Err is the resolver's error, usually a
// *net.DNSError, which errors.As finds through Unwrap.
type LookupError struct {
	Type string // "TXT", "A", "AAAA", "MX" or "PTR"
	Name string // the name queried (the address, for PTR)
	Err  error
}

// Error describes the failed lookup and its cause.
func (e *LookupError) Error() string {
	return "spf: " + e.Type + " lookup of " + strconv.Quote(e.Name) + ": " + e.Err.Error()
}

// Unwrap returns the resolver's error.
func (e *LookupError) Unwrap() error { return e.Err }

// Identities, for Verdict.Identity (the "identity" key of RFC 7208 §9.1).
const (
	IdentityMailFrom = "mailfrom"
	IdentityHELO     = "helo"
)

// The defaults of Checker: the limits of RFC 7208 §4.6.4, and the 20
// seconds it suggests as the least time limit for a whole check.
const (
	DefaultMaxLookups     = 10
	DefaultMaxVoidLookups = 2
	DefaultMaxMXNames     = 10
	DefaultMaxPTRNames    = 10
	DefaultTimeout        = 20 * time.Second

	// hardLimit caps every configured limit, so that no configuration can
	// make include recursion or DNS work unbounded.
	hardLimit = 100
)

// Checker evaluates SPF with explicit options. The zero value is usable: it
// queries net.DefaultResolver with the RFC's limits. A Checker is safe for
// simultaneous use by multiple goroutines as long as its fields are not
// changed.
type Checker struct {
	// Resolver answers the DNS queries. Nil means net.DefaultResolver.
	Resolver Resolver

	// Receiver is the domain name of the host performing the check: the
	// %{r} macro of explanations and the "receiver" of the Received-SPF
	// header. Empty means "unknown" in %{r} and no receiver in the header.
	Receiver string

	// Now gives the time for the %{t} macro. Nil means time.Now.
	Now func() time.Time

	// Timeout bounds the whole check, on top of any deadline ctx carries;
	// running out gives TempError. Zero means DefaultTimeout (20s, the
	// minimum RFC 7208 §4.6.4 suggests).
	Timeout time.Duration

	// MaxLookups is the number of DNS-querying mechanisms and modifiers
	// (include, a, mx, ptr, exists, redirect) allowed in one check. Zero
	// means DefaultMaxLookups (10), which the RFC requires; values above
	// 100 are treated as 100.
	MaxLookups int

	// MaxVoidLookups is the number of lookups that may get NXDOMAIN or an
	// empty answer: those of terms, and the address lookups of the hosts
	// an mx mechanism finds (an IPv6-only host is void for an IPv4
	// client). Zero means DefaultMaxVoidLookups (2); values above 100 are
	// treated as 100.
	MaxVoidLookups int

	// MaxMXNames is the number of MX records an mx mechanism may find;
	// more is PermError. Zero means DefaultMaxMXNames (10); values above
	// 100 are treated as 100.
	MaxMXNames int

	// MaxPTRNames is the number of PTR names a ptr mechanism or the %{p}
	// macro considers; the rest are ignored. Zero means
	// DefaultMaxPTRNames (10); values above 100 are treated as 100.
	MaxPTRNames int
}

// Verdict is the outcome of Checker.Check, with what is needed to explain
// it to people and to record it in a Received-SPF header field.
type Verdict struct {
	Result Result

	// Mechanism is the term that decided the result, as written in the
	// record that holds it (after any redirect), such as "-all" or
	// "include:_spf.example.com"; "default" when no mechanism matched and
	// the result is Neutral; empty for None, TempError and PermError.
	Mechanism string

	// Explanation is the domain's explanation (the exp= modifier, RFC 7208
	// §6.2), expanded. It is set only for Fail, and only when the record
	// has a usable exp=; otherwise it is empty and the caller may use its
	// own default text. It holds printable ASCII only.
	Explanation string

	// Err says why the result is TempError or PermError, and is nil for
	// every other result. Test it with errors.Is (ErrTooManyLookups, ...)
	// and errors.As (*SyntaxError, *LookupError, *net.DNSError).
	Err error

	// The inputs of the check.
	IP       netip.Addr // the client address, IPv4-mapped IPv6 unmapped
	Helo     string     // the HELO/EHLO name, as given
	Sender   string     // the MAIL FROM address, as given ("" for HELO)
	Identity string     // IdentityMailFrom or IdentityHELO
	Domain   string     // the domain whose policy was checked
	Receiver string     // Checker.Receiver
}

// Check evaluates the SPF policy for a message from the client at ip that
// said helo in HELO/EHLO and sender in MAIL FROM, with the default limits
// of RFC 7208. If sender is empty (a bounce), the HELO identity is checked
// instead, as "postmaster@" + helo (§2.3, §4.3).
//
// err is nil unless the result is TempError or PermError, and then says
// why; see Verdict.Err.
func Check(ctx context.Context, r Resolver, ip netip.Addr, helo, sender string) (Result, error) {
	c := Checker{Resolver: r}
	v := c.Check(ctx, ip, helo, sender)
	return v.Result, v.Err
}

// Check evaluates the SPF policy for a message from the client at ip that
// said helo in HELO/EHLO and sender in MAIL FROM: RFC 7208 check_host()
// for the domain of sender, or, when sender is empty, for the HELO
// identity ("postmaster@" + helo). A sender without "@" is taken as a
// domain, and one without a local part gets "postmaster" (§4.3).
//
// An internationalized domain (U-labels, from SMTPUTF8) is converted to
// A-labels first (RFC 8616 §4); a domain that is not a valid multi-label
// name gives None without any lookup.
func (c *Checker) Check(ctx context.Context, ip netip.Addr, helo, sender string) Verdict {
	v := Verdict{
		Helo:     helo,
		Sender:   sender,
		Identity: IdentityMailFrom,
		Receiver: c.Receiver,
	}
	local, domain := "postmaster", helo
	if sender == "" {
		v.Identity = IdentityHELO
	} else {
		local, domain = splitSender(sender)
	}
	domain = toASCII(strings.TrimSuffix(domain, "."))
	sender = local + "@" + domain
	v.Domain = domain

	if !ip.IsValid() {
		v.Result, v.Err = TempError, ErrInvalidIP
		return v
	}
	ip = ip.Unmap().WithZone("")
	v.IP = ip

	if !validDomain(domain) {
		v.Result = None
		return v
	}

	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	e := newEvaluation(c, ip, sender, local, domain, helo)
	o := e.checkHost(ctx, domain, true)
	v.Result, v.Mechanism, v.Explanation, v.Err = o.res, o.mech, o.exp, o.err
	return v
}

// splitSender splits a sender address at its last "@". A missing local
// part becomes "postmaster"; an address without "@" is all domain.
func splitSender(sender string) (local, domain string) {
	i := strings.LastIndexByte(sender, '@')
	if i < 0 {
		return "postmaster", sender
	}
	local, domain = sender[:i], sender[i+1:]
	if local == "" {
		local = "postmaster"
	}
	return local, domain
}

// limit returns v, or def when v is not positive, capped at hardLimit.
func limit(v, def int) int {
	if v <= 0 {
		return def
	}
	return min(v, hardLimit)
}

// errorResult is the result an evaluation error leads to: TempError for a
// failed lookup, PermError for everything else.
func errorResult(err error) Result {
	var le *LookupError
	if errors.As(err, &le) {
		return TempError
	}
	return PermError
}

// maxQuoted bounds how much of a record an error message repeats.
const maxQuoted = 64

// quoteShort quotes s for an error message, cut to maxQuoted bytes.
func quoteShort(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}

// wrapf wraps a sentinel with detail, keeping the sentinel's "spf: " prefix
// at the start of the message.
func wrapf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
