package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"
)

// evaluation is the state of one check: the inputs, the counters of RFC
// 7208 §4.6.4 shared by every record an include or redirect reaches, and
// the reverse-DNS answers shared by ptr and %{p}. It is used by one
// goroutine.
type evaluation struct {
	r        Resolver
	receiver string
	now      func() time.Time

	maxLookups, maxVoids, maxMX, maxPTR int

	ip      netip.Addr
	network string // "ip4" or "ip6": the only family a and mx look up
	sender  string
	local   string
	origin  string
	helo    string

	lookups int // DNS-querying terms evaluated
	voids   int // of which answered NXDOMAIN or empty

	ptrDone   bool
	ptrNames  []string // the first maxPTR PTR names of ip, without trailing dot
	ptrVoid   bool
	ptrErr    error
	validated map[string]bool // lower-case PTR name → resolves back to ip
}

// outcome is the result of check_host() for one domain.
type outcome struct {
	res  Result
	mech string
	exp  string
	err  error
}

func failed(err error) outcome { return outcome{res: errorResult(err), err: err} }

func newEvaluation(c *Checker, ip netip.Addr, sender, local, origin, helo string) *evaluation {
	r := c.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	e := &evaluation{
		r:          r,
		receiver:   c.Receiver,
		now:        c.Now,
		maxLookups: limit(c.MaxLookups, DefaultMaxLookups),
		maxVoids:   limit(c.MaxVoidLookups, DefaultMaxVoidLookups),
		maxMX:      limit(c.MaxMXNames, DefaultMaxMXNames),
		maxPTR:     limit(c.MaxPTRNames, DefaultMaxPTRNames),
		ip:         ip,
		network:    "ip6",
		sender:     sender,
		local:      local,
		origin:     origin,
		helo:       helo,
	}
	if ip.Is4() {
		e.network = "ip4"
	}
	return e
}

// checkHost is check_host() (§4) for domain, which is a valid name.
// wantExp asks for the explanation of a Fail: true at the top and through
// redirects, false inside include (§6.2).
func (e *evaluation) checkHost(ctx context.Context, domain string, wantExp bool) outcome {
	txt, found, err := e.fetchRecord(ctx, domain)
	if err != nil {
		return failed(err)
	}
	if !found {
		return outcome{res: None}
	}
	rec, err := parseRecord(txt)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Domain = domain
		}
		return failed(err)
	}

	for i := range rec.mechs {
		m := &rec.mechs[i]
		matched, err := e.match(ctx, m, domain)
		if err != nil {
			return failed(err)
		}
		if matched {
			o := outcome{res: m.qual, mech: m.term}
			if o.res == Fail && wantExp && rec.exp != "" {
				o.exp = e.explain(ctx, rec.exp, domain)
			}
			return o
		}
	}

	if rec.redirect == "" {
		return outcome{res: Neutral, mech: "default"} // §4.7
	}
	// §6.1: evaluate the target as if it were the domain; its exp=, not
	// ours, explains a Fail.
	if err := e.countLookup(); err != nil {
		return failed(err)
	}
	target, ok, err := e.target(ctx, rec.redirect, domain)
	if err != nil {
		return failed(err)
	}
	if !ok {
		return failed(wrapf(ErrNoRecord, "redirect target %s is not a valid domain name", quoteShort(target)))
	}
	o := e.checkHost(ctx, target, wantExp)
	if o.res == None {
		return failed(wrapf(ErrNoRecord, "redirect=%s", target))
	}
	return o
}

// fetchRecord returns the single SPF record of domain (§4.4, §4.5); found
// is false when there is none (NXDOMAIN, no TXT records, or no TXT record
// starting with "v=spf1").
func (e *evaluation) fetchRecord(ctx context.Context, domain string) (txt string, found bool, err error) {
	txts, _, err := e.lookupTXT(ctx, domain)
	if err != nil {
		return "", false, err
	}
	n := 0
	for _, t := range txts {
		if isSPF(t) {
			txt = t
			n++
		}
	}
	if n > 1 {
		return "", false, wrapf(ErrMultipleRecords, "%d records at %s", n, domain)
	}
	return txt, n == 1, nil
}

