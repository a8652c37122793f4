package dane

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/mx"
	"github.com/maildns/maildns/resolver"
)

// A Resolver answers lookups with their DNSSEC status; *resolver.Resolver
// is one.
type Resolver interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error)
}

// Status is what DANE requires of the connection to one MX host.
type Status int

const (
	// NotApplicable: the MX answer or the host's addresses are not
	// DNSSEC-validated (RFC 7672 §2.2.1, §2.2.2), or the TLSA answer is
	// insecure: DANE does not apply; opportunistic TLS.
	NotApplicable Status = iota
	// NoTLSA: a validated denial that the host has TLSA records:
	// opportunistic TLS.
	NoTLSA
	// UnusableOnly: validated TLSA records, none usable for SMTP: TLS is
	// mandatory, but the server is not authenticated (§3.1).
	UnusableOnly
	// Authenticated: usable TLSA records: TLS is mandatory and the
	// server's chain must match them (Verify, VerifyConnection).
	Authenticated
)

func (s Status) String() string {
	switch s {
	case NotApplicable:
		return "not applicable"
	case NoTLSA:
		return "no TLSA"
	case UnusableOnly:
		return "unusable TLSA only"
	case Authenticated:
		return "authenticated"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// A Policy is the DANE policy for one MX host.
type Policy struct {
	Status Status
	// Base is the TLSA base domain the records were found at: the host's
	// CNAME-expanded name if it has records there, else its name (§2.2.3).
	Base string
	// Records are the TLSA records at _25._tcp.Base (Authenticated and
	// UnusableOnly).
	Records []TLSA
	// Names are the reference identifiers DANE-TA checks the server's
	// certificate against: Base, the MX host name, the next-hop domain
	// (§3.2.3).
	Names []string
}

// ErrIndeterminate: the TLSA lookup failed (SERVFAIL, a bogus answer, a
// timeout), so whether DANE applies is not known. Defer (4.7.5): never a
// silent downgrade to unauthenticated TLS (RFC 7672 §2.2).
var ErrIndeterminate = errors.New("dane: TLSA lookup failed")

// HostPolicy returns the DANE policy for host h of plan, looking up its
// TLSA records with r. An error wraps ErrIndeterminate (and the lookup's
// error): temporary.
func HostPolicy(ctx context.Context, r Resolver, plan *mx.Plan, h mx.Host) (Policy, error) {
	if !plan.Authenticated || !h.Authenticated {
		return Policy{Status: NotApplicable}, nil
	}
	bases := []string{h.Name}
	if h.Canonical != "" && !strings.EqualFold(h.Canonical, h.Name) {
		bases = []string{h.Canonical, h.Name}
	}
	var p Policy
	for i, base := range bases {
		ans, err := r.Lookup(ctx, "_25._tcp."+base, dns.TypeTLSA)
		if err != nil {
			return Policy{}, fmt.Errorf("%w: _25._tcp.%s: %w", ErrIndeterminate, base, err)
		}
		if !ans.Authenticated {
			if i+1 < len(bases) {
				continue // the expanded name is not secure: the original
			}
			return Policy{Status: NotApplicable}, nil
		}
		var recs []TLSA
		for _, rr := range ans.Records {
			if t, ok := rr.(*dns.TLSA); ok {
				if rec, err := FromRR(t); err == nil {
					recs = append(recs, rec)
				}
			}
		}
		if len(recs) == 0 && i+1 < len(bases) {
			continue
		}
		p = Policy{Status: NoTLSA, Base: base, Records: recs}
		break
	}
	if len(p.Records) == 0 {
		p.Status = NoTLSA
		return p, nil
	}
	p.Status = UnusableOnly
	for _, rec := range p.Records {
		if rec.Usable() {
			p.Status = Authenticated
			break
		}
	}
	for _, n := range []string{p.Base, h.Name, plan.Domain} {
		if n != "" && !containsFold(p.Names, n) {
			p.Names = append(p.Names, n)
		}
	}
	return p, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
