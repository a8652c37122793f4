package resolver

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// The methods in this file have the signatures and semantics of the
// methods of the same names on *net.Resolver, so that a *Resolver can be
// passed to code written against the standard library (SPF and DKIM
// libraries, for instance). Their errors are *net.DNSError with IsNotFound
// (NXDOMAIN or NODATA), IsTimeout and IsTemporary set truthfully; the
// underlying *LookupError is reachable with errors.As / errors.Is. The
// slices they return are the caller's to keep and modify.

const errNoSuchHost = "no such host"

// LookupTXT returns the TXT records for name. Each record's strings are
// concatenated into one, as *net.Resolver does (an SPF or DKIM record
// split into 255-octet strings comes back whole), in raw octets. One
// difference: name may hold any octet in a label (RFC 2181 §11), where
// *net.Resolver wants a host name; SPF macros build such names.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	ans, err := r.lookupRecords(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range ans.Records {
		if t, ok := rr.(*dns.TXT); ok {
			var b strings.Builder
			for _, s := range t.Txt {
				b.WriteString(rawOctets(s))
			}
			out = append(out, b.String())
		}
	}
	return out, nil
}

// rawOctets turns a character-string as miekg/dns presents it (a quote
// and a backslash escaped by a backslash, every octet outside printable
// ASCII as \DDD) back into its octets, as *net.Resolver returns them: a
// tab in a DKIM key record is a tab, UTF-8 is UTF-8. It is the one place
// that undoes that form.
func rawOctets(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); v <= 255 {
				b = append(b, byte(v))
				i += 3
				continue
			}
		}
		i++
		b = append(b, s[i])
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// LookupMX returns the MX records for name sorted by preference, records
// of equal preference in random order. Hosts are FQDNs with the trailing
// dot; a null MX (RFC 7505) is returned as Host ".".
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if err := checkHost(name); err != nil {
		return nil, err
	}
	ans, err := r.lookupRecords(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var out []*net.MX
	var invalid error
	for _, rr := range ans.Records {
		if mx, ok := rr.(*dns.MX); ok {
			host := rawOctets(mx.Mx)
			if !isHostName(host) {
				// An address in place of a name is let through, as
				// *net.Resolver does.
				if ip, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err != nil || ip.Zone() != "" {
					invalid = &net.DNSError{Err: errInvalidNames, Name: name}
					continue
				}
			}
			out = append(out, &net.MX{Host: host, Pref: mx.Preference})
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	return out, invalid
}

// LookupAddr performs a reverse lookup for the address, returning the
// names (FQDNs with the trailing dot) of its PTR records.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	rev, err := dns.ReverseAddr(ip.Unmap().String())
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	ans, err := r.lookupRecords(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	var out []string
	var invalid error
	for _, rr := range ans.Records {
		if p, ok := rr.(*dns.PTR); ok {
			if host := rawOctets(p.Ptr); isHostName(host) {
				out = append(out, host)
			} else {
				invalid = &net.DNSError{Err: errInvalidNames, Name: addr}
			}
		}
	}
	return out, invalid
}

// LookupNetIP looks up host, returning its IPv4 and IPv6 addresses for
// network "ip", only IPv4 for "ip4", only IPv6 for "ip6". With "ip" the A
// and AAAA lookups run concurrently and the IPv4 addresses come first. An
// IP address literal is returned as it is.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	afnet, err := ipNetwork(network)
	if err != nil {
		return nil, err
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	switch afnet {
	case "ip4":
		types = types[:1]
	case "ip6":
		types = types[1:]
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if afnet == "ip4" && !ip.Unmap().Is4() || afnet == "ip6" && !ip.Is6() {
			return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
		}
		return []netip.Addr{ip}, nil
	}
	if err := checkHost(host); err != nil {
		return nil, err
	}
	type result struct {
		addrs []netip.Addr
		err   error
	}
	results := make([]result, len(types))
	lookup := func(i int) {
		ans, err := r.lookupRecords(ctx, host, types[i])
		if err != nil {
			results[i].err = err
			return
		}
		for _, rr := range ans.Records {
			var a netip.Addr
			switch rr := rr.(type) {
			case *dns.A:
				a, _ = netip.AddrFromSlice(rr.A.To4())
			case *dns.AAAA:
				a, _ = netip.AddrFromSlice(rr.AAAA.To16())
			default:
				continue
			}
			if a.IsValid() {
				results[i].addrs = append(results[i].addrs, a)
			}
		}
	}
	if len(types) == 2 {
		done := make(chan struct{})
		go func() { lookup(1); close(done) }()
		lookup(0)
		<-done
	} else {
		lookup(0)
	}
	var out []netip.Addr
	var firstErr error
	for _, res := range results {
		out = append(out, res.addrs...)
		firstErr = telling(firstErr, res.err)
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, firstErr
}

// telling returns the error of two lookups of one name (A and AAAA) that
// says more: a temporary failure says more than "not found", for the other
// family's records may exist. Either may be nil.
func telling(first, next error) error {
	if first == nil || next != nil && isNotFound(first) && !isNotFound(next) {
		return next
	}
	return first
}

// LookupIPAddr looks up host's IPv4 and IPv6 addresses.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []net.IPAddr{{IP: net.IP(ip.AsSlice()).To16(), Zone: ip.Zone()}}, nil
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(addrs))
	for i, a := range addrs {
		out[i] = net.IPAddr{IP: net.IP(a.AsSlice()), Zone: a.Zone()}
	}
	return out, nil
}

// LookupHost looks up host's addresses, as strings.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	if _, err := netip.ParseAddr(host); err == nil {
		return []string{host}, nil // as given, as *net.Resolver does
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out, nil
}