// countLookup counts a DNS-querying term (§4.6.4).
func (e *evaluation) countLookup() error {
	e.lookups++
	if e.lookups > e.maxLookups {
		return wrapf(ErrTooManyLookups, "more than %d", e.maxLookups)
	}
	return nil
}

// countVoid counts a lookup that found nothing (§4.6.4): a term's, or one
// of the address lookups of an mx term's hosts.
func (e *evaluation) countVoid() error {
	e.voids++
	if e.voids > e.maxVoids {
		return wrapf(ErrTooManyVoidLookups, "more than %d", e.maxVoids)
	}
	return nil
}

// match evaluates one mechanism (§5). An error ends the evaluation.
func (e *evaluation) match(ctx context.Context, m *mechanism, domain string) (bool, error) {
	switch m.kind {
	case kindAll:
		return true, nil
	case kindIP4, kindIP6:
		return m.prefix.Contains(e.ip), nil
	}

	if err := e.countLookup(); err != nil {
		return false, err
	}
	target, ok, err := e.target(ctx, m.spec, domain)
	if err != nil {
		return false, err
	}

	switch m.kind {
	case kindInclude:
		if !ok {
			return false, wrapf(ErrNoRecord, "include target %s is not a valid domain name", quoteShort(target))
		}
		o := e.checkHost(ctx, target, false)
		switch o.res {
		case Pass:
			return true, nil
		case TempError, PermError:
			return false, o.err
		case None:
			return false, wrapf(ErrNoRecord, "include:%s", target)
		}
		return false, nil // Fail, SoftFail, Neutral (§5.2)

	case kindA:
		if !ok {
			return false, nil
		}
		return e.matchAddrs(ctx, target, m)

	case kindMX:
		if !ok {
			return false, nil
		}
		mxs, void, err := e.lookupMX(ctx, target)
		if err != nil {
			return false, err
		}
		if void {
			return false, e.countVoid()
		}
		if len(mxs) > e.maxMX {
			return false, wrapf(ErrTooManyMX, "%d MX records at %s, at most %d allowed", len(mxs), target, e.maxMX)
		}
		for _, mx := range mxs {
			host, ok := queryName(mx.Host)
			if !ok {
				continue // null MX (RFC 7505) or an unusable name
			}
			matched, err := e.matchAddrs(ctx, host, m)
			if matched || err != nil {
				return matched, err
			}
		}
		return false, nil

	case kindPTR:
		names, void, err := e.reverse(ctx)
		if err != nil {
			return false, nil // §5.5: a DNS error means no match
		}
		if void {
			return false, e.countVoid()
		}
		if !ok {
			return false, nil
		}
		for _, name := range names {
			if !isSubdomain(name, target) {
				continue
			}
			valid, err := e.validate(ctx, name)
			if valid || err != nil {
				return valid, err
			}
		}
		return false, nil

	case kindExists:
		if !ok {
			return false, nil
		}
		// §5.7: the lookup type is A even for an IPv6 client.
		_, void, err := e.lookupIP(ctx, "ip4", target)
		if err != nil {
			return false, err
		}
		if void {
			return false, e.countVoid()
		}
		return true, nil
	}
	return false, nil
}

// matchAddrs looks up the addresses of name in the client's family only
// and compares them with the client under the mechanism's CIDR lengths
// (§5.3, §5.4). A lookup that finds nothing is a void lookup (§4.6.4),
// also for the MX hosts of an mx mechanism, as pyspf and Mail::SPF count
// them: an mx: naming ten hosts without addresses is not free.
func (e *evaluation) matchAddrs(ctx context.Context, name string, m *mechanism) (bool, error) {
	addrs, void, err := e.lookupIP(ctx, e.network, name)
	if err != nil {
		return false, err
	}
	if void {
		return false, e.countVoid()
	}
	bits := m.bits4
	if e.network == "ip6" {
		bits = m.bits6
	}
	for _, a := range addrs {
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true, nil
		}
	}
	return false, nil
}

