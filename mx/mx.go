package mx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"

	"github.com/maildns/maildns/resolver"
)

// A Resolver answers DNS queries. *resolver.Resolver satisfies it; tests
// use an in-memory one.
//
// Lookup must return an Answer that reached a conclusion (records,
// NXDOMAIN or NODATA, see resolver.Answer) or an error; mx never modifies
// the Answer. Lookup is called from several goroutines at once.
type Resolver interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error)
}

// Defaults for the zero values of Lookuper fields.
const (
	// DefaultAddressLimit is the default Lookuper.AddressLimit, the value
	// of Postfix's smtp_mx_address_limit.
	DefaultAddressLimit = 5
	// DefaultMaxHosts is the default Lookuper.MaxHosts.
	DefaultMaxHosts = 10
)

// An AddressFamily says which address families a Plan contains and in
// which order a host's addresses are listed.
type AddressFamily int

const (
	// Interleave lists a host's IPv6 and IPv4 addresses alternately,
	// IPv6 first (RFC 8305 §4). It is the default: IPv6 is tried first,
	// yet a dual-stack host whose IPv6 path is broken still has IPv4
	// addresses within the address limit (the problem Postfix's
	// smtp_balance_inet_protocols solves).
	Interleave AddressFamily = iota
	// PreferIPv6 lists all of a host's IPv6 addresses, then its IPv4 ones.
	PreferIPv6
	// PreferIPv4 lists all of a host's IPv4 addresses, then its IPv6 ones.
	PreferIPv4
	// IPv4Only looks up and lists IPv4 addresses only (A queries only).
	IPv4Only
	// IPv6Only looks up and lists IPv6 addresses only (AAAA queries only).
	IPv6Only
)

var familyNames = [...]string{"interleave", "prefer-ipv6", "prefer-ipv4", "ipv4-only", "ipv6-only"}

// String returns the family's name, such as "prefer-ipv6".
func (f AddressFamily) String() string {
	if f < 0 || int(f) >= len(familyNames) {
		return fmt.Sprintf("AddressFamily(%d)", int(f))
	}
	return familyNames[f]
}

// A Plan is where to deliver mail for one domain: the hosts to try, in
// order, each with the addresses to connect to, in order.
//
// A Plan belongs to the caller, who may modify it.
type Plan struct {
	// Domain is the recipient domain as a lower-case A-label FQDN
	// ("xn--bcher-kva.example." for "bücher.example").
	Domain string
	// Implicit reports that the domain has no MX records and the plan is
	// its implicit MX: the domain itself at preference 0 (RFC 5321 §5.1).
	Implicit bool
	// Stale reports that at least one answer used was an expired one that
	// the resolver served because the upstreams failed (RFC 8767). The
	// plan is usable, but may be out of date.
	Stale bool
	// Authenticated reports that the MX answer (for an implicit MX, its
	// NODATA) was DNSSEC-validated (resolver.Answer.Authenticated). DANE
	// applies to the domain only if it was (RFC 7672 §2.2.1).
	Authenticated bool
	// Hosts are the hosts in delivery order: by preference, hosts of
	// equal preference shuffled. At least one has addresses. Hosts
	// without addresses (Err set) are kept so that they can be logged;
	// skip them when delivering.
	Hosts []Host
}

// A Host is one mail exchanger of a Plan.
type Host struct {
	// Name is the host name as a lower-case FQDN; for an implicit MX, the
	// domain itself.
	Name string
	// Preference is the MX preference (lower is tried first); 0 for an
	// implicit MX.
	Preference uint16
	// Addrs are the addresses to connect to, in order (see
	// AddressFamily). An address listed for an earlier host is not
	// listed again.
	Addrs []netip.Addr
	// Authenticated reports that every address answer used for the host
	// was DNSSEC-validated. DANE applies to the host only if it was (RFC
	// 7672 §2.2.2).
	Authenticated bool
	// Canonical is the name at the end of the CNAME chain of the host's
	// address answers (Name if there is none): the first TLSA base domain
	// to try (RFC 7672 §2.2.3).
	Canonical string
	// Err says why the host has no addresses, and is nil when it has
	// some (a host with addresses of one family is planned even if the
	// lookup of the other failed). It is an *Error wrapping ErrHostNotFound, ErrNoAddress,
	// ErrAddressLiteral, ErrBadDomain or (temporary) ErrLookupFailed.
	Err error
}

