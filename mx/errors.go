package mx

import (
	"errors"
	"strings"

	"github.com/maildns/maildns/resolver"
)

// Errors that end a lookup without a Plan. Lookup returns them wrapped in
// an *Error; test with errors.Is. All of them are permanent except
// ErrLookupFailed: the mail should bounce.
var (
	// ErrNullMX: the domain publishes a null MX (a single "0 ." MX
	// record, RFC 7505): it accepts no mail at all.
	ErrNullMX = errors.New("mx: domain accepts no mail (null MX)")
	// ErrNoSuchDomain: the recipient domain does not exist (NXDOMAIN).
	ErrNoSuchDomain = errors.New("mx: no such domain")
	// ErrNoMailHost: the domain exists but no host to deliver to could be
	// found: its MX hosts do not exist, have no address or are address
	// literals, or it has neither MX records nor addresses of its own.
	ErrNoMailHost = errors.New("mx: no mail host with an address")
	// ErrBadDomain: the name is not a valid domain name (IDNA rules,
	// empty or over-long labels, an address literal). Nothing was sent.
	ErrBadDomain = errors.New("mx: invalid domain name")
	// ErrLookupFailed: a DNS lookup failed for a reason that may go away
	// (timeout, SERVFAIL, network error, cancelled context). It is the
	// only temporary error: defer the mail and try again later. The
	// resolver's error is wrapped too, so errors.Is(err,
	// resolver.ErrTimeout) and the like work.
	ErrLookupFailed = errors.New("mx: DNS lookup failed")
)

// Errors found in Host.Err, explaining why a host has no addresses.
// Like the errors above they are wrapped in an *Error (whose Domain is the
// host name); a Host.Err can also be ErrBadDomain or the temporary
// ErrLookupFailed.
var (
	// ErrHostNotFound: the MX host name does not exist (NXDOMAIN).
	ErrHostNotFound = errors.New("mx: mail host does not exist")
	// ErrNoAddress: the MX host name exists but has no address of the
	// families looked up (NODATA).
	ErrNoAddress = errors.New("mx: mail host has no address")
	// ErrAddressLiteral: the MX record names an IP address ("10
	// 192.0.2.5."), which is not a host name (RFC 1035 §3.3.9, RFC 5321
	// §5.1); like Postfix, mx does not deliver to it.
	ErrAddressLiteral = errors.New("mx: MX target is an IP address, not a host name")
)

// An Error reports why a domain (or, in Host.Err, one of its hosts) cannot
// be delivered to. It wraps one of the sentinel errors above and, when
// there is one, the underlying cause: the resolver's error, or the errors
// of the hosts that were tried.
//
// Errors are not modified after they are returned and may be shared
// between goroutines.
type Error struct {
	// Domain is the name the error is about, as a lower-case A-label FQDN
	// ("xn--bcher-kva.example."); for ErrBadDomain, the name as given.
	Domain string
	// Temporary reports whether the mail should be deferred and the
	// lookup tried again later (true only with ErrLookupFailed) rather
	// than bounced.
	Temporary bool
	// Err is one of the sentinel errors of this package.
	Err error
	// Cause is what led to Err, or nil: a resolver error, an IDNA error,
	// or the errors of the hosts (each an *Error) joined.
	Cause error
}

// Error returns "mx: <domain>: <reason>", on one line.
func (e *Error) Error() string { return "mx: " + e.Domain + ": " + e.reason() }

// reason is the message without the "mx: domain: " prefix, so that nested
// errors read as one sentence.
func (e *Error) reason() string {
	s := "unknown error"
	if e.Err != nil {
		s = strings.TrimPrefix(e.Err.Error(), "mx: ")
	}
	if e.Cause != nil {
		s += ": " + causeText(e.Cause)
	}
	return s
}

// Unwrap returns Err and Cause, so errors.Is and errors.As see both.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// SMTPCode returns the SMTP reply code (RFC 5321 §4.2, RFC 7504) an MTA
// should report for this error: 451 for a temporary failure, 556 for a
// null MX, 553 for an invalid name and 550 otherwise.
func (e *Error) SMTPCode() int {
	switch {
	case e.Temporary:
		return 451
	case errors.Is(e.Err, ErrNullMX):
		return 556
	case errors.Is(e.Err, ErrBadDomain):
		return 553
	}
	return 550
}

// EnhancedCode returns the enhanced status code (RFC 3463) an MTA should
// report for this error: "4.4.3" (directory server failure) for a
// temporary failure, "5.1.10" (recipient address has null MX, RFC 7505)
// for a null MX, "5.1.3" (bad destination address syntax) for an invalid
// name and "5.1.2" (bad destination system address) otherwise.
func (e *Error) EnhancedCode() string {
	switch {
	case e.Temporary:
		return "4.4.3"
	case errors.Is(e.Err, ErrNullMX):
		return "5.1.10"
	case errors.Is(e.Err, ErrBadDomain):
		return "5.1.3"
	}
	return "5.1.2"
}

// IsTemporary reports whether err means "defer the mail and try again
// later" rather than "bounce it". For an *Error it returns its Temporary
// field; for other errors (a resolver error, a context error) it returns
// resolver.IsTemporary(err). It is false for nil.
func IsTemporary(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary
	}
	return resolver.IsTemporary(err)
}

// hostErrors joins the errors of several hosts into one cause, printed on
// one line (errors.Join would use newlines).
type hostErrors []error

// Error joins the hosts' errors with "; ".
func (h hostErrors) Error() string {
	parts := make([]string, len(h))
	for i, err := range h {
		parts[i] = causeText(err)
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns the hosts' errors, for errors.Is and errors.As.
func (h hostErrors) Unwrap() []error { return h }

// causeText prints a nested error without repeating the "mx: " prefix.
func causeText(err error) string {
	var e *Error
	if errors.As(err, &e) && e == err {
		return e.Domain + ": " + e.reason()
	}
	return err.Error()
}