// target expands a domain-spec into the name to query; an empty spec
// means the current domain. ok is false when the expansion is not a usable
// DNS name; name is then the expansion, for messages.
func (e *evaluation) target(ctx context.Context, spec, domain string) (name string, ok bool, err error) {
	if spec == "" {
		return domain, true, nil
	}
	expanded, _, err := expand(spec, modeDomain, e.macros(ctx, domain))
	if err != nil {
		return "", false, err
	}
	name, ok = queryName(expanded)
	if !ok {
		return expanded, false, nil
	}
	return name, true, nil
}

// macros returns the macro values for a record of domain.
func (e *evaluation) macros(ctx context.Context, domain string) *macroData {
	return &macroData{
		sender:   e.sender,
		local:    e.local,
		origin:   e.origin,
		domain:   domain,
		helo:     e.helo,
		ip:       e.ip,
		receiver: e.receiver,
		now:      e.now,
		ptr:      func() string { return e.validatedName(ctx, domain) },
	}
}

// explain fetches and expands the explanation of exp=spec (§6.2). Any
// problem (a malformed name, a DNS error, not exactly one TXT record,
// non-ASCII or invalid macro text) means no explanation. The lookup is
// not counted against the limits: there is at most one per check.
func (e *evaluation) explain(ctx context.Context, spec, domain string) string {
	name, ok, err := e.target(ctx, spec, domain)
	if err != nil || !ok {
		return ""
	}
	txts, _, err := e.lookupTXT(ctx, name)
	if err != nil || len(txts) != 1 {
		return ""
	}
	text, _, err := expand(txts[0], modeExplain, e.macros(ctx, domain))
	if err != nil {
		return ""
	}
	return printable(text)
}

// printable replaces the bytes of s that are not printable ASCII (which
// only macro values such as a local part can bring) with "?", so that an
// explanation is safe in an SMTP reply.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < ' ' || b[j] > '~' {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return s
}

// reverse returns the first maxPTR names the PTR lookup of the client
// gives, looked up once per check.
func (e *evaluation) reverse(ctx context.Context) (names []string, void bool, err error) {
	if !e.ptrDone {
		e.ptrDone = true
		names, void, err := e.lookupPTR(ctx, e.ip)
		if len(names) > e.maxPTR {
			names = names[:e.maxPTR] // §4.6.4: ignore the rest
		}
		for _, n := range names {
			e.ptrNames = append(e.ptrNames, strings.TrimSuffix(n, "."))
		}
		e.ptrVoid, e.ptrErr = void, err
	}
	return e.ptrNames, e.ptrVoid, e.ptrErr
}

// validate reports whether a PTR name resolves back to the client (§5.5).
// Errors make the name invalid, as the RFC says. A name without addresses
// is a void lookup, counted as pyspf counts it; the error is the limit's.
func (e *evaluation) validate(ctx context.Context, name string) (bool, error) {
	key := strings.ToLower(name)
	if v, ok := e.validated[key]; ok {
		return v, nil
	}
	valid := false
	if n, ok := queryName(name); ok {
		addrs, void, err := e.lookupIP(ctx, e.network, n)
		if void {
			// Counted as pyspf counts it; past the limit, a permerror.
			if err := e.countVoid(); err != nil {
				return false, err
			}
		}
		if err == nil {
			for _, a := range addrs {
				if a == e.ip {
					valid = true
					break
				}
			}
		}
	}
	if e.validated == nil {
		e.validated = make(map[string]bool)
	}
	e.validated[key] = valid
	return valid, nil
}

// valid is validate for the %{p} macro, whose expansion cannot fail: past
// the void limit a name is not valid.
func (e *evaluation) valid(ctx context.Context, name string) bool {
	v, err := e.validate(ctx, name)
	return v && err == nil
}

// validatedName is the %{p} macro (§7.3): a validated name of the client,
// preferring domain itself, then a subdomain of it, then any; "unknown" if
// there is none or the lookup fails.
func (e *evaluation) validatedName(ctx context.Context, domain string) string {
	names, _, err := e.reverse(ctx)
	if err != nil {
		return "unknown"
	}
	for _, name := range names {
		if strings.EqualFold(name, domain) && e.valid(ctx, name) {
			return name
		}
	}
	for _, name := range names {
		if isSubdomain(name, domain) && e.valid(ctx, name) {
			return name
		}
	}
	for _, name := range names {
		if e.valid(ctx, name) {
			return name
		}
	}
	return "unknown"
}