// A Lookuper builds delivery Plans. The zero value is ready to use with
// the defaults documented on each field; set fields before the first
// Lookup and do not change them afterwards.
//
// A Lookuper is safe for simultaneous use by multiple goroutines, and must
// not be copied after first use.
type Lookuper struct {
	// AddressLimit is the most addresses in a Plan, counted over all its
	// hosts in delivery order; hosts after the one that reaches it are
	// left out. Zero means DefaultAddressLimit (5, as Postfix's
	// smtp_mx_address_limit); negative means no limit.
	AddressLimit int

	// MaxHosts is the most MX hosts considered, after sorting and
	// shuffling; the others are not looked up. Zero means
	// DefaultMaxHosts (10); negative means no limit.
	MaxHosts int

	// Family selects the address families and their order. The zero
	// value is Interleave: IPv6 and IPv4 alternated, IPv6 first. An
	// unknown value behaves as Interleave.
	Family AddressFamily

	// Rand shuffles the hosts of equal preference. Nil means the
	// math/rand/v2 global source. Set a seeded one for reproducible
	// plans in tests; the Lookuper locks mu around its use, so it may be
	// shared by goroutines calling Lookup.
	Rand *rand.Rand

	mu sync.Mutex // guards Rand
}

// defaultLookuper is the zero Lookuper used by the package-level Lookup.
var defaultLookuper Lookuper

// Lookup returns the delivery Plan for domain using the zero Lookuper
// (the defaults). See Lookuper.Lookup.
func Lookup(ctx context.Context, r Resolver, domain string) (*Plan, error) {
	return defaultLookuper.Lookup(ctx, r, domain)
}

// Lookup returns the delivery Plan for domain, a recipient domain given as
// an A-label or U-label name with or without the final dot.
//
// It looks up the domain's MX records, orders them (RFC 5321 §5.1) and
// looks up the addresses of every distinct host concurrently: one MX
// query, then one A and one AAAA query per host (fewer with IPv4Only or
// IPv6Only), nothing more. If the domain has no MX records, the domain
// itself is the host (implicit MX).
//
// On success err is nil and at least one host of the Plan has addresses.
// Otherwise the Plan is nil and err is an *Error: IsTemporary(err) says
// whether to defer (ErrLookupFailed) or to bounce (ErrNullMX,
// ErrNoSuchDomain, ErrNoMailHost, ErrBadDomain), and its SMTPCode and
// EnhancedCode the status to report.
func (l *Lookuper) Lookup(ctx context.Context, r Resolver, domain string) (*Plan, error) {
	name, err := normalize(domain)
	if err != nil {
		return nil, &Error{Domain: domain, Err: ErrBadDomain, Cause: err}
	}
	ans, err := r.Lookup(ctx, name, dns.TypeMX)
	if err := answerError(ans, err); err != nil {
		return nil, lookupError(name, err)
	}
	if ans.NXDomain() {
		return nil, &Error{Domain: name, Err: ErrNoSuchDomain}
	}
	plan := &Plan{Domain: name, Stale: ans.Stale, Authenticated: ans.Authenticated}
	if ans.NoData() {
		plan.Implicit = true
		plan.Hosts = []Host{{Name: name}}
	} else {
		var mxs []*dns.MX
		for _, rr := range ans.Records {
			if mx, ok := rr.(*dns.MX); ok {
				mxs = append(mxs, mx)
			}
		}
		if len(mxs) == 1 && mxs[0].Preference == 0 && mxs[0].Mx == "." {
			return nil, &Error{Domain: name, Err: ErrNullMX}
		}
		plan.Hosts = l.order(mxs)
	}
	if l.resolve(ctx, r, plan.Hosts) {
		plan.Stale = true
	}
	if err := result(plan); err != nil {
		return nil, err
	}
	l.limit(plan)
	return plan, nil
}

