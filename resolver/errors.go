package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// Sentinel errors, wrapped by every *LookupError; test with errors.Is.
//
// All of them except ErrBadName are temporary: the mail should be deferred
// and the lookup tried again later. ErrBadName is permanent: the name can
// never resolve, so the mail should bounce.
var (
	// ErrTimeout: no upstream answered within Config.Timeout on any
	// attempt, or the caller's deadline passed while queries were out.
	ErrTimeout = errors.New("resolver: timeout")
	// ErrServerFailure: the upstream answered SERVFAIL (RFC 1035), or a
	// SERVFAIL was remembered for Config.FailureTTL (RFC 9520).
	ErrServerFailure = errors.New("resolver: server failure")
	// ErrRefused: the upstream answered REFUSED (it will not recurse for us).
	ErrRefused = errors.New("resolver: query refused")
	// ErrFormat: the upstream answered FORMERR (it could not parse the query).
	ErrFormat = errors.New("resolver: upstream reports format error")
	// ErrNotImplemented: the upstream answered NOTIMP.
	ErrNotImplemented = errors.New("resolver: query type not implemented by upstream")
	// ErrUnexpectedRcode: the upstream answered an rcode with no meaning
	// for a query (YXDOMAIN, NOTAUTH, ...).
	ErrUnexpectedRcode = errors.New("resolver: unexpected rcode")
	// ErrMalformed: the reply could not be parsed, or was too large.
	ErrMalformed = errors.New("resolver: malformed reply")
	// ErrRateLimited: no query was sent in time because of pacing: the
	// caller's deadline passed while the shared resolution still waited
	// for a token, or the token would come after the resolution's own
	// time (2·Config.Timeout). Never remembered as a failure.
	ErrRateLimited = errors.New("resolver: upstream rate limit reached before deadline")
	// ErrNetwork: a socket error (connection refused, unreachable, ...).
	ErrNetwork = errors.New("resolver: network error")
	// ErrClosed: the Resolver has been closed.
	ErrClosed = errors.New("resolver: resolver closed")
	// ErrBadName: the name is not a valid domain name (too long, empty
	// label, label over 63 octets, a character outside printable ASCII:
	// convert IDNs to A-labels first), or the query type is 0; nothing
	// was sent. Permanent.
	ErrBadName = errors.New("resolver: invalid domain name")
)

// LookupError describes why a lookup produced no answer. It wraps one of
// the sentinel errors above (and, for ErrNetwork, the socket error).
type LookupError struct {
	Name     string // the queried name, as a lower-case FQDN
	Type     uint16 // the query type
	Upstream string // the last upstream tried, "" if none was
	Err      error  // a sentinel error, possibly joined with a cause
}

// Error returns "resolver: lookup <name> <type> via <upstream>: <reason>".
func (e *LookupError) Error() string {
	s := "resolver: lookup " + e.Name + " " + dns.TypeToString[e.Type]
	if e.Upstream != "" {
		s += " via " + e.Upstream
	}
	msg := e.Err.Error()
	if len(msg) > 10 && msg[:10] == "resolver: " {
		msg = msg[10:]
	}
	return s + ": " + msg
}

// Unwrap returns the underlying error.
func (e *LookupError) Unwrap() error { return e.Err }

// Timeout reports whether the lookup failed because no answer came in time.
func (e *LookupError) Timeout() bool {
	return errors.Is(e.Err, ErrTimeout) || errors.Is(e.Err, context.DeadlineExceeded)
}

// Temporary reports whether trying again later may succeed: true for every
// failure except ErrBadName.
func (e *LookupError) Temporary() bool { return !errors.Is(e.Err, ErrBadName) }

// IsTemporary reports whether err is a DNS failure worth deferring for:
// a temporary *LookupError, a *net.DNSError with IsTemporary or IsTimeout,
// or a context deadline or cancellation. It is false for nil, for
// ErrBadName and for errors it does not recognise.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var le *LookupError
	if errors.As(err, &le) {
		return le.Temporary()
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// replyError is the error of a reply that is not an answer: its rcode's,
// joined with the Extended DNS Error the upstream sent, if any.
func replyError(msg *dns.Msg) error {
	err := rcodeError(msg.Rcode)
	if opt := msg.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ede, ok := o.(*dns.EDNS0_EDE); ok {
				return fmt.Errorf("%w: %w", err, &ExtendedError{Code: ede.InfoCode, Text: ede.ExtraText})
			}
		}
	}
	return err
}

// An ExtendedError is the Extended DNS Error (RFC 8914) an upstream sent
// with a failure: why it failed. errors.As finds it in a *LookupError.
// With a validating upstream, a SERVFAIL whose code is a DNSSEC one
// (DNSSEC reports it) is a bogus answer: the records exist but their
// signatures do not hold. A bogus answer is a temporary failure: defer,
// never treat it as insecure.
type ExtendedError struct {
	Code uint16 // INFO-CODE
	Text string // EXTRA-TEXT, as the upstream sent it
}

func (e *ExtendedError) Error() string {
	s := fmt.Sprintf("extended DNS error %d", e.Code)
	if name, ok := dns.ExtendedErrorCodeToString[e.Code]; ok {
		s += " (" + name + ")"
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// DNSSEC reports whether the code says DNSSEC validation failed or could
// not be done (RFC 8914 §4: codes 1, 2 and 5 to 12).
func (e *ExtendedError) DNSSEC() bool {
	switch e.Code {
	case 1, 2, 5, 6, 7, 8, 9, 10, 11, 12:
		return true
	}
	return false
}

// rcodeError maps a failure rcode to its sentinel.
func rcodeError(rcode int) error {
	switch rcode {
	case dns.RcodeServerFailure:
		return ErrServerFailure
	case dns.RcodeRefused:
		return ErrRefused
	case dns.RcodeFormatError:
		return ErrFormat
	case dns.RcodeNotImplemented:
		return ErrNotImplemented
	}
	return ErrUnexpectedRcode
}
