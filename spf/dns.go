package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// The lookup helpers below query the resolver for an absolute name (so
// that no search list applies), and sort its error out: void is true for
// NXDOMAIN and for an empty answer (a "void lookup", RFC 7208 §4.6.4); any
// other failure is a *LookupError, which makes the result TempError. MX
// and PTR answers that come with an error are used: *net.Resolver returns
// the records with valid names along with an error for those it dropped.

func (e *evaluation) lookupTXT(ctx context.Context, name string) (txts []string, void bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, &LookupError{Type: "TXT", Name: name, Err: err}
	}
	txts, err = e.r.LookupTXT(ctx, name+".")
	if err != nil {
		return nil, isNotFound(err), lookupError("TXT", name, err)
	}
	return txts, len(txts) == 0, nil
}

func (e *evaluation) lookupMX(ctx context.Context, name string) (mxs []*net.MX, void bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, &LookupError{Type: "MX", Name: name, Err: err}
	}
	mxs, err = e.r.LookupMX(ctx, name+".")
	if err != nil && len(mxs) == 0 {
		return nil, isNotFound(err), lookupError("MX", name, err)
	}
	return mxs, len(mxs) == 0, nil
}

// lookupIP asks for the A (network "ip4") or AAAA ("ip6") records of name
// and returns those of that family, IPv4-mapped addresses unmapped.
func (e *evaluation) lookupIP(ctx context.Context, network, name string) (addrs []netip.Addr, void bool, err error) {
	qtype := "A"
	if network == "ip6" {
		qtype = "AAAA"
	}
	if err := ctx.Err(); err != nil {
		return nil, false, &LookupError{Type: qtype, Name: name, Err: err}
	}
	addrs, err = e.r.LookupNetIP(ctx, network, name+".")
	if err != nil {
		return nil, isNotFound(err), lookupError(qtype, name, err)
	}
	// A copy: the resolver's slice may be shared with its cache.
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() == (network == "ip4") {
			out = append(out, a)
		}
	}
	return out, len(out) == 0, nil
}

func (e *evaluation) lookupPTR(ctx context.Context, ip netip.Addr) (names []string, void bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, &LookupError{Type: "PTR", Name: ip.String(), Err: err}
	}
	names, err = e.r.LookupAddr(ctx, ip.String())
	if err != nil && len(names) == 0 {
		return nil, isNotFound(err), lookupError("PTR", ip.String(), err)
	}
	return names, len(names) == 0, nil
}

// isNotFound reports whether err means NXDOMAIN or NODATA: a *net.DNSError
// with IsNotFound, and neither IsTimeout nor IsTemporary.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound && !de.IsTimeout && !de.IsTemporary
}

// lookupError wraps a resolver error, or returns nil for "not found".
func lookupError(qtype, name string, err error) error {
	if isNotFound(err) {
		return nil
	}
	return &LookupError{Type: qtype, Name: name, Err: err}
}

// validDomain reports whether d (without a trailing dot) can be checked at
// all (§4.3): printable ASCII, at most 253 octets, at least two labels of
// 1 to 63 octets, the last one a toplabel. Anything else, such as a
// single label or an address literal, gives None.
// toASCII converts an internationalised domain (SMTPUTF8) to A-labels,
// as RFC 8616 §4 asks before check_host(). A name that is already ASCII,
// or that IDNA rejects, is returned as it is (validDomain then decides).
func toASCII(d string) string {
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			if a, err := idna.Lookup.ToASCII(d); err == nil {
				return a
			}
			return d
		}
	}
	return d
}

func validDomain(d string) bool {
	if !validName(d) || strings.IndexByte(d, '.') < 0 {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] <= ' ' || d[i] >= 0x7f {
			return false
		}
	}
	return isTopLabel(d[strings.LastIndexByte(d, '.')+1:])
}

// validName reports whether a name (without a trailing dot) can be put in
// a DNS query: 1 to 253 octets in labels of 1 to 63 octets.
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for name != "" {
		label := name
		if i := strings.IndexByte(name, '.'); i >= 0 {
			label, name = name[:i], name[i+1:]
			if name == "" {
				return false // empty label after the last dot
			}
		} else {
			name = ""
		}
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}

// queryName turns an expanded domain-spec into the name to query (§7.3):
// without its trailing dot, and, if longer than 253 octets, with labels
// removed from the left until it fits. ok is false when the result still
// cannot be queried (an empty or overlong label), which makes the
// mechanism not match, as if the name did not exist (§4.3, §4.8).
func queryName(expanded string) (name string, ok bool) {
	name = strings.TrimSuffix(expanded, ".")
	for len(name) > 253 {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return "", false
		}
		name = name[i+1:]
	}
	return name, validName(name)
}

// isSubdomain reports whether name equals domain or is a subdomain of
// it, ignoring case.
func isSubdomain(name, domain string) bool {
	if len(name) == len(domain) {
		return strings.EqualFold(name, domain)
	}
	return len(name) > len(domain) && name[len(name)-len(domain)-1] == '.' &&
		strings.EqualFold(name[len(name)-len(domain):], domain)
}