// order turns MX records into hosts in delivery order: sorted by
// preference, hosts of equal preference shuffled, "." targets and
// duplicate names dropped, at most MaxHosts. Address-literal and invalid
// targets are kept with Err set, so that they are reported.
func (l *Lookuper) order(mxs []*dns.MX) []Host {
	hosts := make([]Host, 0, len(mxs))
	for _, mx := range mxs {
		name := strings.ToLower(dns.Fqdn(mx.Mx))
		if name == "." {
			// Only a lone "0 ." is a null MX (RFC 7505 §3); among other
			// records a "." names no host and is ignored.
			continue
		}
		hosts = append(hosts, Host{Name: name, Preference: mx.Preference})
	}
	// Sorting by name too makes the order before shuffling independent
	// of the order of the records in the answer, so a seeded Rand gives
	// reproducible plans.
	slices.SortFunc(hosts, func(a, b Host) int {
		return cmp.Or(cmp.Compare(a.Preference, b.Preference), strings.Compare(a.Name, b.Name))
	})
	// The same name twice: keep the first, of lowest preference.
	seen := make(map[string]bool, len(hosts))
	hosts = slices.DeleteFunc(hosts, func(h Host) bool {
		dup := seen[h.Name]
		seen[h.Name] = true
		return dup
	})
	for i := 0; i < len(hosts); {
		j := i + 1
		for j < len(hosts) && hosts[j].Preference == hosts[i].Preference {
			j++
		}
		l.shuffle(hosts[i:j])
		i = j
	}
	if n := cmp.Or(l.MaxHosts, DefaultMaxHosts); n > 0 && len(hosts) > n {
		hosts = hosts[:n]
	}
	for i := range hosts {
		h := &hosts[i]
		if _, err := netip.ParseAddr(strings.TrimSuffix(h.Name, ".")); err == nil {
			h.Err = &Error{Domain: h.Name, Err: ErrAddressLiteral}
		} else if _, ok := dns.IsDomainName(h.Name); !ok {
			h.Err = &Error{Domain: h.Name, Err: ErrBadDomain}
		}
	}
	return hosts
}

func (l *Lookuper) shuffle(hosts []Host) {
	if len(hosts) < 2 {
		return
	}
	swap := func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] }
	if l.Rand == nil {
		rand.Shuffle(len(hosts), swap)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Rand.Shuffle(len(hosts), swap)
}

// qtypes returns the address queries to make, in the order they are
// listed by PreferIPv6, PreferIPv4 and Interleave.
func (l *Lookuper) qtypes() []uint16 {
	switch l.Family {
	case IPv4Only:
		return []uint16{dns.TypeA}
	case IPv6Only:
		return []uint16{dns.TypeAAAA}
	case PreferIPv4:
		return []uint16{dns.TypeA, dns.TypeAAAA}
	}
	return []uint16{dns.TypeAAAA, dns.TypeA}
}

// resolve looks up the addresses of every host that has no Err yet,
// all queries concurrently, and sets its Addrs or Err. It reports whether
// a stale answer was used.
func (l *Lookuper) resolve(ctx context.Context, r Resolver, hosts []Host) (stale bool) {
	type query struct {
		host  int
		qtype uint16
		ans   *resolver.Answer
		err   error
	}
	qtypes := l.qtypes()
	var queries []query
	for i, h := range hosts {
		if h.Err != nil {
			continue
		}
		for _, qt := range qtypes {
			queries = append(queries, query{host: i, qtype: qt})
		}
	}
	var wg sync.WaitGroup
	for i := range queries {
		q := &queries[i]
		wg.Go(func() {
			q.ans, q.err = r.Lookup(ctx, hosts[q.host].Name, q.qtype)
		})
	}
	wg.Wait()

	// Fold the answers per host: queries are grouped by host, in qtypes
	// order.
	for start := 0; start < len(queries); start += len(qtypes) {
		h := &hosts[queries[start].host]
		var (
			families [][]netip.Addr // one list per qtype
			nxdomain bool
			failed   error // the first failure
			secure   = true
		)
		h.Canonical = h.Name
		for _, q := range queries[start : start+len(qtypes)] {
			if err := answerError(q.ans, q.err); err != nil {
				failed = cmp.Or(failed, err)
				continue
			}
			stale = stale || q.ans.Stale
			nxdomain = nxdomain || q.ans.NXDomain()
			secure = secure && q.ans.Authenticated
			families = append(families, addrs(q.ans))
			for _, rr := range q.ans.Records {
				if rr.Header().Rrtype == q.qtype {
					h.Canonical = strings.ToLower(rr.Header().Name)
				}
			}
		}
		h.Authenticated = secure && len(families) > 0
		switch {
		case slices.ContainsFunc(families, func(a []netip.Addr) bool { return len(a) > 0 }):
			// Addresses of one family are enough, even if the other
			// query failed.
			h.Addrs = l.arrange(families)
		case nxdomain:
			// NXDOMAIN holds for every type: the host does not exist,
			// whatever happened to the other query.
			h.Err = &Error{Domain: h.Name, Err: ErrHostNotFound}
		case failed != nil:
			h.Err = lookupError(h.Name, failed)
		default:
			h.Err = &Error{Domain: h.Name, Err: ErrNoAddress}
		}
	}
	return stale
}