// lookupRecords is Lookup with net.Resolver's error conventions: no record
// of the type (NXDOMAIN or NODATA) is an IsNotFound error.
func (r *Resolver) lookupRecords(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	ans, err := r.Lookup(ctx, name, qtype)
	if err != nil {
		return nil, toDNSError(name, err)
	}
	if ans.NotFound() {
		// Server as *net.Resolver sets it: the upstream that said so.
		return nil, &net.DNSError{Err: errNoSuchHost, Name: name, Server: ans.Upstream, IsNotFound: true}
	}
	return ans, nil
}

// toDNSError wraps a Lookup error in the *net.DNSError a *net.Resolver
// would have returned.
func toDNSError(name string, err error) *net.DNSError {
	de := &net.DNSError{Err: err.Error(), Name: name, UnwrapErr: err}
	var le *LookupError
	if errors.As(err, &le) {
		de.Server = le.Upstream
	}
	switch {
	case errors.Is(err, ErrBadName):
		de.Err, de.IsNotFound = errNoSuchHost, true
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrRateLimited), errors.Is(err, context.DeadlineExceeded):
		de.Err, de.IsTimeout, de.IsTemporary = "i/o timeout", true, true
	case errors.Is(err, ErrServerFailure), errors.Is(err, ErrRefused), errors.Is(err, ErrFormat),
		errors.Is(err, ErrNotImplemented), errors.Is(err, ErrUnexpectedRcode), errors.Is(err, ErrMalformed):
		de.Err, de.IsTemporary = "server misbehaving", true
	default:
		de.IsTemporary = IsTemporary(err)
	}
	return de
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// LookupCNAME returns the canonical name of host: the name at the end of
// its CNAME chain, an FQDN with the trailing dot; host itself (as an FQDN)
// if it has no CNAME. As with *net.Resolver, the name must have addresses
// (A, else AAAA): a name without any is IsNotFound. One difference, RFC
// 1034 §3.6.2's: for a chain of several CNAMEs, *net.Resolver returns the
// first CNAME target in the answer (whichever the server put first), this
// the end of the chain.
func (r *Resolver) LookupCNAME(ctx context.Context, host string) (string, error) {
	if err := checkHost(host); err != nil {
		return "", err
	}
	var firstErr error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		ans, err := r.lookupRecords(ctx, host, qtype)
		if err != nil {
			firstErr = telling(firstErr, err)
			continue
		}
		for _, rr := range ans.Records {
			if rr.Header().Rrtype == qtype {
				if cname := rawOctets(rr.Header().Name); isHostName(cname) {
					return cname, nil
				}
				return "", &net.DNSError{Err: errInvalidNames, Name: host}
			}
		}
	}
	return "", firstErr
}

// LookupIP looks up host for network "ip", "ip4" or "ip6", as LookupNetIP
// does. IPv4 addresses from DNS are 4-byte slices; an address literal is
// returned in net.ParseIP's form.
func (r *Resolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	if _, err := ipNetwork(network); err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip != nil {
		if _, err := r.LookupNetIP(ctx, network, host); err != nil {
			return nil, err
		}
		return []net.IP{ip}, nil
	}
	addrs, err := r.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IP, len(addrs))
	for i, a := range addrs {
		out[i] = net.IP(a.AsSlice())
	}
	return out, nil
}