// arrange orders a host's addresses, given one list per query in qtypes
// order.
func (l *Lookuper) arrange(families [][]netip.Addr) []netip.Addr {
	var out []netip.Addr
	if l.Family == PreferIPv6 || l.Family == PreferIPv4 || len(families) == 1 {
		for _, f := range families {
			out = append(out, f...)
		}
		return out
	}
	// Interleave: families[0] is IPv6, families[1] IPv4.
	for i := 0; i < len(families[0]) || i < len(families[1]); i++ {
		for _, f := range families {
			if i < len(f) {
				out = append(out, f[i])
			}
		}
	}
	return out
}

// addrs returns the addresses of the answer's type, whatever their owner
// (the end of a CNAME chain), without duplicates.
func addrs(ans *resolver.Answer) []netip.Addr {
	var out []netip.Addr
	for _, rr := range ans.Records {
		var a netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			if ans.Type != dns.TypeA {
				continue
			}
			a, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			if ans.Type != dns.TypeAAAA {
				continue
			}
			a, _ = netip.AddrFromSlice(rr.AAAA.To16())
		default:
			continue
		}
		if a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// result returns the error for a plan whose hosts have all been looked
// up, or nil if one of them has addresses.
func result(plan *Plan) error {
	var errs hostErrors
	temporary := false
	for _, h := range plan.Hosts {
		if len(h.Addrs) > 0 {
			return nil
		}
		errs = append(errs, h.Err)
		temporary = temporary || IsTemporary(h.Err)
	}
	switch {
	case temporary:
		return &Error{Domain: plan.Domain, Temporary: true, Err: ErrLookupFailed, Cause: errs}
	case plan.Implicit && errors.Is(errs[0], ErrHostNotFound):
		// The domain had NODATA for MX, then NXDOMAIN for its addresses:
		// it was removed in between.
		return &Error{Domain: plan.Domain, Err: ErrNoSuchDomain}
	case len(errs) == 0:
		return &Error{Domain: plan.Domain, Err: ErrNoMailHost}
	}
	return &Error{Domain: plan.Domain, Err: ErrNoMailHost, Cause: errs}
}

// limit applies AddressLimit and removes addresses already listed for an
// earlier host; hosts left with no address and no error are dropped.
func (l *Lookuper) limit(plan *Plan) {
	left := cmp.Or(l.AddressLimit, DefaultAddressLimit)
	seen := make(map[netip.Addr]bool)
	hosts := plan.Hosts[:0]
	for _, h := range plan.Hosts {
		if left == 0 {
			break
		}
		if h.Err != nil {
			hosts = append(hosts, h)
			continue
		}
		var kept []netip.Addr
		for _, a := range h.Addrs {
			if !seen[a] && left != 0 {
				seen[a] = true
				kept = append(kept, a)
				left--
			}
		}
		if len(kept) > 0 {
			h.Addrs = kept
			hosts = append(hosts, h)
		}
	}
	clear(plan.Hosts[len(hosts):])
	plan.Hosts = hosts
}

// answerError returns err, or an error if ans is not an answer mx can use.
func answerError(ans *resolver.Answer, err error) error {
	switch {
	case err != nil:
		return err
	case ans == nil:
		return errors.New("resolver returned no answer and no error")
	case ans.Rcode != dns.RcodeSuccess && ans.Rcode != dns.RcodeNameError:
		return fmt.Errorf("unexpected rcode %s in answer", dns.RcodeToString[ans.Rcode])
	}
	return nil
}

// lookupError classifies a failed lookup of name. Only an invalid name is
// permanent; everything else, including errors mx does not recognise, is
// worth a retry: deferring a mail by mistake costs a delay, bouncing it by
// mistake loses it.
func lookupError(name string, err error) *Error {
	if errors.Is(err, resolver.ErrBadName) {
		return &Error{Domain: name, Err: ErrBadDomain, Cause: err}
	}
	return &Error{Domain: name, Temporary: true, Err: ErrLookupFailed, Cause: err}
}

// normalize turns a recipient domain into a lower-case A-label FQDN, or
// says why it is not a valid domain name.
func normalize(domain string) (string, error) {
	bare := strings.TrimSuffix(domain, ".")
	if bare == "" {
		return "", errors.New("empty name")
	}
	if _, err := netip.ParseAddr(bare); err == nil || strings.HasPrefix(bare, "[") {
		return "", errors.New("address literal, not a domain name")
	}
	a, err := idna.Lookup.ToASCII(bare)
	if err != nil {
		return "", err
	}
	a = strings.ToLower(a)
	if len(a) > 253 {
		return "", errors.New("name longer than 253 octets")
	}
	for label := range strings.SplitSeq(a, ".") {
		if label == "" {
			return "", errors.New("empty label")
		}
		if len(label) > 63 {
			return "", fmt.Errorf("label %q longer than 63 octets", label)
		}
	}
	return a + ".", nil
}