// LookupNS returns the NS records for name: hosts as FQDNs with the
// trailing dot.
func (r *Resolver) LookupNS(ctx context.Context, name string) ([]*net.NS, error) {
	if err := checkHost(name); err != nil {
		return nil, err
	}
	ans, err := r.lookupRecords(ctx, name, dns.TypeNS)
	if err != nil {
		return nil, err
	}
	var out []*net.NS
	var invalid error
	for _, rr := range ans.Records {
		if ns, ok := rr.(*dns.NS); ok {
			if host := rawOctets(ns.Ns); isHostName(host) {
				out = append(out, &net.NS{Host: host})
			} else {
				invalid = &net.DNSError{Err: errInvalidNames, Name: name}
			}
		}
	}
	return out, invalid
}

// LookupSRV looks up the SRV records of _service._proto.name (of name
// itself if service and proto are both empty), and returns the name they
// were found at (the end of any CNAME chain) and the records sorted by
// priority and, within a priority, shuffled by weight (RFC 2782), as
// *net.Resolver does.
func (r *Resolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	target := name
	if service != "" || proto != "" {
		target = "_" + service + "._" + proto + "." + name
	}
	if err := checkHost(target); err != nil {
		return "", nil, err
	}
	ans, err := r.lookupRecords(ctx, target, dns.TypeSRV)
	if err != nil {
		return "", nil, err
	}
	var cname string
	var out []*net.SRV
	var invalid error
	for _, rr := range ans.Records {
		if s, ok := rr.(*dns.SRV); ok {
			cname = rawOctets(s.Hdr.Name)
			if t := rawOctets(s.Target); isHostName(t) {
				out = append(out, &net.SRV{Target: t, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
			} else {
				invalid = &net.DNSError{Err: errInvalidNames, Name: name}
			}
		}
	}
	if cname != "" && !isHostName(cname) {
		return "", nil, &net.DNSError{Err: errInvalidNames, Name: name}
	}
	sortSRV(out)
	return cname, out, invalid
}

// sortSRV orders records by priority, and each priority's by weighted
// random choice (RFC 2782).
func sortSRV(addrs []*net.SRV) {
	slices.SortStableFunc(addrs, func(a, b *net.SRV) int { return int(a.Priority) - int(b.Priority) })
	for i := 0; i < len(addrs); {
		j := i + 1
		for j < len(addrs) && addrs[j].Priority == addrs[i].Priority {
			j++
		}
		group := addrs[i:j]
		for k := range group {
			total := 0
			for _, a := range group[k:] {
				total += int(a.Weight)
			}
			if total == 0 {
				break
			}
			n := rand.IntN(total)
			for m, a := range group[k:] {
				if n -= int(a.Weight); n < 0 {
					group[k], group[k+m] = group[k+m], group[k]
					break
				}
			}
		}
		i = j
	}
}

// LookupPort returns the port of service for network ("tcp", "udp", ...).
// It reads no DNS: it is *net.Resolver's, from the system's services
// database.
func (r *Resolver) LookupPort(ctx context.Context, network, service string) (int, error) {
	return net.DefaultResolver.LookupPort(ctx, network, service)
}

// isHostName reports whether s is a host name as *net.Resolver accepts
// one, in queries and in the names answers point to: LDH labels (and
// underscore labels, as in SRV names) of at most 63 octets, no label
// starting or ending with a hyphen, not all-numeric, at most 253 octets
// (254 with the trailing dot); the root is one.
func isHostName(s string) bool {
	if s == "." {
		return true
	}
	if n := len(s); n == 0 || n > 254 || n == 254 && s[n-1] != '.' {
		return false
	}
	last, label, letters := byte('.'), 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
			letters = true
			label++
		case '0' <= c && c <= '9':
			label++
		case c == '-':
			if last == '.' {
				return false
			}
			letters = true
			label++
		case c == '.':
			if last == '.' || last == '-' || label == 0 || label > 63 {
				return false
			}
			label = 0
		default:
			return false
		}
		last = s[i]
	}
	return last != '-' && label <= 63 && letters
}

// errInvalidNames is *net.Resolver's error detail for answers some of
// whose records name invalid hosts: those are left out, the rest returned
// with this error.
const errInvalidNames = "DNS response contained records which contain invalid names"

// checkHost returns the error *net.Resolver returns, without a query, for
// a name that is not a host name.
func checkHost(name string) error {
	if !isHostName(name) {
		return &net.DNSError{Err: errNoSuchHost, Name: name, IsNotFound: true, UnwrapErr: ErrBadName}
	}
	return nil
}

// ipNetwork returns the address family of network as *net.Resolver
// parses it ("ip4:icmp" is "ip4"), or an error.
func ipNetwork(network string) (string, error) {
	afnet, _, _ := strings.Cut(network, ":")
	switch afnet {
	case "ip", "ip4", "ip6":
		return afnet, nil
	}
	return "", net.UnknownNetworkError(network)
}
